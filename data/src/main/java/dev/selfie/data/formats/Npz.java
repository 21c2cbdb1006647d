package dev.selfie.data.formats;

import dev.selfie.data.BadDataException;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.commons.compress.archivers.zip.ZipArchiveEntry;
import org.apache.commons.compress.archivers.zip.ZipFile;

/**
 * A small strict reader of NumPy {@code .npz} files (a zip of {@code .npy} arrays, as written by
 * {@code numpy.savez} / {@code savez_compressed}), using commons-compress for the zip. Supports
 * C-order arrays of the fixed-size numeric dtypes ({@code |u1 <i8 <i4 ...}); NPY format versions
 * 1, 2 and 3. No maintained Java library reads npz with zip offsets (needed to stream a stored
 * array in-graph without copying it), hence this reader.
 */
public final class Npz {
  private Npz() {}

  private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
  private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
  private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
  private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

  /**
   * One array of an npz file.
   *
   * @param name key (the entry name without {@code .npy})
   * @param descr NumPy dtype string, e.g. {@code |u1}, {@code <i8}
   * @param shape dimensions (C order)
   * @param dataOffset for an uncompressed (stored) entry: the byte offset of the array's first
   *     element in the npz file; -1 for a compressed entry
   */
  public record Array(String name, String descr, long[] shape, long dataOffset) {
    /** Number of elements. */
    public long count() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }

    /** Bytes per element. */
    public int itemSize() {
      return Integer.parseInt(descr.substring(2));
    }

    /** Bytes of the data. */
    public long dataBytes() {
      return count() * itemSize();
    }

