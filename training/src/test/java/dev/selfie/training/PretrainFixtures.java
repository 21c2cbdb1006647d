package dev.selfie.training;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.selfie.data.formats.CifarWriter;
import dev.selfie.data.formats.FashionMnist;
import dev.selfie.data.formats.IdxReader;
import dev.selfie.savedmodels.CheckpointIndex;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.RuntimeOptions;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.run.CheckpointManager;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.op.Ops;
import org.tensorflow.op.train.Restore;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.family.TType;

/**
 * Shared by the Pretrain/Finetune/Resume/Xla tests: a CIFAR-format dataset written from REAL
 * Fashion-MNIST images (so the CIFAR-10 reader path runs on real pixels), option records with
 * test defaults, and a checkpoint reader that restores every tensor of a checkpoint in a session.
 */
final class PretrainFixtures {
  private PretrainFixtures() {}

  /**
   * The real Fashion-MNIST: the Debian package's files, else those in the data home (where the
   * first `./selfie quickstart` downloads them).
   */
  static final Path FASHION_MNIST = java.util.Objects.requireNonNullElse(FashionMnist.installed(),
      Path.of(FashionMnist.SYSTEM_DIR));

  /**
   * Skips (loudly) when Fashion-MNIST is neither installed (Debian package dataset-fashion-mnist)
   * nor downloaded into the data home.
   */
  static void assumeFashionMnist(String test) {
    boolean there = Files.isRegularFile(FASHION_MNIST.resolve("train-images-idx3-ubyte.gz"))
        && Files.isRegularFile(FASHION_MNIST.resolve("t10k-images-idx3-ubyte.gz"));
    if (!there) {
      System.out.println("SKIPPED " + test + ": " + FASHION_MNIST
          + " is absent (install the Debian package dataset-fashion-mnist, or run `./selfie data"
          + " fetch fashion-mnist`)");
    }
    assumeTrue(there, FASHION_MNIST + " is absent");
  }

  /**
   * Writes {@code <home>/cifar10/} in the CIFAR-10 binary format: the first {@code nTrain}
   * training and {@code nTest} test images of Fashion-MNIST, zero-padded 28 -> 32 and the grey
   * value replicated to RGB, with their labels. Open it with {@code --dataset cifar10 --data-dir
   * <home>}.
   *
   * @return {@code home}
   */
  static Path writeCifarFromFashionMnist(Path home, int nTrain, int nTest) throws IOException {
    IdxReader.Images train = IdxReader.readImages(
        FASHION_MNIST.resolve("train-images-idx3-ubyte.gz"));
    byte[] trainLabels = IdxReader.readLabels(FASHION_MNIST.resolve("train-labels-idx1-ubyte.gz"));
    IdxReader.Images test = IdxReader.readImages(FASHION_MNIST.resolve("t10k-images-idx3-ubyte.gz"));
    byte[] testLabels = IdxReader.readLabels(FASHION_MNIST.resolve("t10k-labels-idx1-ubyte.gz"));
    int px = 28 * 28;
    CifarWriter.writeDataset(home.resolve("cifar10"),
        CifarWriter.greyToRgbPadded(Arrays.copyOf(train.pixels(), nTrain * px), nTrain, 28, 28, 32),
        ints(trainLabels, nTrain),
        CifarWriter.greyToRgbPadded(Arrays.copyOf(test.pixels(), nTest * px), nTest, 28, 28, 32),
        ints(testLabels, nTest),
        FashionMnist.CLASS_NAMES);
    return home;
  }

  private static int[] ints(byte[] b, int n) {
    int[] out = new int[n];
    for (int i = 0; i < n; i++) {
      out[i] = b[i] & 0xff;
    }
    return out;
  }

  /**
   * Pretraining options on the CIFAR-format set in {@code home}: SGD-Nesterov lr 0.1, warmup
   * steps/10, weight decay 1e-4, augmentation on, seed 1, 2 intra-op threads, a checkpoint at the
   * end, summaries every 10 steps.
   */
  static Pretrain.Options pretrain(Path home, String preset, Path out, long steps, int batch) {
    return Pretrain.Options.defaults(out)
        .withPreset(preset)
        .withData(DataOptions.of("cifar10", home).withBatchSize(batch))
        .withSchedule(ScheduleOptions.defaults().withSteps(steps).withWarmup(steps / 10))
        .withCheckpoints(CheckpointOptions.defaults().withCheckpointEvery(steps).withKeep(3)
            .withLogEvery(1000).withSummaryEvery(10))
        .withRuntime(float32(2))
        .withExport(false);
  }

