package dev.selfie.training.jobs;

import dev.selfie.data.ImageSource;
import dev.selfie.data.LabelManifest;
import dev.selfie.graph.Classifier;
import dev.selfie.graph.ModelConfig;
import dev.selfie.training.loop.RunSession;
import dev.selfie.training.loop.Trainer;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.RuntimeOptions;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.options.TrainingOptions;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.MetricsWriter;
import dev.selfie.training.run.ModelFiles;
import dev.selfie.training.run.RunConfig;
import dev.selfie.training.runtime.Devices;
import dev.selfie.training.runtime.Precision;
import dev.selfie.training.runtime.SessionConfigs;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.Graph;
import org.tensorflow.Session;

/**
 * Finetuning on a class-balanced fraction of the labels: the full ResNet-50 v2 (or the hybrid
 * head) whose stem + stages 1-3 start from a pretraining run's weights, or from random init (the
 * supervised baseline: identical network, schedule and label manifest). Ends with the test-set
 * accuracy in metrics.json.
 */
public final class Finetune {
  private static final Logger LOG = LoggerFactory.getLogger(Finetune.class);

  private Finetune() {}

  /**
   * Everything needed to rebuild the graph: saved as config.json.
   *
   * @param precision the precision the run started with ({@link Precision#flag}); null in
   *     config files from before the field (float32). Graph and checkpoints are float32.
   */
  public record Config(
      String kind,
      String dataset,
      String preset,
      ModelConfig model,
      Classifier.Head head,
      OptimizerConfig optimizer,
      int batchSize,
      long steps,
      long seed,
      double labelFraction,
      int labeledExamples,
      String pretrained,
      boolean augment,
      boolean xla,
      Recipe recipe,
      String precision) implements RunConfig {
    public Config {
      RunConfig.requireKind("finetune", kind);
      if (recipe == null) {
        recipe = Recipe.defaults(); // config.json written before the recipe existed
      }
    }
  }

  /**
   * How finetuning is evaluated and how it treats the pretrained layers.
   *
   * @param validation training images held out as a validation split (class-balanced, chosen by
   *     {@code validationSeed}, saved as {@code validation.json}); the labeled subset is drawn
   *     from the rest and the run reports {@code validation_accuracy}. 0 = no validation split
   * @param validationSeed seed of the validation split: keep it fixed across a tuning sweep so
   *     every run is scored on the same images
   * @param test evaluate the test set at the end. Tuning runs turn it off; the final
   *     configuration is rerun with it on (same validation split, so the same labeled subset)
   * @param pretrainedLrScale learning-rate multiplier of the variables restored from pretraining
   *     (1 = same as the new layers); has no effect on the baseline, which restores nothing
   * @param headSteps for the first {@code headSteps} steps only the fresh variables (the head)
   *     train, the pretrained ones get no update (LP-FT: head first, then all layers); 0 = off
   */
  public record Recipe(
      int validation, long validationSeed, boolean test, double pretrainedLrScale,
      long headSteps) {
    public Recipe {
      if (validation < 0) {
        throw new IllegalArgumentException("--validation must be >= 0, got " + validation);
      }
      if (!(pretrainedLrScale >= 0 && Double.isFinite(pretrainedLrScale))) {
        throw new IllegalArgumentException(
            "--pretrained-lr-scale must be >= 0, got " + pretrainedLrScale);
      }
      if (headSteps < 0) {
        throw new IllegalArgumentException("--head-steps must be >= 0, got " + headSteps);
      }
      if (validation == 0 && !test) {
        throw new IllegalArgumentException(
            "--no-test needs --validation N: a run must be evaluated on something");
      }
    }

    /** No validation split, test set at the end, one learning rate, no head-first phase. */
    public static Recipe defaults() {
      return new Recipe(0, 0, true, 1.0, 0);
    }

    public Recipe withValidation(int n, boolean evaluateTest) {
      return new Recipe(n, validationSeed, evaluateTest, pretrainedLrScale, headSteps);
    }

    public Recipe withPretrainedLrScale(double s) {
      return new Recipe(validation, validationSeed, test, s, headSteps);
    }

    public Recipe withHeadSteps(long k) {
      return new Recipe(validation, validationSeed, test, pretrainedLrScale, k);
    }

    /** True if the pretrained variables train differently from the fresh ones. */
    boolean layerwise() {
      return pretrainedLrScale != 1.0 || headSteps > 0;
    }
  }

