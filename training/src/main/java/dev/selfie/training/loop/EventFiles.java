package dev.selfie.training.loop;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.tensorflow.proto.Event;
import org.tensorflow.proto.Summary;

/** Reads TensorBoard events files (TFRecord framing of {@code Event} protos) back. */
public final class EventFiles {
  private EventFiles() {}

  /** One scalar summary value. */
  public record Scalar(long step, String tag, float value) {}

  /** Every scalar ({@code simple_value}) in the events files of {@code dir}, file by file. */
  public static List<Scalar> scalars(Path dir) {
    List<Scalar> out = new ArrayList<>();
    for (Event e : events(dir)) {
      if (e.hasSummary()) {
        for (Summary.Value v : e.getSummary().getValueList()) {
          if (v.hasSimpleValue()) {
            out.add(new Scalar(e.getStep(), v.getTag(), v.getSimpleValue()));
          }
        }
      }
    }
    return out;
  }

  /** All events of the {@code events.out.tfevents.*} files in {@code dir}, sorted by file name. */
  public static List<Event> events(Path dir) {
    List<Event> out = new ArrayList<>();
    try (Stream<Path> s = Files.list(dir)) {
      for (Path f : s.filter(p -> p.getFileName().toString().startsWith("events.out.tfevents"))
          .sorted().toList()) {
        out.addAll(read(f));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list events files in " + dir, e);
    }
    return out;
  }

  /** The events of one file; checks the record CRCs; a truncated last record ends the list. */
  public static List<Event> read(Path file) {
    List<Event> out = new ArrayList<>();
    try (InputStream in = Files.newInputStream(file);
        DataInputStream d = new DataInputStream(in)) {
      while (true) {
        byte[] header = new byte[12];
        try {
          d.readFully(header);
        } catch (EOFException eof) {
          break;
        }
        ByteBuffer hb = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
        long len = hb.getLong(0);
        int lenCrc = hb.getInt(8);
        if (masked(header, 0, 8) != lenCrc) {
          throw new IOException("bad length CRC in " + file + " after " + out.size() + " events");
        }
        byte[] data = new byte[Math.toIntExact(len)];
        byte[] crc = new byte[4];
        try {
          d.readFully(data);
          d.readFully(crc);
        } catch (EOFException eof) {
          break; // a record still being written
        }
        if (masked(data, 0, data.length)
            != ByteBuffer.wrap(crc).order(ByteOrder.LITTLE_ENDIAN).getInt()) {
          throw new IOException("bad data CRC in " + file + " after " + out.size() + " events");
        }
        out.add(Event.parseFrom(data));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read events file " + file + ": " + e.getMessage(), e);
    }
    return out;
  }

  private static int masked(byte[] b, int off, int len) {
    CRC32C c = new CRC32C();
    c.update(b, off, len);
    int crc = (int) c.getValue();
    return ((crc >>> 15) | (crc << 17)) + 0xa282ead8;
  }
}
