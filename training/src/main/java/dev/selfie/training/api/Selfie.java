package dev.selfie.training.api;

import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.loop.StepResult;
import dev.selfie.training.loop.Trainer;
import dev.selfie.training.loop.TrainingLoop;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.RuntimeOptions;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.run.RunDir;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Selfie as a library: pretrain on a folder of images, finetune on a fraction of its labels,
 * export a SavedModel. Builders with the {@code selfie} command line's defaults; set only what
 * differs.
 *
 * <pre>{@code
 * Selfie.Pretrained pretrained = Selfie.pretrain(images).steps(2000).out(runs.resolve("pretrain")).run();
 * Selfie.Finetuned model = Selfie.finetune(images, pretrained).labelFraction(0.05).out(runs.resolve("finetune")).run();
 * Path savedModel = model.savedModel();
 * }</pre>
 *
 * <p>The image folder is a {@code folder} dataset: {@code images/train/<class>/*} and {@code
 * images/test/<class>/*} (PNG, JPEG, ...; pretraining ignores the labels). Runs are
 * deterministic for a seed and resumable ({@link PretrainBuilder#resume}); each writes its run
 * directory (config, checkpoints, TensorBoard, metrics, train.log) and ends with the SavedModel in
 * {@code out/savedmodel/1/}. Bad settings fail with an {@link IllegalArgumentException} before
 * anything is written.
 */
public final class Selfie {

  private Selfie() {}

  /**
   * One training step as reported to {@link PretrainBuilder#onProgress} and {@link
   * FinetuneBuilder#onProgress}.
   *
   * @param task "pretrain" or "finetune"
   * @param step the step just completed (1-based, counted over the whole run)
   * @param endStep the run's last step
   * @param loss the step's training loss
   * @param imagesPerSecond the step's throughput
   */
  public record Progress(String task, long step, long endStep, double loss,
      double imagesPerSecond) {}

  /** A finished pretraining run. */
  public record Pretrained(Path run, Pretrain.Result result) {
    /** Patch-selection accuracy on the last steps (chance: {@link Pretrain.Result#chanceAccuracy}). */
    public double patchAccuracy() {
      return result.patchAccuracy();
    }

    /** The exported SavedModel's base directory ({@code run/savedmodel}, version 1 inside). */
    public Path savedModel() {
      return new RunDir(run).savedModel();
    }
  }

  /** A finished finetuning run. */
  public record Finetuned(Path run, Finetune.Result result) {
    /** Accuracy on the folder's test split, in [0, 1]. */
    public double testAccuracy() {
      return result.testAccuracy();
    }

    /** The exported SavedModel's base directory ({@code run/savedmodel}, version 1 inside). */
    public Path savedModel() {
      return new RunDir(run).savedModel();
    }
  }

  /** Pretraining on {@code images} ({@code images/train/<class>/*}; labels unused). */
  public static PretrainBuilder pretrain(Path images) {
    return new PretrainBuilder(Objects.requireNonNull(images, "images"));
  }

  /** Finetuning on {@code images} from the weights of {@code pretrained}. */
  public static FinetuneBuilder finetune(Path images, Pretrained pretrained) {
    return new FinetuneBuilder(Objects.requireNonNull(images, "images"),
        Objects.requireNonNull(pretrained, "pretrained").run());
  }

  /** Finetuning on {@code images} from random init: the supervised baseline. */
  public static FinetuneBuilder baseline(Path images) {
    return new FinetuneBuilder(Objects.requireNonNull(images, "images"), null);
  }

  /** What both builders share: run directory, budget, seed, threads, precision, reporting. */
  private abstract static class Common<B extends Common<B>> {
    final Path images;
    Path out;
    String preset = "small";
    long steps;
    double epochs;
    int batchSize = 64;
    long seed = 1;
    Long warmup;
    int threads;
    String precision = "auto";
    boolean resume;
    Consumer<Progress> onProgress;

    Common(Path images, long steps) {
      this.images = images;
      this.steps = steps;
    }

    abstract B self();

    /** The run directory (required). */
    public B out(Path out) {
      this.out = out;
      return self();
    }

    /** Model preset: paper, paper224, small (default), tiny. */
    public B preset(String preset) {
      this.preset = preset;
      return self();
    }

    /** Training steps. */
    public B steps(long steps) {
      this.steps = steps;
      return self();
    }

    /**
     * Train for {@code epochs} passes over the training images instead of {@code steps(n)}
     * (pretrain: all of them; finetune: the labeled subset).
     */
    public B epochs(double epochs) {
      this.epochs = epochs;
      return self();
    }

    /** Images per step (default 64). */
    public B batchSize(int batchSize) {
      this.batchSize = batchSize;
      return self();
    }

    /** Run seed: data order, masking, init (default 1). */
    public B seed(long seed) {
      this.seed = seed;
      return self();
    }

    /** Linear warmup steps (default: the command line's, at most a tenth of the steps). */
    public B warmup(long warmup) {
      this.warmup = warmup;
      return self();
    }

    /** Intra-op threads (default 0: all cores). */
    public B threads(int threads) {
      this.threads = threads;
      return self();
    }

    /** float32, bfloat16, float16 or auto (default). */
    public B precision(String precision) {
      this.precision = precision;
      return self();
    }

    /** Continue the run in {@code out(dir)} from its newest checkpoint. */
    public B resume(boolean resume) {
      this.resume = resume;
      return self();
    }

    /** Called after every training step (on the training thread: keep it quick). */
    public B onProgress(Consumer<Progress> onProgress) {
      this.onProgress = onProgress;
      return self();
    }

    Path requireOut() {
      if (out == null) {
        throw new IllegalArgumentException("out(...): the run directory is required");
      }
      return out;
    }

    /** The folder {@link #images}, {@link #batchSize} per step, augmented. */
    DataOptions data() {
      return DataOptions.of("folder", images).withBatchSize(batchSize);
    }

    RuntimeOptions runtime() {
      return RuntimeOptions.defaults().withSeed(seed).withThreads(threads)
          .withPrecision(precision);
    }

    /** {@link #steps} (or {@link #epochs}), the learning rate and the warmup. */
    ScheduleOptions schedule(double lr, long commandLineWarmup) {
      long w = warmup != null ? warmup : Math.min(commandLineWarmup, Math.max(1, steps / 10));
      return ScheduleOptions.defaults().withSteps(steps).withEpochs(epochs).withLr(lr)
          .withWarmup(w);
    }

    <R> R observed(String task, Trainer.Observed<R> job) {
      TrainingLoop.Listener observer = new TrainingLoop.Listener() {
        long end;

        @Override
        public void onStart(long startStep, long endStep) {
          end = endStep;
        }

        @Override
        public void onStep(StepResult r) {
          if (onProgress != null) {
            onProgress.accept(new Progress(task, r.step(), end, r.loss(), r.imagesPerSecond()));
          }
        }
      };
      try {
        return Trainer.observed(observer, job);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  /** Settings of a pretraining run; {@link #run} trains. */
  public static final class PretrainBuilder extends Common<PretrainBuilder> {
    private double lr = 0.1;
    private int numMasked;
    private Path unlabeled;

    private PretrainBuilder(Path images) {
      super(images, 2000);
    }

    @Override
    PretrainBuilder self() {
      return this;
    }

    /** Base learning rate (default 0.1, SGD with Nesterov momentum). */
    public PretrainBuilder lr(double lr) {
      this.lr = lr;
      return this;
    }

    /** Masked patches per image (default 0: the preset's). */
    public PretrainBuilder numMasked(int numMasked) {
      this.numMasked = numMasked;
      return this;
    }

    /** A folder of unlabeled images (any nesting) to pretrain on besides the train split. */
    public PretrainBuilder unlabeled(Path unlabeled) {
      this.unlabeled = unlabeled;
      return this;
    }

    /** The options this builder stands for (the command line's defaults where unset). */
    public Pretrain.Options options() {
      return Pretrain.Options.defaults(requireOut())
          .withPreset(preset)
          .withData(data().withUnlabeledDir(unlabeled))
          .withSchedule(schedule(lr, 200))
          .withCheckpoints(CheckpointOptions.defaults().withResume(resume))
          .withRuntime(runtime())
          .withNumMasked(numMasked);
    }

    /** Pretrains (or resumes), exports the SavedModel, returns the run. */
    public Pretrained run() {
      Pretrain.Options o = options();
      Pretrain.Result r = observed("pretrain", () -> Pretrain.run(o));
      return new Pretrained(o.out(), r);
    }
  }

  /** Settings of a finetuning run; {@link #run} trains and evaluates on the test split. */
  public static final class FinetuneBuilder extends Common<FinetuneBuilder> {
    private final Path pretrained;
    private double labelFraction = 0.05;
    private double lr = 0.05;

    private FinetuneBuilder(Path images, Path pretrained) {
      super(images, 1000);
      this.pretrained = pretrained;
    }

    @Override
    FinetuneBuilder self() {
      return this;
    }

    /** Fraction of the training labels, class-balanced, in (0, 1] (default 0.05). */
    public FinetuneBuilder labelFraction(double labelFraction) {
      this.labelFraction = labelFraction;
      return this;
    }

    /** Base learning rate (default 0.05, SGD with Nesterov momentum). */
    public FinetuneBuilder lr(double lr) {
      this.lr = lr;
      return this;
    }

    /** The options this builder stands for (the command line's defaults where unset). */
    public Finetune.Options options() {
      return Finetune.Options.defaults(requireOut())
          .withPretrained(pretrained)
          .withPreset(preset)
          .withLabels(Finetune.Labels.fraction(labelFraction))
          .withData(data())
          .withSchedule(schedule(lr, 100))
          .withCheckpoints(CheckpointOptions.defaults().withKeep(2).withResume(resume))
          .withRuntime(runtime());
    }

    /** Finetunes (or resumes), evaluates on the test split, exports the SavedModel. */
    public Finetuned run() {
      Finetune.Options o = options();
      Finetune.Result r = observed("finetune", () -> Finetune.run(o));
      return new Finetuned(o.out(), r);
    }
  }
}