  /**
   * Which training labels a run learns from.
   *
   * @param fraction {@code --label-fraction}: the class-balanced fraction of the training labels,
   *     in (0, 1]
   * @param manifest {@code --label-manifest}: reuse the labeled indices of this manifest
   *     (labels.json of another run); overrides {@code fraction}. Null: draw them
   */
  public record Labels(double fraction, Path manifest) {
    public Labels {
      if (manifest == null && !(fraction > 0 && fraction <= 1)) {
        throw new IllegalArgumentException("--label-fraction must be in (0, 1], got " + fraction);
      }
    }

    /** A class-balanced {@code fraction} of the labels (drawn with the run seed). */
    public static Labels fraction(double fraction) {
      return new Labels(fraction, null);
    }
  }

  /**
   * Options of {@code selfie finetune}: the groups every training job shares, and what only
   * finetuning has. Start from {@link #defaults} (the command line's) and change what differs;
   * set the recipe and the checkpoints (resume) before {@code evalEvery}, which is checked
   * against them.
   *
   * @param out the run directory
   * @param preset {@code --preset}: the model of the baseline; with {@code pretrained} the
   *     pretraining run's is used
   * @param pretrained a pretraining run directory or its savedmodel directory; null = baseline
   * @param head the classifier: the full ResNet v2 or the hybrid head
   * @param data the images ({@link DataOptions#unlabeledDir()} must be null: finetuning learns
   *     from labels)
   * @param evalBatchSize {@code --eval-batch-size}: batch size of the test and validation passes
   * @param evalEvery {@code --eval-every}: evaluate on the validation split every this many
   *     steps during training (progress line, TensorBoard, metrics.jsonl); 0 = only at the end;
   *     -1 = the default, {@value #DEFAULT_EVAL_EVERY} with a validation split, else 0
   * @param export at the end, export the run as a SavedModel into {@code out/savedmodel/1/}
   *     ({@link Export}; the CLI's default, {@code --no-export} turns it off)
   */
  public record Options(
      Path out,
      String preset,
      Path pretrained,
      Classifier.Head head,
      Labels labels,
      DataOptions data,
      ScheduleOptions schedule,
      CheckpointOptions checkpoints,
      RuntimeOptions runtime,
      Recipe recipe,
      int evalBatchSize,
      int evalEvery,
      boolean export) implements TrainingOptions {
    /** The default of {@code --eval-every} with a validation split. */
    public static final int DEFAULT_EVAL_EVERY = 250;

    public Options {
      TrainingOptions.requireShared(out, data, schedule, checkpoints, runtime);
      Objects.requireNonNull(head, "head");
      Objects.requireNonNull(labels, "labels");
      if (data.unlabeledDir() != null) {
        throw new IllegalArgumentException("finetuning learns from labels: unlabeled images ("
            + data.unlabeledDir() + ") are for pretraining");
      }
      if (recipe == null) {
        recipe = Recipe.defaults();
      }
      if (evalEvery < -1) {
        throw new IllegalArgumentException("--eval-every must be >= 0, got " + evalEvery);
      }
      if (evalEvery > 0 && recipe.validation() == 0 && !checkpoints.resume()) {
        throw new IllegalArgumentException("--eval-every " + evalEvery
            + " needs a validation split to evaluate on: pass --validation N");
      }
      if (pretrained == null) {
        Pretrain.checkPreset(preset);
      }
    }

    /**
     * The defaults of {@code selfie finetune} into {@code out}: the baseline (no pretraining) of
     * preset small with the resnet head on 5% of the labels, 1000 steps at lr 0.05 after 100
     * warmup steps, 2 checkpoints kept, the test set evaluated (batches of 500) and the
     * SavedModel exported at the end.
     */
    public static Options defaults(Path out) {
      return new Options(out, "small", null, Classifier.Head.RESNET, Labels.fraction(0.05),
          DataOptions.defaults(),
          ScheduleOptions.defaults().withSteps(1000).withLr(0.05).withWarmup(100),
          CheckpointOptions.defaults().withKeep(2), RuntimeOptions.defaults(), Recipe.defaults(),
          500, -1, true);
    }

    public Options withPreset(String p) {
      return new Options(out, p, pretrained, head, labels, data, schedule, checkpoints, runtime,
          recipe, evalBatchSize, evalEvery, export);
    }

    /** From the pretraining run (its savedmodel, or one checkpoint) {@code p}; null: baseline. */
    public Options withPretrained(Path p) {
      return new Options(out, preset, p, head, labels, data, schedule, checkpoints, runtime,
          recipe, evalBatchSize, evalEvery, export);
    }

    public Options withHead(Classifier.Head h) {
      return new Options(out, preset, pretrained, h, labels, data, schedule, checkpoints, runtime,
          recipe, evalBatchSize, evalEvery, export);
    }

    public Options withLabels(Labels l) {
      return new Options(out, preset, pretrained, head, l, data, schedule, checkpoints, runtime,
          recipe, evalBatchSize, evalEvery, export);
    }

    public Options withData(DataOptions d) {
      return new Options(out, preset, pretrained, head, labels, d, schedule, checkpoints, runtime,
          recipe, evalBatchSize, evalEvery, export);
    }

    public Options withSchedule(ScheduleOptions s) {
      return new Options(out, preset, pretrained, head, labels, data, s, checkpoints, runtime,
          recipe, evalBatchSize, evalEvery, export);
    }

    public Options withCheckpoints(CheckpointOptions c) {
      return new Options(out, preset, pretrained, head, labels, data, schedule, c, runtime,
          recipe, evalBatchSize, evalEvery, export);
    }

    public Options withRuntime(RuntimeOptions r) {
      return new Options(out, preset, pretrained, head, labels, data, schedule, checkpoints, r,
          recipe, evalBatchSize, evalEvery, export);
    }

    public Options withRecipe(Recipe r) {
      return new Options(out, preset, pretrained, head, labels, data, schedule, checkpoints,
          runtime, r, evalBatchSize, evalEvery, export);
    }

    public Options withEvalBatchSize(int n) {
      return new Options(out, preset, pretrained, head, labels, data, schedule, checkpoints,
          runtime, recipe, n, evalEvery, export);
    }

    public Options withEvalEvery(int n) {
      return new Options(out, preset, pretrained, head, labels, data, schedule, checkpoints,
          runtime, recipe, evalBatchSize, n, export);
    }

    public Options withExport(boolean e) {
      return new Options(out, preset, pretrained, head, labels, data, schedule, checkpoints,
          runtime, recipe, evalBatchSize, evalEvery, e);
    }

    /** {@link #evalEvery()} resolved: the default (-1) is 250 with a validation split, else 0. */
    public int evalEvery(boolean hasValidation) {
      return evalEvery >= 0 ? evalEvery : hasValidation ? DEFAULT_EVAL_EVERY : 0;
    }
  }

