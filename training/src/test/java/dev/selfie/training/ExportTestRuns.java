package dev.selfie.training;

import dev.selfie.data.formats.FashionMnist;
import dev.selfie.data.formats.IdxReader;
import dev.selfie.data.formats.IdxWriter;
import dev.selfie.training.jobs.Export;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.ScheduleOptions;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Random;
import java.util.stream.Stream;

/**
 * REAL Selfie runs for the export / serve / predict / interop tests, made once per test JVM (the
 * surefire fork is reused by every test class) in a temporary directory deleted at exit:
 *
 * <ul>
 *   <li>{@link #home()}: a generated data set in the Fashion-MNIST IDX format ({@value #TRAIN}
 *       training and {@value #TEST} test images, 28x28 grey, 10 classes, a class-dependent
 *       pattern plus noise): the native shape differs from the model's 32x32, so the export's
 *       in-graph padding is exercised;
 *   <li>{@link #pretrainRun()}: tiny preset, {@value #PRETRAIN_STEPS} steps of batch 16, exported;
 *   <li>{@link #finetuneRun()}: the resnet head from that run, {@value #FINETUNE_STEPS} steps on all
 *       labels, exported.
 * </ul>
 */
final class ExportTestRuns {
  private ExportTestRuns() {}

  static final int TRAIN = 80;
  static final int TEST = 20;
  static final int SIDE = FashionMnist.SIDE;
  static final long PRETRAIN_STEPS = 4;
  static final long FINETUNE_STEPS = 3;

  private static Path root;
  private static Path home;
  private static Path pretrain;
  private static Path finetune;

  /** The temporary root (deleted when the JVM exits). */
  static synchronized Path root() {
    if (root == null) {
      try {
        root = Files.createTempDirectory("selfie-export-tests-");
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      Path r = root;
      Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteQuietly(r)));
    }
    return root;
  }

  /** The data home holding {@code fashion-mnist/} (generated). */
  static synchronized Path home() throws IOException {
    if (home == null) {
      Path h = root().resolve("data");
      Path dir = Files.createDirectories(h.resolve(FashionMnist.NAME));
      write(dir, "train", TRAIN, 11);
      write(dir, "t10k", TEST, 12);
      home = h;
    }
    return home;
  }

  private static void write(Path dir, String split, int n, long seed) throws IOException {
    byte[] labels = new byte[n];
    for (int i = 0; i < n; i++) {
      labels[i] = (byte) (i % 10);
    }
    IdxWriter.writeImages(dir.resolve(split + "-images-idx3-ubyte.gz"),
        new IdxReader.Images(n, SIDE, SIDE, images(n, seed, labels)));
    IdxWriter.writeLabels(dir.resolve(split + "-labels-idx1-ubyte.gz"), labels);
  }

  /**
   * {@code n} grey images {@code [n, 28, 28]}: noise, plus a bright horizontal band whose row
   * depends on the label (null labels: {@code i % 10}).
   */
  static byte[] images(int n, long seed, byte[] labels) {
    Random r = new Random(seed);
    byte[] out = new byte[n * SIDE * SIDE];
    for (int i = 0; i < n; i++) {
      int k = labels == null ? i % 10 : labels[i];
      for (int y = 0; y < SIDE; y++) {
        for (int x = 0; x < SIDE; x++) {
          int v = r.nextInt(60) + (Math.abs(y - (2 * k + 4)) <= 1 ? 180 : 0);
          out[(i * SIDE + y) * SIDE + x] = (byte) Math.min(255, v);
        }
      }
    }
    return out;
  }

  /**
   * Fixed test inputs in the models' native shape: uint8 {@code [n, 28, 28, 1]}; the last image
   * alternates 0 and 255 (both ends of the range).
   */
  static byte[] fixedImages(int n) {
    byte[] out = images(n, 2024, null);
    int last = (n - 1) * SIDE * SIDE;
    for (int p = 0; p < SIDE * SIDE; p++) {
      out[last + p] = (byte) (p % 2 == 0 ? 0 : 255);
    }
    return out;
  }

  /** The pretraining run (trained and exported on first use). */
  static synchronized Path pretrainRun() throws IOException {
    if (pretrain == null) {
      Path out = root().resolve("pretrain");
      PrintStream log = System.out;
      Pretrain.run(Pretrain.Options.defaults(out)
          .withPreset("tiny")
          .withData(DataOptions.of(FashionMnist.NAME, home()).withBatchSize(16))
          .withSchedule(ScheduleOptions.defaults().withSteps(PRETRAIN_STEPS).withWarmup(0))
          .withCheckpoints(CheckpointOptions.defaults().withCheckpointEvery(PRETRAIN_STEPS)
              .withKeep(2).withLogEvery(1000).withSummaryEvery(1000))
          .withRuntime(PretrainFixtures.float32(2))
          .withExport(false));
      Export.run(out);
      pretrain = out;
    }
    return pretrain;
  }

  /** The finetuning run from {@link #pretrainRun()} (trained and exported on first use). */
  static synchronized Path finetuneRun() throws IOException {
    if (finetune == null) {
      Path out = root().resolve("finetune");
      finetune(out, pretrainRun(), FINETUNE_STEPS, 0.05);
      Export.run(out);
      finetune = out;
    }
    return finetune;
  }

  /**
   * Runs a finetuning (resnet head, all labels, batch 16, SGD, no warmup, weight decay 0) into
   * {@code out} from {@code pretrained} (a run or SavedModel directory).
   */
  static Finetune.Result finetune(Path out, Path pretrained, long steps, double lr)
      throws IOException {
    return Finetune.run(finetuneOptions(out, pretrained, steps, lr));
  }

  /** The options of {@link #finetune}. */
  static Finetune.Options finetuneOptions(Path out, Path pretrained, long steps, double lr)
      throws IOException {
    return Finetune.Options.defaults(out)
        .withPretrained(pretrained)
        .withPreset("tiny")
        .withLabels(Finetune.Labels.fraction(1.0))
        .withData(DataOptions.of(FashionMnist.NAME, home()).withBatchSize(16))
        .withSchedule(ScheduleOptions.defaults().withSteps(steps).withLr(lr).withWarmup(0)
            .withWeightDecay(0.0, null))
        .withCheckpoints(CheckpointOptions.defaults().withCheckpointEvery(steps).withKeep(2)
            .withLogEvery(1000).withSummaryEvery(1000))
        .withRuntime(PretrainFixtures.float32(2))
        .withEvalBatchSize(64)
        .withExport(false);
  }

  static void deleteQuietly(Path p) {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> s = Files.walk(p)) {
      s.sorted(Comparator.reverseOrder()).forEach(q -> {
        try {
          Files.deleteIfExists(q);
        } catch (IOException ignored) {
          // best effort at exit
        }
      });
    } catch (IOException ignored) {
      // best effort at exit
    }
  }
}