  /** {@link #pretrain} with XLA on or off (no augmentation, no summaries in between). */
  static Pretrain.Options pretrainXla(Path home, Path out, long steps, int batch, boolean xla) {
    return Pretrain.Options.defaults(out)
        .withPreset("tiny")
        .withData(DataOptions.of("cifar10", home).withAugment(false).withBatchSize(batch))
        .withSchedule(ScheduleOptions.defaults().withSteps(steps).withWarmup(0))
        .withCheckpoints(CheckpointOptions.defaults().withCheckpointEvery(steps).withKeep(1)
            .withLogEvery(1000).withSummaryEvery(1000))
        .withRuntime(float32(1).withXla(xla))
        .withExport(false);
  }

  /**
   * Finetuning options (resnet head, SGD, no warmup, seed 1, eval batch 64, 2 threads).
   *
   * @param pretrained the pretraining run directory, or null for the baseline
   */
  static Finetune.Options finetune(Path home, Path out, Path pretrained, double labelFraction,
      long steps, int batch, double lr, double weightDecay) {
    return Finetune.Options.defaults(out)
        .withPretrained(pretrained)
        .withPreset("tiny")
        .withLabels(Finetune.Labels.fraction(labelFraction))
        .withData(DataOptions.of("cifar10", home).withBatchSize(batch))
        .withSchedule(ScheduleOptions.defaults().withSteps(steps).withLr(lr).withWarmup(0)
            .withWeightDecay(weightDecay, null))
        .withCheckpoints(CheckpointOptions.defaults().withCheckpointEvery(steps).withKeep(2)
            .withLogEvery(1000).withSummaryEvery(1000))
        .withRuntime(float32(2))
        .withEvalBatchSize(64)
        .withExport(false);
  }

  /**
   * The tests' runtime: seed 1, {@code threads} intra-op threads, float32 whatever the CPU (the
   * command line's auto would pick bfloat16 on some).
   */
  static RuntimeOptions float32(int threads) {
    return RuntimeOptions.defaults().withThreads(threads).withPrecision("float32");
  }

  /**
   * Every tensor of the checkpoint {@code prefix}, restored in a fresh session by one RestoreV2
   * op (names and dtypes from the index), as doubles, by name (sorted).
   */
  static Map<String, double[]> readCheckpoint(Path prefix) throws IOException {
    Map<String, CheckpointIndex.Entry> index = CheckpointIndex.read(prefix);
    List<String> names = new ArrayList<>(index.keySet());
    List<Class<? extends TType>> types = new ArrayList<>();
    for (String n : names) {
      types.add(switch (index.get(n).dtype()) {
        case DT_FLOAT -> TFloat32.class;
        case DT_INT64 -> TInt64.class;
        case DT_INT32 -> TInt32.class;
        default -> throw new IllegalStateException(
            prefix + ": tensor " + n + " has dtype " + index.get(n).dtype() + ", not handled");
      });
    }
    Map<String, double[]> out = new TreeMap<>();
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Restore restore = tf.train.restore(tf.constant(prefix.toString()),
          tf.constant(StandardCharsets.UTF_8, names.toArray(new String[0])),
          tf.constant(StandardCharsets.UTF_8,
              Collections.nCopies(names.size(), "").toArray(new String[0])),
          types);
      Session.Runner runner = s.runner();
      for (Operand<?> t : restore.tensors()) {
        runner.fetch(t);
      }
      try (Result r = runner.run()) {
        for (int i = 0; i < names.size(); i++) {
          out.put(names.get(i), values(r.get(i)));
        }
      }
    }
    return out;
  }

  private static double[] values(Tensor t) {
    double[] v = new double[(int) t.size()];
    int[] k = {0};
    if (t instanceof TFloat32 f) {
      f.scalars().forEach(x -> v[k[0]++] = x.getFloat());
    } else if (t instanceof TInt64 l) {
      l.scalars().forEach(x -> v[k[0]++] = x.getLong());
    } else if (t instanceof TInt32 i) {
      i.scalars().forEach(x -> v[k[0]++] = x.getInt());
    }
    return v;
  }

  /** Largest |a - b| over all elements (Infinity on a size mismatch). */
  static double maxAbsDiff(double[] a, double[] b) {
    if (a.length != b.length) {
      return Double.POSITIVE_INFINITY;
    }
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs(a[i] - b[i]));
    }
    return m;
  }

  /** The checkpoint prefix {@code <run>/checkpoints/ckpt-<step>/model}. */
  static Path checkpoint(Path run, long step) {
    return run.resolve("checkpoints").resolve("ckpt-" + step).resolve(CheckpointManager.PREFIX);
  }
}
