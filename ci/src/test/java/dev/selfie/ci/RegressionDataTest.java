package dev.selfie.ci;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.selfie.data.Datasets;
import dev.selfie.data.ImageSource;
import dev.selfie.data.Split;
import dev.selfie.data.formats.Cifar10;
import dev.selfie.data.formats.CifarWriter;
import dev.selfie.data.formats.FashionMnist;
import dev.selfie.data.formats.IdxReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The regression subsets: byte-exact CIFAR-10 records, or Fashion-MNIST as CIFAR-10 records. */
class RegressionDataTest {

  /** A CIFAR-10 directory of 5 x 20 training and 30 test records with distinct bytes. */
  static Path fakeCifar(Path home) throws Exception {
    int nTrain = 100;
    int nTest = 30;
    byte[] train = new byte[nTrain * 3072];
    byte[] test = new byte[nTest * 3072];
    for (int i = 0; i < train.length; i++) {
      train[i] = (byte) (i * 7 + i / 3072);
    }
    for (int i = 0; i < test.length; i++) {
      test[i] = (byte) (i * 11 + 3);
    }
    int[] trainLabels = new int[nTrain];
    int[] testLabels = new int[nTest];
    Arrays.setAll(trainLabels, i -> i % 10);
    Arrays.setAll(testLabels, i -> (i * 3) % 10);
    CifarWriter.writeDataset(home.resolve("cifar10"), train, trainLabels, test, testLabels,
        Cifar10.CLASS_NAMES);
    return home.resolve("cifar10");
  }

  @Test
  void cifarSubsetIsTheFirstRecordsOfEachFileByteForByte(@TempDir Path tmp) throws Exception {
    Path src = fakeCifar(tmp.resolve("home"));
    RegressionData.Subset s = RegressionData.write(tmp.resolve("out"), 12, 7, tmp.resolve("home"));
    assertEquals(RegressionData.Origin.CIFAR10, s.origin());
    Path out = tmp.resolve("out").resolve("cifar10");
    for (int f = 0; f < 5; f++) {
      int n = f < 2 ? 3 : 2; // 12 = 3 + 3 + 2 + 2 + 2
      byte[] all = Files.readAllBytes(src.resolve(Cifar10.TRAIN_FILES.get(f)));
      assertArrayEquals(Arrays.copyOf(all, n * Cifar10.RECORD_BYTES),
          Files.readAllBytes(out.resolve(Cifar10.TRAIN_FILES.get(f))), Cifar10.TRAIN_FILES.get(f));
    }
    byte[] test = Files.readAllBytes(src.resolve(Cifar10.TEST_FILES.get(0)));
    assertArrayEquals(Arrays.copyOf(test, 7 * Cifar10.RECORD_BYTES),
        Files.readAllBytes(out.resolve(Cifar10.TEST_FILES.get(0))));
    ImageSource opened = Datasets.open("cifar10", s.home());
    assertEquals(12, opened.size(Split.TRAIN));
    assertEquals(7, opened.size(Split.TEST));
  }

  @Test
  void tooFewRecordsIsAClearError(@TempDir Path tmp) throws Exception {
    fakeCifar(tmp.resolve("home"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> RegressionData.write(tmp.resolve("out"), 500, 7, tmp.resolve("home")));
    assertTrue(e.getMessage().contains("data_batch_1.bin holds 20 records"), e.getMessage());
  }

  @Test
  void fashionMnistBecomesPaddedRgbCifarRecords(@TempDir Path tmp) throws Exception {
    Path fm = java.util.Objects.requireNonNullElse(FashionMnist.installed(),
        Path.of(FashionMnist.SYSTEM_DIR));
    assumeTrue(Files.isRegularFile(fm.resolve("train-images-idx3-ubyte.gz")),
        fm + " is absent (install dataset-fashion-mnist)");
    Path home = tmp.resolve("out");
    RegressionData.fromFashionMnist(fm, home.resolve("cifar10"), 15, 4);
    ImageSource src = Datasets.open("cifar10", home);
    assertEquals(15, src.size(Split.TRAIN));
    assertEquals(4, src.size(Split.TEST));
    byte[] labels = IdxReader.readLabels(fm.resolve("t10k-labels-idx1-ubyte.gz"));
    int[] expected = new int[4];
    Arrays.setAll(expected, i -> labels[i] & 0xff);
    assertArrayEquals(expected, src.labels(Split.TEST));

    // Record 0 of test_batch.bin: 1 label byte, then R, G, B planes of 32x32.
    byte[] rec = Arrays.copyOf(
        Files.readAllBytes(home.resolve("cifar10").resolve("test_batch.bin")), 3073);
    byte[] grey = Arrays.copyOf(
        IdxReader.readImages(fm.resolve("t10k-images-idx3-ubyte.gz")).pixels(), 784);
    for (int y = 0; y < 32; y++) {
      for (int x = 0; x < 32; x++) {
        boolean inside = y >= 2 && y < 30 && x >= 2 && x < 30;
        byte v = inside ? grey[(y - 2) * 28 + (x - 2)] : 0;
        for (int c = 0; c < 3; c++) {
          assertEquals(v, rec[1 + c * 1024 + y * 32 + x], "pixel " + y + "," + x + " channel " + c);
        }
      }
    }
    // A data dir without CIFAR-10: Fashion-MNIST from the default locations.
    RegressionData.Subset s = RegressionData.write(tmp.resolve("out2"), 10, 3, tmp.resolve("empty"));
    assertEquals(RegressionData.Origin.FASHION_MNIST, s.origin());
    assertEquals(10, Datasets.open("cifar10", s.home()).size(Split.TRAIN));
  }
}
