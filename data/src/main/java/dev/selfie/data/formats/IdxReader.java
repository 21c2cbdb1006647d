package dev.selfie.data.formats;

import dev.selfie.data.BadDataException;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * The IDX format of MNIST and Fashion-MNIST (DESIGN.md section 2): a big-endian header (magic
 * {@code 0x00000803} for uint8 images {@code [N, rows, cols]}, {@code 0x00000801} for uint8
 * labels {@code [N]}; one int32 per dimension) followed by the row-major bytes. Files may be
 * gzip-compressed (detected by the gzip magic, not the name). Every read validates magic,
 * dimensions and exact length; errors name the file and what was expected.
 *
 * @see IdxWriter
 */
public final class IdxReader {
  private IdxReader() {}

  /** Magic number of a uint8 rank-3 IDX file (images). */
  public static final int IMAGES_MAGIC = 0x00000803;
  /** Magic number of a uint8 rank-1 IDX file (labels). */
  public static final int LABELS_MAGIC = 0x00000801;
  /** Header bytes of an image file: magic + 3 dimensions. */
  public static final int IMAGES_HEADER = 16;
  /** Header bytes of a label file: magic + 1 dimension. */
  public static final int LABELS_HEADER = 8;

  /**
   * Uint8 images.
   *
   * @param count N
   * @param rows image height
   * @param cols image width
   * @param pixels {@code [N, rows, cols]} row-major
   */
  public record Images(int count, int rows, int cols, byte[] pixels) {
    public Images {
      if ((long) count * rows * cols != pixels.length) {
        throw new IllegalArgumentException(
            "pixels has " + pixels.length + " bytes, expected " + count + "*" + rows + "*" + cols);
      }
    }
  }

  /** Header of an image file, validated against the whole (decompressed) file. */
  public record ImagesHeader(int count, int rows, int cols, boolean gzip) {}

  /** True if {@code file} starts with the gzip magic bytes. */
  public static boolean isGzip(Path file) throws IOException {
    try (InputStream in = Files.newInputStream(file)) {
      return in.read() == 0x1f && in.read() == 0x8b;
    } catch (NoSuchFileException e) {
      throw new NoSuchFileException(file + ": file not found");
    }
  }

  private static InputStream open(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new NoSuchFileException(file.toString(), null, "IDX file not found");
    }
    InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
    if (isGzip(file)) {
      try {
        return new GZIPInputStream(raw, 1 << 16);
      } catch (ZipException e) {
        raw.close();
        throw new BadDataException(file + ": corrupt gzip header: " + e.getMessage(), e);
      }
    }
    return raw;
  }

  private static int readInt(DataInputStream in, Path file, String what) throws IOException {
    try {
      return in.readInt();
    } catch (EOFException e) {
      throw new BadDataException(file + ": truncated IDX header (reading " + what + ")", e);
    }
  }

  private static BadDataException wrap(Path file, IOException e) {
    if (e instanceof BadDataException b) {
      return b;
    }
    return new BadDataException(file + ": corrupt gzip data: " + e.getMessage(), e);
  }

  /**
   * Reads and validates the header of an image file, then reads the whole file through (this
   * checks the gzip CRC and that the body has exactly {@code N*rows*cols} bytes).
   */
  public static ImagesHeader checkImages(Path file) throws IOException {
    boolean gz = isGzip(file);
    try (DataInputStream in = new DataInputStream(open(file))) {
      int[] h = imageHeader(in, file);
      long expected = (long) h[0] * h[1] * h[2];
      in.skipNBytes(expected);
      requireEnd(in, file, IMAGES_HEADER + expected);
      return new ImagesHeader(h[0], h[1], h[2], gz);
    } catch (EOFException e) {
      throw new BadDataException(file + ": truncated: fewer image bytes than the header's count", e);
    } catch (IOException e) {
      throw wrap(file, e);
    }
  }

  private static int[] imageHeader(DataInputStream in, Path file) throws IOException {
    int magic = readInt(in, file, "magic");
    if (magic != IMAGES_MAGIC) {
      throw new BadDataException(
          String.format(
              "%s: not an IDX image file: magic 0x%08x, expected 0x%08x", file, magic, IMAGES_MAGIC));
    }
    int n = readInt(in, file, "count");
    int rows = readInt(in, file, "rows");
    int cols = readInt(in, file, "cols");
    if (n < 0 || rows <= 0 || cols <= 0) {
      throw new BadDataException(
          file + ": bad IDX dimensions " + n + "x" + rows + "x" + cols + " (expected positive)");
    }
    return new int[] {n, rows, cols};
  }

  private static void requireEnd(InputStream in, Path file, long expectedTotal) throws IOException {
    if (in.read() != -1) {
      throw new BadDataException(
          file + ": trailing data: the header describes " + expectedTotal + " bytes but the file is longer");
    }
  }

  /** Reads a whole image file into memory, validated. */
  public static Images readImages(Path file) throws IOException {
    try (DataInputStream in = new DataInputStream(open(file))) {
      int[] h = imageHeader(in, file);
      long size = (long) h[0] * h[1] * h[2];
      if (size > Integer.MAX_VALUE - 16) {
        throw new BadDataException(file + ": too large to read into memory: " + size + " bytes");
      }
      byte[] px = new byte[(int) size];
      in.readFully(px);
      requireEnd(in, file, IMAGES_HEADER + size);
      return new Images(h[0], h[1], h[2], px);
    } catch (EOFException e) {
      throw new BadDataException(file + ": truncated: fewer image bytes than the header's count", e);
    } catch (IOException e) {
      throw wrap(file, e);
    }
  }

  /** Reads a whole label file, validated (magic, exact length). */
  public static byte[] readLabels(Path file) throws IOException {
    try (DataInputStream in = new DataInputStream(open(file))) {
      int magic = readInt(in, file, "magic");
      if (magic != LABELS_MAGIC) {
        throw new BadDataException(
            String.format(
                "%s: not an IDX label file: magic 0x%08x, expected 0x%08x", file, magic, LABELS_MAGIC));
      }
      int n = readInt(in, file, "count");
      if (n < 0) {
        throw new BadDataException(file + ": negative label count " + n);
      }
      byte[] labels = new byte[n];
      in.readFully(labels);
      requireEnd(in, file, LABELS_HEADER + (long) n);
      return labels;
    } catch (EOFException e) {
      throw new BadDataException(file + ": truncated: fewer labels than the header's count", e);
    } catch (IOException e) {
      throw wrap(file, e);
    }
  }
}