    public boolean stored() {
      return dataOffset >= 0;
    }
  }

  /**
   * Lists the arrays of {@code file}, validating the zip structure, each npy header and each
   * entry's size against its header.
   *
   * @throws BadDataException naming the file if it is not an npz (truncated, corrupt, bad header)
   */
  public static Map<String, Array> list(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new NoSuchFileException(file.toString(), null, "npz file not found");
    }
    Map<String, Array> out = new LinkedHashMap<>();
    try (ZipFile zip = open(file)) {
      for (ZipArchiveEntry e : Collections.list(zip.getEntries())) {
        if (e.isDirectory() || !e.getName().endsWith(".npy")) {
          continue;
        }
        String name = e.getName().substring(0, e.getName().length() - 4);
        Header h;
        try (InputStream in = zip.getInputStream(e)) {
          h = readHeader(new DataInputStream(in), file + " entry " + e.getName());
        }
        long expected = h.headerBytes + h.count() * h.itemSize;
        if (e.getSize() >= 0 && e.getSize() != expected) {
          throw new BadDataException(file + ": entry " + e.getName() + " holds " + e.getSize() + " bytes but its header ("
              + h.descr + ", shape " + Arrays.toString(h.shape) + ") needs " + expected + ": truncated or corrupt npz");
        }
        long offset = -1;
        if (e.getMethod() == ZipArchiveEntry.STORED) {
          offset = e.getDataOffset() + h.headerBytes;
          if (offset + h.count() * h.itemSize > Files.size(file)) {
            throw new BadDataException(file + ": entry " + e.getName() + " extends past the end of the file: truncated npz");
          }
        }
        out.put(name, new Array(name, h.descr, h.shape, offset));
      }
    }
    if (out.isEmpty()) {
      throw new BadDataException(file + ": zip holds no .npy arrays: not an npz file");
    }
    return out;
  }

  /** Reads an integer array ({@code |u1 <u2 <i2 <i4 <u4 <i8 <u8}, also big-endian) into longs. */
  public static long[] readIntegers(Path file, String name) throws IOException {
    try (ZipFile zip = open(file)) {
      ZipArchiveEntry e = entry(zip, file, name);
      try (InputStream raw = zip.getInputStream(e)) {
        DataInputStream in = new DataInputStream(raw);
        Header h = readHeader(in, file + " entry " + e.getName());
        char kind = h.descr.charAt(1);
        if (kind != 'i' && kind != 'u') {
          throw new BadDataException(file + ": array '" + name + "' has dtype " + h.descr + ", expected an integer type");
        }
        long n = h.count();
        if (n > Integer.MAX_VALUE) {
          throw new BadDataException(file + ": array '" + name + "' has " + n + " elements, too many to read");
        }
        byte[] bytes = new byte[(int) n * h.itemSize];
        in.readFully(bytes);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(h.descr.charAt(0) == '>' ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
        long[] out = new long[(int) n];
        for (int i = 0; i < n; i++) {
          out[i] = switch (h.itemSize) {
            case 1 -> kind == 'u' ? b.get() & 0xffL : b.get();
            case 2 -> kind == 'u' ? b.getShort() & 0xffffL : b.getShort();
            case 4 -> kind == 'u' ? b.getInt() & 0xffffffffL : b.getInt();
            case 8 -> b.getLong();
            default -> throw new BadDataException(file + ": unsupported integer size " + h.itemSize);
          };
        }
        return out;
      } catch (EOFException ex) {
        throw new BadDataException(file + ": array '" + name + "' ends early: truncated npz", ex);
      }
    }
  }

  /** Copies the raw data bytes (no header) of array {@code name} to {@code out}; checks the zip CRC. */
  public static void copyData(Path file, String name, OutputStream out) throws IOException {
    try (ZipFile zip = open(file)) {
      ZipArchiveEntry e = entry(zip, file, name);
      try (InputStream raw = zip.getInputStream(e)) {
        DataInputStream in = new DataInputStream(raw);
        Header h = readHeader(in, file + " entry " + e.getName());
        long left = h.count() * h.itemSize;
        byte[] buf = new byte[1 << 16];
        while (left > 0) {
          int r = in.read(buf, 0, (int) Math.min(buf.length, left));
          if (r < 0) {
            throw new BadDataException(file + ": array '" + name + "' ends " + left + " bytes early: truncated npz");
          }
          out.write(buf, 0, r);
          left -= r;
        }
        while (in.read(buf) >= 0) {
          // drain to the end so the zip CRC is checked
        }
      }
    } catch (java.util.zip.ZipException ex) {
      throw new BadDataException(file + ": corrupt npz entry '" + name + "': " + ex.getMessage(), ex);
    }
  }

  private static ZipArchiveEntry entry(ZipFile zip, Path file, String name) throws IOException {
    ZipArchiveEntry e = zip.getEntry(name + ".npy");
    if (e == null) {
      throw new BadDataException(file + ": no array '" + name + "' (expected entry " + name + ".npy)");
    }
    return e;
  }

  private static ZipFile open(Path file) throws IOException {
    try {
      return ZipFile.builder().setPath(file).get();
    } catch (IOException e) {
      throw new BadDataException(file + ": not a readable npz (zip) file, truncated or corrupt (" + e.getMessage() + ")", e);
    }
  }

  private record Header(String descr, long[] shape, int itemSize, int headerBytes) {
    long count() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }
  }

  private static Header readHeader(DataInputStream in, String what) throws IOException {
    try {
      byte[] magic = new byte[6];
      in.readFully(magic);
      if (!Arrays.equals(magic, MAGIC)) {
        throw new BadDataException(what + ": not an npy array (bad magic)");
      }
      int major = in.readUnsignedByte();
      in.readUnsignedByte();
      int len;
      int prefix;
      if (major == 1) {
        len = in.readUnsignedByte() | (in.readUnsignedByte() << 8);
        prefix = 10;
      } else if (major == 2 || major == 3) {
        len = Integer.reverseBytes(in.readInt());
        prefix = 12;
      } else {
        throw new BadDataException(what + ": unsupported npy format version " + major);
      }
      if (len < 0 || len > 1 << 20) {
        throw new BadDataException(what + ": npy header length " + len + " is not plausible");
      }
      byte[] text = new byte[len];
      in.readFully(text);
      String dict = new String(text, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
      Matcher d = DESCR.matcher(dict);
      Matcher f = FORTRAN.matcher(dict);
      Matcher s = SHAPE.matcher(dict);
      if (!d.find() || !f.find() || !s.find()) {
        throw new BadDataException(what + ": npy header is not a dict with descr, fortran_order, shape: " + dict.strip());
      }
      String descr = d.group(1);
      if (!descr.matches("[<>|=][iuf][1248]")) {
        throw new BadDataException(what + ": unsupported dtype " + descr + " (expected a fixed-size number type)");
      }
      if (descr.charAt(0) == '=') {
        descr = "<" + descr.substring(1);
      }
      if (f.group(1).equals("True")) {
        throw new BadDataException(what + ": Fortran-order arrays are not supported");
      }
      String[] dims = s.group(1).split(",");
      long[] shape = Arrays.stream(dims).map(String::strip).filter(x -> !x.isEmpty()).mapToLong(Long::parseLong).toArray();
      return new Header(descr, shape, Integer.parseInt(descr.substring(2)), prefix + len);
    } catch (EOFException e) {
      throw new BadDataException(what + ": npy header ends early: truncated", e);
    } catch (NumberFormatException e) {
      throw new BadDataException(what + ": bad shape in npy header", e);
    }
  }
}
