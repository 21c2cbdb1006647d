package dev.selfie.data;

import dev.selfie.data.formats.Cifar10;
import dev.selfie.data.formats.CifarWriter;
import dev.selfie.data.formats.IdxReader;
import dev.selfie.data.formats.IdxWriter;
import java.io.IOException;
import java.nio.file.Path;

/** Small generated datasets in the real file formats, with known pixels and labels. */
public final class TestData {
  private TestData() {}

  /** Known pixel value of CIFAR test image i (global within its split), pixel (y, x), channel c. */
  public static int cifarPixel(int split, int i, int y, int x, int c) {
    return (split * 101 + i * 37 + y * 11 + x * 5 + c * 67) & 0xff;
  }

  public static int cifarLabel(int split, int i) {
    return (i * 3 + split) % 10;
  }

  public static byte[] cifarImages(int split, int n) {
    byte[] out = new byte[n * 32 * 32 * 3];
    for (int i = 0; i < n; i++) {
      for (int y = 0; y < 32; y++) {
        for (int x = 0; x < 32; x++) {
          for (int c = 0; c < 3; c++) {
            out[((i * 32 + y) * 32 + x) * 3 + c] = (byte) cifarPixel(split, i, y, x, c);
          }
        }
      }
    }
    return out;
  }

  public static int[] cifarLabels(int split, int n) {
    int[] l = new int[n];
    for (int i = 0; i < n; i++) {
      l[i] = cifarLabel(split, i);
    }
    return l;
  }

  /** Writes a CIFAR-10 binary dataset with {@code nTrain} / {@code nTest} examples into dir. */
  public static Path cifar(Path dir, int nTrain, int nTest) throws IOException {
    CifarWriter.writeDataset(
        dir, cifarImages(0, nTrain), cifarLabels(0, nTrain), cifarImages(1, nTest), cifarLabels(1, nTest),
        Cifar10.CLASS_NAMES);
    return dir;
  }

  public static int idxPixel(int split, int i, int y, int x) {
    return (split * 53 + i * 29 + y * 7 + x * 3) & 0xff;
  }

  public static IdxReader.Images idxImages(int split, int n) {
    byte[] px = new byte[n * 28 * 28];
    for (int i = 0; i < n; i++) {
      for (int y = 0; y < 28; y++) {
        for (int x = 0; x < 28; x++) {
          px[(i * 28 + y) * 28 + x] = (byte) idxPixel(split, i, y, x);
        }
      }
    }
    return new IdxReader.Images(n, 28, 28, px);
  }

  public static byte[] idxLabels(int split, int n) {
    byte[] l = new byte[n];
    for (int i = 0; i < n; i++) {
      l[i] = (byte) ((i * 7 + split) % 10);
    }
    return l;
  }

  /** Writes the four Fashion-MNIST IDX gz files into dir. */
  public static Path fashion(Path dir, int nTrain, int nTest) throws IOException {
    java.nio.file.Files.createDirectories(dir);
    IdxWriter.writeImages(dir.resolve("train-images-idx3-ubyte.gz"), idxImages(0, nTrain));
    IdxWriter.writeLabels(dir.resolve("train-labels-idx1-ubyte.gz"), idxLabels(0, nTrain));
    IdxWriter.writeImages(dir.resolve("t10k-images-idx3-ubyte.gz"), idxImages(1, nTest));
    IdxWriter.writeLabels(dir.resolve("t10k-labels-idx1-ubyte.gz"), idxLabels(1, nTest));
    return dir;
  }
}
