package dev.selfie.data.formats;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Writes the CIFAR-10 binary format (see {@link Cifar10}): batch files of 3073-byte records and
 * {@code batches.meta.txt}. Used by tests and to write CIFAR-format subsets of other datasets.
 */
public final class CifarWriter {
  private CifarWriter() {}

  private static final int PIXELS = Cifar10.SIDE * Cifar10.SIDE;

  /**
   * Writes one batch file.
   *
   * @param images uint8 {@code [N, 32, 32, 3]} (HWC, row-major)
   * @param labels {@code [N]}, each 0-255 (the reader accepts 0-9)
   */
  public static void writeBatch(Path file, byte[] images, int[] labels) throws IOException {
    int n = labels.length;
    if (images.length != (long) n * 3 * PIXELS) {
      throw new IllegalArgumentException(
          "images has " + images.length + " bytes, expected " + n + "*32*32*3 for " + n + " labels");
    }
    byte[] rec = new byte[Cifar10.RECORD_BYTES];
    try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 16)) {
      for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] > 255) {
          throw new IllegalArgumentException("label " + labels[i] + " of image " + i + " does not fit a byte");
        }
        rec[0] = (byte) labels[i];
        int base = i * 3 * PIXELS;
        for (int p = 0; p < PIXELS; p++) {
          for (int c = 0; c < 3; c++) {
            rec[1 + c * PIXELS + p] = images[base + p * 3 + c];
          }
        }
        out.write(rec);
      }
    }
  }

  /** Writes {@code batches.meta.txt}: one class name a line. */
  public static void writeMeta(Path dir, List<String> classNames) throws IOException {
    Files.writeString(dir.resolve(Cifar10.META_FILE), String.join("\n", classNames) + "\n\n", StandardCharsets.UTF_8);
  }

  /**
   * Writes a whole CIFAR-format dataset into {@code dir}: the training examples split in order
   * over {@code data_batch_1..5.bin} (sizes differ by at most one), {@code test_batch.bin} and
   * {@code batches.meta.txt}.
   *
   * @param trainImages {@code [N, 32, 32, 3]} uint8
   * @param testImages {@code [M, 32, 32, 3]} uint8
   */
  public static void writeDataset(
      Path dir, byte[] trainImages, int[] trainLabels, byte[] testImages, int[] testLabels, List<String> classNames)
      throws IOException {
    Files.createDirectories(dir);
    int n = trainLabels.length;
    int files = Cifar10.TRAIN_FILES.size();
    int start = 0;
    int bytes = 3 * PIXELS;
    for (int f = 0; f < files; f++) {
      int end = (int) ((long) n * (f + 1) / files);
      int[] l = java.util.Arrays.copyOfRange(trainLabels, start, end);
      byte[] im = java.util.Arrays.copyOfRange(trainImages, start * bytes, end * bytes);
      writeBatch(dir.resolve(Cifar10.TRAIN_FILES.get(f)), im, l);
      start = end;
    }
    writeBatch(dir.resolve(Cifar10.TEST_FILES.get(0)), testImages, testLabels);
    writeMeta(dir, classNames);
  }

  /**
   * Grey images {@code [N, H, W]} -> RGB {@code [N, size, size, 3]}: zero-padded (centred, as
   * {@link dev.selfie.data.pipeline.Preprocess#padTo}) and the grey value replicated to 3 channels. E.g. Fashion-MNIST
   * 28x28 -> a CIFAR-format 32x32 image.
   */
  public static byte[] greyToRgbPadded(byte[] grey, int n, int h, int w, int size) {
    if (grey.length != (long) n * h * w) {
      throw new IllegalArgumentException("grey has " + grey.length + " bytes, expected " + n + "*" + h + "*" + w);
    }
    if (h > size || w > size) {
      throw new IllegalArgumentException(h + "x" + w + " images do not fit in " + size + "x" + size);
    }
    int top = (size - h) / 2;
    int left = (size - w) / 2;
    byte[] out = new byte[n * size * size * 3];
    for (int i = 0; i < n; i++) {
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
          byte v = grey[(i * h + y) * w + x];
          int o = ((i * size + y + top) * size + x + left) * 3;
          out[o] = v;
          out[o + 1] = v;
          out[o + 2] = v;
        }
      }
    }
    return out;
  }
}
