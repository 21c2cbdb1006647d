package dev.selfie.data;

import java.nio.ByteBuffer;
import java.util.zip.CRC32;

/**
 * Cheap structural checks of encoded images, done in Java when a dataset is opened so that files
 * TensorFlow could not decode are skipped (and counted) before training, never failing mid-epoch.
 * Not a decoder: JPEG must start with SOI {@code FF D8 FF}, have well-formed marker segments up to
 * the start of scan with a frame header before it, and end with EOI {@code FF D9} (trailing zero
 * padding allowed), so truncated files and broken headers are caught (corrupt entropy-coded data is
 * not: libjpeg decodes it with a warning, and anything TensorFlow still cannot decode is dropped by
 * the pipeline); PNG must have its signature and a complete
 * chunk sequence up to {@code IEND} with every chunk CRC correct; GIF and BMP (which TensorFlow's
 * DecodeImage also reads) are checked by signature only.
 */
public final class ImageChecks {
  private ImageChecks() {}

  private static final byte[] PNG = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

  /** True if {@code b} starts with the JPEG start-of-image marker. */
  public static boolean isJpeg(byte[] b) {
    return b.length >= 3 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xD8 && (b[2] & 0xff) == 0xFF;
  }

  /** Null if {@code b} looks like a complete JPEG/PNG/GIF/BMP, else why not (for the warning). */
  public static String problem(byte[] b) {
    if (b.length == 0) {
      return "empty file";
    }
    if (b.length >= 3 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xD8 && (b[2] & 0xff) == 0xFF) {
      int end = b.length;
      while (end > 2 && b[end - 1] == 0) {
        end--;
      }
      if (end < 4 || (b[end - 2] & 0xff) != 0xFF || (b[end - 1] & 0xff) != 0xD9) {
        return "truncated JPEG (no end-of-image marker)";
      }
      return jpegHeaderProblem(b, b.length, true);
    }
    if (startsWith(b, PNG)) {
      return pngProblem(b);
    }
    if (b.length >= 6 && b[0] == 'G' && b[1] == 'I' && b[2] == 'F' && b[3] == '8') {
      return null;
    }
    if (b.length >= 26 && b[0] == 'B' && b[1] == 'M') {
      return null;
    }
    return "not a JPEG or PNG image";
  }

  /**
   * Walks the JPEG marker segments from SOI to the first SOS (start of scan) within the first
   * {@code limit} bytes: every segment needs a valid marker and length, and a frame header (SOF)
   * must come before the scan. Null if fine, or if the headers run past {@code limit} and {@code
   * b} is not the {@code complete} file.
   */
  static String jpegHeaderProblem(byte[] b, int limit, boolean complete) {
    int pos = 2;
    boolean frame = false;
    while (pos + 4 <= limit) {
      if ((b[pos] & 0xff) != 0xFF) {
        return "corrupt JPEG (no marker at byte " + pos + ")";
      }
      int marker = b[pos + 1] & 0xff;
      if (marker == 0xFF) {
        pos++; // fill byte
        continue;
      }
      if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
        pos += 2; // standalone markers
        continue;
      }
      if (marker == 0xD8 || marker == 0xD9 || marker == 0x00) {
        return "corrupt JPEG (unexpected marker 0x" + Integer.toHexString(marker) + " in the headers)";
      }
      int len = ((b[pos + 2] & 0xff) << 8) | (b[pos + 3] & 0xff);
      if (len < 2) {
        return "corrupt JPEG (segment 0x" + Integer.toHexString(marker) + " has length " + len + ")";
      }
      if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
        frame = true;
      }
      if (marker == 0xDA) {
        return frame ? null : "corrupt JPEG (scan before any frame header)";
      }
      pos += 2 + len;
    }
    return complete ? "corrupt JPEG (no image data)" : null;
  }

  private static String pngProblem(byte[] b) {
    ByteBuffer buf = ByteBuffer.wrap(b);
    int pos = PNG.length;
    boolean first = true;
    while (true) {
      if (pos + 12 > b.length) {
        return "truncated PNG (ends before IEND)";
      }
      long len = buf.getInt(pos) & 0xffffffffL;
      if (pos + 12 + len > b.length) {
        return "truncated PNG (a chunk runs past the end)";
      }
      String type = new String(b, pos + 4, 4, java.nio.charset.StandardCharsets.ISO_8859_1);
      if (first && !type.equals("IHDR")) {
        return "corrupt PNG (first chunk is not IHDR)";
      }
      first = false;
      CRC32 crc = new CRC32();
      crc.update(b, pos + 4, (int) (4 + len));
      if ((int) crc.getValue() != buf.getInt(pos + 8 + (int) len)) {
        return "corrupt PNG (bad CRC in chunk " + type + ")";
      }
      pos += 12 + (int) len;
      if (type.equals("IEND")) {
        return null;
      }
    }
  }

  private static boolean startsWith(byte[] b, byte[] prefix) {
    if (b.length < prefix.length) {
      return false;
    }
    for (int i = 0; i < prefix.length; i++) {
      if (b[i] != prefix[i]) {
        return false;
      }
    }
    return true;
  }

  /** Largest file checked (and trained on): bigger files are skipped as "too large". */
  public static final long MAX_FILE_BYTES = 256L << 20;

  /** Bytes of a large JPEG read to walk its headers. */
  private static final int HEAD = 256 << 10;

  /**
   * {@link #problem(byte[])} for a file, reading only what the check needs (JPEG: the first and
   * last bytes; PNG: everything); null if usable.
   */
  public static String problem(java.nio.file.Path file) {
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.READ)) {
      long size = ch.size();
      if (size == 0) {
        return "empty file";
      }
      if (size > MAX_FILE_BYTES) {
        return "too large (over " + (MAX_FILE_BYTES >> 20) + " MB)";
      }
      ByteBuffer head = ByteBuffer.allocate((int) Math.min(size, 32));
      ch.read(head, 0);
      byte[] h = head.array();
      boolean jpeg = h.length >= 3 && (h[0] & 0xff) == 0xFF && (h[1] & 0xff) == 0xD8 && (h[2] & 0xff) == 0xFF;
      if (jpeg && size > HEAD + 4096) {
        ByteBuffer tail = ByteBuffer.allocate(4096);
        ch.read(tail, size - 4096);
        byte[] t = tail.array();
        int end = t.length;
        while (end > 2 && t[end - 1] == 0) {
          end--;
        }
        if ((t[end - 2] & 0xff) != 0xFF || (t[end - 1] & 0xff) != 0xD9) {
          return "truncated JPEG (no end-of-image marker)";
        }
        ByteBuffer headBuf = ByteBuffer.allocate(HEAD);
        ch.read(headBuf, 0);
        return jpegHeaderProblem(headBuf.array(), HEAD, false);
      }
      return problem(java.nio.file.Files.readAllBytes(file));
    } catch (java.io.IOException | RuntimeException e) {
      return "unreadable (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")";
    }
  }
}