  /**
   * What a run produced.
   *
   * @param restored variables restored from pretraining (empty for the baseline)
   * @param fresh variables that started from their initial values
   */
  public record Result(
      Path out,
      long steps,
      double finalLoss,
      double trainAccuracy,
      double testAccuracy,
      long testExamples,
      double validationAccuracy,
      int labeledExamples,
      double imagesPerSecond,
      double wallSeconds,
      List<String> restored,
      List<String> fresh) {}

  /** The config of a new run: the pretraining run's model, or the preset's for the baseline. */
  static Config newConfig(Options o, ImageSource src, LabelManifest manifest,
      Precision precision) {
    Pretrain.Config p = o.pretrained() == null ? null
        : PretrainedRun.configFor(o.pretrained(), o.data().dataset(), src.spec());
    String preset = p != null ? p.preset() : o.preset();
    ModelConfig model = (p != null ? p.model() : ModelFiles.resolve(preset))
        .withData(src.spec().channels(), src.spec().numClasses());
    ScheduleOptions s = o.schedule().forExamples(manifest.indices().length, o.data().batchSize());
    return new Config("finetune", o.data().dataset(), preset, model, o.head(),
        s.optimizerConfig(), o.data().batchSize(), s.steps(),
        o.runtime().seed(), manifest.fraction(), manifest.indices().length,
        o.pretrained() == null ? null : o.pretrained().toAbsolutePath().toString(),
        o.data().augment(), o.runtime().xla(), o.recipe(), precision.flag());
  }

