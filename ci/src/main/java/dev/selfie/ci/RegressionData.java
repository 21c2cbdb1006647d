package dev.selfie.ci;

import dev.selfie.data.Datasets;
import dev.selfie.data.ImageSource;
import dev.selfie.data.formats.Cifar10;
import dev.selfie.data.formats.CifarWriter;
import dev.selfie.data.formats.FashionMnist;
import dev.selfie.data.formats.IdxReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;

/**
 * The small real dataset a regression run trains on, always in the CIFAR-10 binary format (so
 * the CIFAR-10 reader path runs on real pixels) under {@code <home>/cifar10/}, opened with
 * {@code --dataset cifar10 --data-dir <home>}:
 *
 * <ul>
 *   <li>when CIFAR-10 is found ({@code --data-dir}/{@code $SELFIE_DATA}/{@code ~/.cache/selfie},
 *       see {@link Datasets#open}): a byte-exact subset of its records, the first {@code n / 5}
 *       records of each training batch file and the first test records;
 *   <li>otherwise: the first Fashion-MNIST images (under the given data dir, else
 *       {@link FashionMnist#SYSTEM_DIR} or the data home), zero-padded 28 -> 32 and grey
 *       replicated to RGB, with their labels.
 * </ul>
 */
public final class RegressionData {
  private RegressionData() {}

  /** Where the CIFAR-10 images of a subset came from. */
  public enum Origin {
    /** Records of the real CIFAR-10 files. */
    CIFAR10,
    /** Real Fashion-MNIST images converted to CIFAR-10 records. */
    FASHION_MNIST
  }

  /**
   * A written subset.
   *
   * @param home the data home to pass as {@code --data-dir} (the files are in {@code home/cifar10})
   * @param source the directory the images were read from
   */
  public record Subset(Path home, Origin origin, Path source, int trainImages, int testImages) {
    /** "CIFAR-10" or "Fashion-MNIST as CIFAR-10". */
    public String describe() {
      return origin == Origin.CIFAR10 ? "CIFAR-10" : "Fashion-MNIST as CIFAR-10 records";
    }
  }

  /**
   * Writes a subset of {@code nTrain} training and {@code nTest} test images into {@code
   * home/cifar10/}: from CIFAR-10 when it is found under {@code dataDirOrNull} (or the default data
   * home), else from Fashion-MNIST.
   *
   * @throws NoSuchFileException if neither dataset is found (the message says how to get them)
   */
  public static Subset write(Path home, int nTrain, int nTest, Path dataDirOrNull)
      throws IOException {
    Optional<Path> cifar = findCifar10(dataDirOrNull);
    if (cifar.isPresent()) {
      subsetOfCifar10(cifar.get(), home.resolve(Cifar10.NAME), nTrain, nTest);
      return new Subset(home, Origin.CIFAR10, cifar.get(), nTrain, nTest);
    }
    ImageSource fm;
    try {
      fm = openFashionMnist(dataDirOrNull);
    } catch (NoSuchFileException e) {
      throw new NoSuchFileException(Datasets.dataHome(dataDirOrNull).toString(), null,
          "regression data: neither CIFAR-10 (selfie data fetch cifar10) nor Fashion-MNIST"
              + " (apt-get install dataset-fashion-mnist) was found: " + e.getMessage());
    }
    fromFashionMnist(fm.location(), home.resolve(Cifar10.NAME), nTrain, nTest);
    return new Subset(home, Origin.FASHION_MNIST, fm.location(), nTrain, nTest);
  }

  /** Fashion-MNIST under {@code dataDirOrNull}, else at the default locations. */
  private static ImageSource openFashionMnist(Path dataDirOrNull) throws IOException {
    try {
      return Datasets.open(FashionMnist.NAME, dataDirOrNull);
    } catch (NoSuchFileException e) {
      if (dataDirOrNull == null) {
        throw e;
      }
      return Datasets.open(FashionMnist.NAME, null);
    }
  }

