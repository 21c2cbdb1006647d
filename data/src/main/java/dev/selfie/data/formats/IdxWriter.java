package dev.selfie.data.formats;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

/** Writes IDX files (see {@link IdxReader}); gzip-compressed when the name ends in {@code .gz}. */
public final class IdxWriter {
  private IdxWriter() {}

  /** Writes uint8 images {@code [N, rows, cols]} as IDX, gzip-compressed if the name ends in .gz. */
  public static void writeImages(Path file, IdxReader.Images images) throws IOException {
    try (DataOutputStream out = new DataOutputStream(create(file))) {
      out.writeInt(IdxReader.IMAGES_MAGIC);
      out.writeInt(images.count());
      out.writeInt(images.rows());
      out.writeInt(images.cols());
      out.write(images.pixels());
    }
  }

  /** Writes uint8 labels {@code [N]} as IDX, gzip-compressed if the name ends in .gz. */
  public static void writeLabels(Path file, byte[] labels) throws IOException {
    try (DataOutputStream out = new DataOutputStream(create(file))) {
      out.writeInt(IdxReader.LABELS_MAGIC);
      out.writeInt(labels.length);
      out.write(labels);
    }
  }

  private static OutputStream create(Path file) throws IOException {
    OutputStream raw = new BufferedOutputStream(Files.newOutputStream(file), 1 << 16);
    return file.getFileName().toString().endsWith(".gz") ? new GZIPOutputStream(raw, 1 << 16) : raw;
  }
}