  /** Runs (or resumes) a finetuning run into {@code o.out()}. */
  public static Result run(Options o) throws IOException {
    // Before anything is written: a bad or impossible --precision fails here.
    Precision.Choice precision =
        Precision.resolve(o.runtime().precision(), Devices.hasGpu(Devices.list()));
    // Before anything is written: the dataset, the label subset and the config are built here.
    RunSession.Opening<Config> opening = RunSession.opening("finetune", o, Config.class);
    Optional<Config> resumed = opening.resumed();
    ImageSource src = RunData.open(o.data(), resumed.map(c -> c.model().imageSize())
        .orElseGet(() -> (o.pretrained() != null ? PretrainedRun.config(o.pretrained()).model()
            : ModelFiles.resolve(o.preset())).imageSize()));
    LabeledSubset drawn = resumed.isPresent() ? null
        : LabeledSubset.draw(src, o.labels(), o.recipe(), o.runtime().seed());
    Config config = resumed.isPresent() ? resumed.get()
        : newConfig(o, src, drawn.labels(), precision.precision());
    RunSession.NewRunFiles files = dir -> {
      drawn.write(dir);
      RunData.save(dir, src.spec());
    };
    return opening.run(config, precision, files, run -> train(o, run, src,
        drawn != null ? drawn : LabeledSubset.read(run.dir(), config.recipe())));
  }

  /** Trains the opened run on the labels of {@code subset}, then evaluates it. */
  private static Result train(Options o, RunSession<Config> run, ImageSource src,
      LabeledSubset subset) throws IOException {
    Config config = run.config();
    LabelManifest manifest = subset.labels();
    if (config.pretrained() != null && run.startsFresh()) {
      PretrainedRun.warnIfUnfinished(Path.of(config.pretrained()));
    }
    LOG.info(String.format("finetune: %s head, %d labeled examples (%.1f%%), %s",
        config.head().name().toLowerCase(), manifest.indices().length,
        100 * manifest.fraction(),
        config.pretrained() == null ? "from random init (baseline)"
            : "from pretraining " + config.pretrained()));
    int evalEvery = o.evalEvery(subset.validation() != null);
    if (evalEvery > 0 && subset.validation() == null) {
      throw new IllegalArgumentException("--eval-every " + evalEvery + ": run " + run.dir().root()
          + " has no validation split (it was started without --validation N)");
    }

    try (Graph graph = new Graph()) {
      FinetuneGraph g = FinetuneGraph.build(graph, run, src, subset, o.evalBatchSize());
      try (Session session =
          new Session(graph, SessionConfigs.configProto(run.sessionOptions()))) {
        session.initialize();
        if (run.startsFresh()) {
          g.train().summaries().writeHParams(session, Json.tree(config));
        }
        List<String> restored = g.restorePretrained(session, run);
        Trainer.Validation during = evalEvery > 0
            ? new Trainer.Validation("validation_accuracy", evalEvery, g.validation()) : null;
        if (during != null && !run.complete()) {
          LOG.info(String.format(
              "finetune: validation accuracy every %d steps (%d images)", evalEvery,
              subset.validation().indices().length));
        }
        MetricsWriter.Metrics m = run.fit(session, g.train(), g.step().value(), null, during,
            g.atEnd(config.recipe().test(), manifest.indices().length));
        return g.result(run, m, restored);
      }
    }
  }
}