  /** The directory of the CIFAR-10 binary files, if they are found. */
  public static Optional<Path> findCifar10(Path dataDirOrNull) throws IOException {
    try {
      return Optional.of(Datasets.open(Cifar10.NAME, dataDirOrNull).location());
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  /**
   * Copies CIFAR-10 records byte for byte: the first {@code nTrain / 5} (the first files get the
   * remainder) records of each {@code data_batch_i.bin}, the first {@code nTest} records of
   * {@code test_batch.bin}, and {@code batches.meta.txt}.
   */
  public static void subsetOfCifar10(Path cifarDir, Path out, int nTrain, int nTest)
      throws IOException {
    check(nTrain, nTest);
    Files.createDirectories(out);
    int files = Cifar10.TRAIN_FILES.size();
    for (int f = 0; f < files; f++) {
      int n = nTrain / files + (f < nTrain % files ? 1 : 0);
      copyRecords(cifarDir.resolve(Cifar10.TRAIN_FILES.get(f)),
          out.resolve(Cifar10.TRAIN_FILES.get(f)), n);
    }
    copyRecords(cifarDir.resolve(Cifar10.TEST_FILES.get(0)), out.resolve(Cifar10.TEST_FILES.get(0)),
        nTest);
    Files.copy(cifarDir.resolve(Cifar10.META_FILE), out.resolve(Cifar10.META_FILE));
  }

  private static void copyRecords(Path from, Path to, int n) throws IOException {
    long bytes = (long) n * Cifar10.RECORD_BYTES;
    if (Files.size(from) < bytes) {
      throw new IllegalArgumentException(from + " holds " + Files.size(from) / Cifar10.RECORD_BYTES
          + " records, fewer than the " + n + " asked for");
    }
    try (InputStream in = Files.newInputStream(from); OutputStream o = Files.newOutputStream(to)) {
      byte[] buf = in.readNBytes((int) bytes);
      o.write(buf);
    }
  }

  /**
   * Writes the first {@code nTrain} training and {@code nTest} test images of the Fashion-MNIST
   * IDX files in {@code fmDir} as CIFAR-10 records: 28x28 zero-padded (centred) to 32x32, the grey
   * value replicated to R, G and B ({@link CifarWriter#greyToRgbPadded}), labels unchanged,
   * class names in {@code batches.meta.txt}.
   */
  public static void fromFashionMnist(Path fmDir, Path out, int nTrain, int nTest)
      throws IOException {
    check(nTrain, nTest);
    IdxReader.Images train = IdxReader.readImages(idx(fmDir, "train-images-idx3-ubyte"));
    byte[] trainLabels = IdxReader.readLabels(idx(fmDir, "train-labels-idx1-ubyte"));
    IdxReader.Images test = IdxReader.readImages(idx(fmDir, "t10k-images-idx3-ubyte"));
    byte[] testLabels = IdxReader.readLabels(idx(fmDir, "t10k-labels-idx1-ubyte"));
    if (train.count() < nTrain || test.count() < nTest) {
      throw new IllegalArgumentException(fmDir + " holds " + train.count() + " training and "
          + test.count() + " test images, fewer than " + nTrain + " / " + nTest);
    }
    int px = train.rows() * train.cols();
    CifarWriter.writeDataset(out,
        CifarWriter.greyToRgbPadded(Arrays.copyOf(train.pixels(), nTrain * px), nTrain,
            train.rows(), train.cols(), Cifar10.SIDE),
        labels(trainLabels, nTrain),
        CifarWriter.greyToRgbPadded(Arrays.copyOf(test.pixels(), nTest * px), nTest,
            test.rows(), test.cols(), Cifar10.SIDE),
        labels(testLabels, nTest),
        FashionMnist.CLASS_NAMES);
  }

  private static Path idx(Path dir, String stem) throws NoSuchFileException {
    for (Path p : new Path[] {dir.resolve(stem + ".gz"), dir.resolve(stem)}) {
      if (Files.isRegularFile(p)) {
        return p;
      }
    }
    throw new NoSuchFileException(dir.resolve(stem + ".gz").toString(), null,
        "Fashion-MNIST IDX file not found (also tried without .gz)");
  }

  private static int[] labels(byte[] b, int n) {
    int[] out = new int[n];
    for (int i = 0; i < n; i++) {
      out[i] = b[i] & 0xff;
    }
    return out;
  }

  private static void check(int nTrain, int nTest) {
    if (nTrain < Cifar10.TRAIN_FILES.size() || nTest < 1) {
      throw new IllegalArgumentException("subset sizes: need >= " + Cifar10.TRAIN_FILES.size()
          + " training and >= 1 test images, got " + nTrain + " / " + nTest);
    }
  }
}
