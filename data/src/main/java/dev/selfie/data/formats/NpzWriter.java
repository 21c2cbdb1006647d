package dev.selfie.data.formats;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Writes npz files byte-compatible with {@code numpy.savez} (stored entries) or {@code
 * savez_compressed} (deflated): NPY format 1.0 headers padded to a multiple of 64 bytes. Used by
 * tests to produce ImageNet 32x32 batches ({@code data} |u1 [N, 3072], {@code labels} {@code <i8} [N]).
 */
public final class NpzWriter {
  private NpzWriter() {}

  /** An array to write: dtype string ({@code |u1}, {@code <i8}), shape and raw little-endian bytes. */
  public record Array(String descr, long[] shape, byte[] data) {}

  public static Array uint8(byte[] data, long... shape) {
    return new Array("|u1", shape, data);
  }

  public static Array int64(long[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    for (long v : values) {
      b.putLong(v);
    }
    return new Array("<i8", new long[] {values.length}, b.array());
  }

  /** Writes the arrays (key -> array, in order) to {@code file}. */
  public static void write(Path file, Map<String, Array> arrays, boolean compressed) throws IOException {
    try (OutputStream os = Files.newOutputStream(file); ZipOutputStream zip = new ZipOutputStream(os)) {
      for (Map.Entry<String, Array> a : arrays.entrySet()) {
        byte[] npy = npy(a.getValue());
        ZipEntry e = new ZipEntry(a.getKey() + ".npy");
        if (compressed) {
          e.setMethod(ZipEntry.DEFLATED);
        } else {
          CRC32 crc = new CRC32();
          crc.update(npy);
          e.setMethod(ZipEntry.STORED);
          e.setSize(npy.length);
          e.setCompressedSize(npy.length);
          e.setCrc(crc.getValue());
        }
        zip.putNextEntry(e);
        zip.write(npy);
        zip.closeEntry();
      }
    }
  }

  /** One array in NPY format 1.0. */
  public static byte[] npy(Array a) throws IOException {
    StringBuilder shape = new StringBuilder("(");
    for (int i = 0; i < a.shape().length; i++) {
      shape.append(a.shape()[i]).append(a.shape().length == 1 ? "," : (i + 1 < a.shape().length ? ", " : ""));
    }
    shape.append(")");
    String dict = "{'descr': '" + a.descr() + "', 'fortran_order': False, 'shape': " + shape + ", }";
    int total = 10 + dict.length() + 1;
    int pad = (64 - total % 64) % 64;
    String header = dict + " ".repeat(pad) + "\n";
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0});
    out.write(header.length() & 0xff);
    out.write(header.length() >> 8);
    out.write(header.getBytes(StandardCharsets.ISO_8859_1));
    out.write(a.data());
    return out.toByteArray();
  }
}
