package dev.selfie.savedmodels;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.proto.BundleEntryProto;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.TensorShapeProto;

/**
 * The variable names, dtypes and shapes of a TensorFlow V2 checkpoint, read from its
 * {@code <prefix>.index} file without loading any data.
 *
 * <p>The index is a LevelDB-format sorted table (TensorFlow's {@code core/lib/io/table}): data
 * blocks of prefix-compressed key/value entries, an index block pointing to them, and a 48-byte
 * footer ending in a magic number. Key {@code ""} holds the {@code BundleHeaderProto}; every other
 * key is a tensor name whose value is a {@code BundleEntryProto} (dtype, shape, shard, offset).
 * TensorFlow writes the index uncompressed; a compressed block is rejected with a clear error.
 * TensorFlow Java does not expose its checkpoint reader, hence this small reader.
 */
public final class CheckpointIndex {

  /** One tensor of a checkpoint. */
  public record Entry(String name, DataType dtype, Shape shape) {}

  private static final long TABLE_MAGIC = 0xdb4775248b80fb57L;
  private static final int FOOTER_LENGTH = 48;
  private static final int BLOCK_TRAILER = 5;

  private CheckpointIndex() {}

  /**
   * Reads the entries of {@code <prefix>.index}, sorted by name.
   *
   * @throws IOException if the file is missing or not a TensorFlow checkpoint index (the message
   *     names the file and what was wrong)
   */
  public static Map<String, Entry> read(Path prefix) throws IOException {
    Path index = Path.of(prefix + ".index");
    if (!Files.isRegularFile(index)) {
      throw new IOException("checkpoint index " + index + " not found");
    }
    byte[] file = Files.readAllBytes(index);
    try {
      return parse(file);
    } catch (IOException | RuntimeException e) {
      throw new IOException(
          "cannot read checkpoint index " + index + ": " + e.getMessage(), e);
    }
  }

  private static Map<String, Entry> parse(byte[] file) throws IOException {
    if (file.length < FOOTER_LENGTH) {
      throw new IOException("file too short for a table footer (" + file.length + " bytes)");
    }
    ByteBuffer footer =
        ByteBuffer.wrap(file, file.length - FOOTER_LENGTH, FOOTER_LENGTH)
            .slice()
            .order(ByteOrder.LITTLE_ENDIAN);
    if (footer.getLong(FOOTER_LENGTH - 8) != TABLE_MAGIC) {
      throw new IOException("bad table magic number: not a TensorFlow V2 checkpoint index");
    }
    footer.position(0);
    readVarint(footer); // metaindex offset
    readVarint(footer); // metaindex size
    long indexOffset = readVarint(footer);
    long indexSize = readVarint(footer);
    Map<String, Entry> out = new LinkedHashMap<>();
    for (byte[][] kv : blockEntries(file, indexOffset, indexSize)) {
      ByteBuffer handle = ByteBuffer.wrap(kv[1]);
      long off = readVarint(handle);
      long size = readVarint(handle);
      for (byte[][] e : blockEntries(file, off, size)) {
        String name = new String(e[0], java.nio.charset.StandardCharsets.UTF_8);
        if (name.isEmpty()) {
          continue; // BundleHeaderProto
        }
        BundleEntryProto p = BundleEntryProto.parseFrom(e[1]);
        out.put(name, new Entry(name, p.getDtype(), shapeOf(p.getShape())));
      }
    }
    return Collections.unmodifiableMap(out);
  }

  private static Shape shapeOf(TensorShapeProto s) {
    if (s.getUnknownRank()) {
      return Shape.unknown();
    }
    long[] dims = new long[s.getDimCount()];
    for (int i = 0; i < dims.length; i++) {
      dims[i] = s.getDim(i).getSize();
    }
    return dims.length == 0 ? Shape.scalar() : Shape.of(dims);
  }

  /** The key/value entries of the block at {@code offset} (size without trailer). */
  private static java.util.List<byte[][]> blockEntries(byte[] file, long offset, long size)
      throws IOException {
    if (offset < 0 || size < 4 || offset + size + BLOCK_TRAILER > file.length) {
      throw new IOException("block handle [" + offset + ", +" + size + ") outside the file");
    }
    int type = file[(int) (offset + size)];
    if (type != 0) {
      throw new IOException("compressed table block (type " + type + ") is not supported");
    }
    ByteBuffer b =
        ByteBuffer.wrap(file, (int) offset, (int) size).slice().order(ByteOrder.LITTLE_ENDIAN);
    int numRestarts = b.getInt((int) size - 4);
    int limit = (int) size - 4 * (numRestarts + 1);
    if (numRestarts < 0 || limit < 0) {
      throw new IOException("corrupt block: " + numRestarts + " restart points");
    }
    java.util.List<byte[][]> out = new java.util.ArrayList<>();
    byte[] key = new byte[0];
    b.position(0);
    while (b.position() < limit) {
      int shared = (int) readVarint(b);
      int nonShared = (int) readVarint(b);
      int valueLength = (int) readVarint(b);
      if (shared > key.length || b.position() + nonShared + valueLength > limit) {
        throw new IOException("corrupt block entry at " + (offset + b.position()));
      }
      byte[] k = Arrays.copyOf(key, shared + nonShared);
      b.get(k, shared, nonShared);
      byte[] v = new byte[valueLength];
      b.get(v);
      out.add(new byte[][] {k, v});
      key = k;
    }
    return out;
  }

  private static long readVarint(ByteBuffer b) throws IOException {
    long result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!b.hasRemaining()) {
        throw new IOException("truncated varint");
      }
      int x = b.get() & 0xff;
      result |= (long) (x & 0x7f) << shift;
      if ((x & 0x80) == 0) {
        return result;
      }
    }
    throw new IOException("varint too long");
  }
}
