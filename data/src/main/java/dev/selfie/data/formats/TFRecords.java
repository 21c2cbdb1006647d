package dev.selfie.data.formats;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.selfie.data.BadDataException;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32C;
import org.tensorflow.proto.BytesList;
import org.tensorflow.proto.Example;
import org.tensorflow.proto.Feature;
import org.tensorflow.proto.Features;
import org.tensorflow.proto.Int64List;

/**
 * TFRecord files in plain Java: each record is {@code uint64 length, uint32 masked_crc32c(length),
 * byte data[length], uint32 masked_crc32c(data)} (little-endian; mask = {@code ((crc >>> 15) |
 * (crc << 17)) + 0xa282ead8}). A writer (tests, tools) and a verifying reader; the ImageNet
 * Example helpers use the bundled {@code org.tensorflow.proto} classes.
 */
public final class TFRecords {
  private TFRecords() {}

  /** Feature keys of the usual ImageNet-to-TFRecord scripts. */
  public static final String IMAGE_KEY = "image/encoded";
  public static final String LABEL_KEY = "image/class/label";

  /** The masked CRC-32C of TFRecord framing. */
  public static int maskedCrc(byte[] data, int off, int len) {
    CRC32C c = new CRC32C();
    c.update(data, off, len);
    int crc = (int) c.getValue();
    return ((crc >>> 15) | (crc << 17)) + 0xa282ead8;
  }

  /** Writes records to a file. */
  public static final class Writer implements Closeable {
    private final OutputStream out;

    public Writer(Path file) throws IOException {
      out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 16);
    }

    public void write(byte[] record) throws IOException {
      ByteBuffer h = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
      h.putLong(record.length);
      h.putInt(maskedCrc(h.array(), 0, 8));
      out.write(h.array());
      out.write(record);
      ByteBuffer f = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
      f.putInt(maskedCrc(record, 0, record.length));
      out.write(f.array());
    }

    @Override
    public void close() throws IOException {
      out.close();
    }
  }

  /** Receives the records of a file in order. */
  @FunctionalInterface
  public interface Visitor {
    void record(int ordinal, long offset, byte[] data) throws IOException;
  }

  /**
   * Reads every record of {@code file}, checking both CRCs.
   *
   * @return the number of records
   * @throws BadDataException naming the file, record and byte offset on a CRC mismatch or a
   *     truncated record
   */
  public static int read(Path file, Visitor v) throws IOException {
    long offset = 0;
    int n = 0;
    try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
      DataInputStream in = new DataInputStream(raw);
      byte[] header = new byte[12];
      while (true) {
        int r = in.readNBytes(header, 0, 12);
        if (r == 0) {
          return n;
        }
        if (r < 12) {
          throw new BadDataException(file + ": record " + n + " at byte " + offset + " is truncated (" + r + " of 12 header bytes)");
        }
        ByteBuffer h = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
        long len = h.getLong(0);
        if (h.getInt(8) != maskedCrc(header, 0, 8)) {
          throw new BadDataException(file + ": record " + n + " at byte " + offset + ": length CRC mismatch (corrupt TFRecord file)");
        }
        if (len < 0 || len > Integer.MAX_VALUE - 16) {
          throw new BadDataException(file + ": record " + n + " at byte " + offset + " has implausible length " + len);
        }
        byte[] data = new byte[(int) len];
        byte[] crc = new byte[4];
        try {
          in.readFully(data);
          in.readFully(crc);
        } catch (EOFException e) {
          throw new BadDataException(file + ": record " + n + " at byte " + offset + " is truncated (file ends inside it)", e);
        }
        if (ByteBuffer.wrap(crc).order(ByteOrder.LITTLE_ENDIAN).getInt() != maskedCrc(data, 0, data.length)) {
          throw new BadDataException(file + ": record " + n + " at byte " + offset + ": data CRC mismatch (corrupt TFRecord file)");
        }
        v.record(n, offset, data);
        offset += 16 + len;
        n++;
      }
    }
  }

  /** A serialized tf.train.Example with {@code image/encoded} and {@code image/class/label}. */
  public static byte[] imageExample(byte[] encoded, long label) {
    return Example.newBuilder()
        .setFeatures(Features.newBuilder()
            .putFeature(IMAGE_KEY, Feature.newBuilder().setBytesList(BytesList.newBuilder().addValue(ByteString.copyFrom(encoded))).build())
            .putFeature(LABEL_KEY, Feature.newBuilder().setInt64List(Int64List.newBuilder().addValue(label)).build())
            .putFeature("image/format", Feature.newBuilder().setBytesList(BytesList.newBuilder().addValue(ByteString.copyFromUtf8("JPEG"))).build()))
        .build()
        .toByteArray();
  }

  /** The image bytes and label of a serialized Example (null fields when absent). */
  public record ImageRecord(byte[] encoded, Long label) {}

  /** Parses an Example's image and label; BadDataException if it is not an Example. */
  public static ImageRecord parseImageExample(byte[] data, String where) throws BadDataException {
    Example ex;
    try {
      ex = Example.parseFrom(data);
    } catch (InvalidProtocolBufferException e) {
      throw new BadDataException(where + ": not a tf.train.Example (" + e.getMessage() + ")", e);
    }
    java.util.Map<String, Feature> f = ex.getFeatures().getFeatureMap();
    byte[] img = null;
    Feature fi = f.get(IMAGE_KEY);
    if (fi != null && fi.hasBytesList() && fi.getBytesList().getValueCount() == 1) {
      img = fi.getBytesList().getValue(0).toByteArray();
    }
    Long label = null;
    Feature fl = f.get(LABEL_KEY);
    if (fl != null && fl.hasInt64List() && fl.getInt64List().getValueCount() == 1) {
      label = fl.getInt64List().getValue(0);
    }
    return new ImageRecord(img, label);
  }
}
