package dev.selfie.training.jobs;

import dev.selfie.data.ImageSource;
import dev.selfie.data.LabelManifest;
import dev.selfie.data.Pipeline;
import dev.selfie.data.PipelineOptions;
import dev.selfie.data.Pipelines;
import dev.selfie.data.Split;
import dev.selfie.graph.Classifier;
import dev.selfie.graph.Losses;
import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.loop.Summaries;
import dev.selfie.training.loop.Trainer;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.RuntimeOptions;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.run.CheckpointManager;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.MetricsWriter;
import dev.selfie.training.run.RunDir;
import dev.selfie.training.runtime.Devices;
import dev.selfie.training.runtime.Precision;
import dev.selfie.training.runtime.SessionConfigs;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * Finetuning on a class-balanced fraction of the labels: the full ResNet-50 v2 (or the hybrid
 * head) whose stem + stages 1-3 start from a pretraining run's weights, or from random init (the
 * supervised baseline: identical network, schedule and label manifest). Ends with the test-set
 * accuracy in metrics.json.
 */
public final class Finetune {
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
      String precision) {
    public Config {
      if (!"finetune".equals(kind)) {
        throw new IllegalArgumentException("config kind must be \"finetune\", got " + kind);
      }
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
      boolean export) {
    /** The default of {@code --eval-every} with a validation split. */
    public static final int DEFAULT_EVAL_EVERY = 250;

    public Options {
      Objects.requireNonNull(out, "out: the run directory is required");
      Objects.requireNonNull(head, "head");
      Objects.requireNonNull(labels, "labels");
      Objects.requireNonNull(data, "data");
      Objects.requireNonNull(schedule, "schedule");
      Objects.requireNonNull(checkpoints, "checkpoints");
      Objects.requireNonNull(runtime, "runtime");
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
    ModelConfig model = (p != null ? p.model() : ModelConfig.preset(preset))
        .withData(src.spec().channels(), src.spec().numClasses());
    return new Config("finetune", o.data().dataset(), preset, model, o.head(),
        o.schedule().optimizerConfig(), o.data().batchSize(), o.schedule().steps(),
        o.runtime().seed(), manifest.fraction(), manifest.indices().length,
        o.pretrained() == null ? null : o.pretrained().toAbsolutePath().toString(),
        o.data().augment(), o.runtime().xla(), o.recipe(), precision.flag());
  }

  /** Runs (or resumes) a finetuning run into {@code o.out()}. */
  public static Result run(Options o, PrintStream log) throws IOException {
    // Before anything is written: a bad or impossible --precision fails here.
    Precision.Choice precision =
        Precision.resolve(o.runtime().precision(), Devices.hasGpu(Devices.list()));
    // Before anything is written: the dataset, the label subset and the config are built here.
    RunDir at = new RunDir(o.out());
    ImageSource src = RunData.open(o.data().dataset(), o.data().dataDir(),
        RunData.imageSize(at, o), null);
    NewRun fresh = o.checkpoints().resume() && Files.exists(at.config())
        ? null : newRun(o, src, precision.precision());
    RunDir dir = RunDir.create(o.out());
    return Trainer.inRun(dir, log, "finetune", o.export(),
        runLog -> train(o, precision, dir, src, fresh, runLog));
  }

  /** What a new run writes at start: its config, labeled subset and validation split (or null). */
  private record NewRun(Config config, LabelManifest labels, LabelManifest validation) {}

  private static NewRun newRun(Options o, ImageSource src, Precision precision)
      throws IOException {
    Recipe recipe = o.recipe();
    LabelManifest validation = null;
    LabelManifest manifest;
    if (recipe.validation() > 0) {
      validation = LabelManifest.validation(src, Split.TRAIN, recipe.validation(),
          recipe.validationSeed());
    }
    if (o.labels().manifest() != null) {
      manifest = LabelManifest.read(o.labels().manifest());
      if (validation != null && !manifest.disjointFrom(validation)) {
        throw new IllegalArgumentException("--label-manifest " + o.labels().manifest()
            + " shares images with the --validation " + recipe.validation()
            + " split (seed " + recipe.validationSeed() + "): the validation images must"
            + " never be trained on");
      }
    } else {
      manifest = LabelManifest.create(src, Split.TRAIN, o.labels().fraction(), o.runtime().seed(),
          validation);
    }
    manifest.validateAgainst(src);
    return new NewRun(newConfig(o, src, manifest, precision), manifest, validation);
  }

  /** The run in the created and locked {@code dir}; {@code start}: what a new run starts with. */
  private static Result train(Options o, Precision.Choice precision, RunDir dir,
      ImageSource src, NewRun start, PrintStream log) throws IOException {
    CheckpointManager checkpoints =
        new CheckpointManager(dir.checkpoints(), o.checkpoints().keep());
    Config cfg;
    LabelManifest manifest;
    long startStep = 0;
    Optional<CheckpointManager.Checkpoint> resumeFrom = Optional.empty();
    LabelManifest validation = null;
    if (start == null) {
      cfg = dir.readConfig(Config.class);
      manifest = LabelManifest.read(dir.labelsManifest());
      if (cfg.recipe().validation() > 0) {
        validation = LabelManifest.read(dir.validationManifest());
      }
      resumeFrom = checkpoints.latest();
      startStep = resumeFrom.map(CheckpointManager.Checkpoint::step).orElse(0L);
      log.println("resuming " + dir.root() + " from step " + startStep + " of " + cfg.steps());
    } else {
      if (checkpoints.latest().isPresent()) {
        throw new IllegalArgumentException("--out " + dir.root() + " already holds a run with"
            + " checkpoints; pass --resume to continue it, or choose another --out");
      }
      manifest = start.labels();
      validation = start.validation();
      manifest.write(dir.labelsManifest());
      if (validation != null) {
        validation.write(dir.validationManifest());
      }
      cfg = start.config();
      dir.writeConfig(cfg);
      RunData.save(dir, src.spec());
    }
    final Config config = cfg;
    final Recipe recipe = cfg.recipe();
    ModelConfig model = config.model();
    SessionConfigs.Options sessionOptions =
        Devices.resolve(o.runtime().threads(), 0, o.runtime().xla() || config.xla(), true, log)
            .withPrecision(precision.precision());
    log.println("precision: " + precision.describe());
    if (config.pretrained() != null && resumeFrom.isEmpty()) {
      PretrainedRun.warnIfUnfinished(Path.of(config.pretrained()), log);
    }
    log.printf("finetune: %s head, %d labeled examples (%.1f%%), %s%n",
        config.head().name().toLowerCase(), manifest.indices().length,
        100 * manifest.fraction(),
        config.pretrained() == null ? "from random init (baseline)"
            : "from pretraining " + config.pretrained());

    try (Graph graph = new Graph()) {
      Ops tf = Ops.create(graph);
      PipelineOptions po = PipelineOptions.train(config.batchSize(), config.seed())
          .withAugment(config.augment())
          .withIndices(manifest.indices())
          .withSkipElements(startStep * config.batchSize());
      Pipeline train = Pipelines.build(tf.withSubScope("train_data"), src, Split.TRAIN, po);
      Pipeline test = Pipelines.build(tf.withSubScope("test_data"), src, Split.TEST,
          PipelineOptions.eval(o.evalBatchSize()));
      Ops mtf = tf.withDevice(Devices.modelDevice(sessionOptions.gpu()));
      VarStore vars = new VarStore(
          Ops.create(graph).withDevice(Devices.modelDevice(sessionOptions.gpu())), config.seed());
      GlobalStep step = GlobalStep.create(tf);
      Placeholder<TInt64> seed = tf.withName("seed")
          .placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
      Classifier.ClassifierOutputs out = Classifier.build(mtf.withSubScope("train"), vars, model,
          train.images(), config.head(), seed, true);
      Operand<TFloat32> loss = Losses.crossEntropy(mtf, out.logits(), train.labels());
      Operand<TFloat32> accuracy = Losses.accuracy(mtf, out.logits(), train.labels());
      Classifier.ClassifierOutputs eval = Classifier.build(mtf.withSubScope("eval"), vars, model,
          test.images(), config.head(), null, false);
      Evaluation evaluation = new Evaluation(tf, test, eval.logits());
      Evaluation validating = null;
      if (validation != null) {
        Pipeline val = Pipelines.build(tf.withSubScope("validation_data"), src, Split.TRAIN,
            PipelineOptions.eval(o.evalBatchSize()).withIndices(validation.indices()));
        validating = new Evaluation(tf, val, Classifier.build(mtf.withSubScope("validation"),
            vars, model, val.images(), config.head(), null, false).logits());
      }
      // The transfer split is taken before the optimizer adds its slots to the store.
      Selfie.Transfer transfer = Selfie.pretrainedNames(vars, config.head());
      Optimizers.Layerwise layerwise = config.pretrained() != null && recipe.layerwise()
          ? new Optimizers.Layerwise(java.util.Set.copyOf(transfer.fromPretraining()),
              recipe.pretrainedLrScale(), recipe.headSteps())
          : null;
      if (layerwise != null) {
        log.printf("finetune: pretrained layers at %.3g x the learning rate%s%n",
            recipe.pretrainedLrScale(), recipe.headSteps() > 0
                ? ", frozen for the first " + recipe.headSteps() + " steps (head first)" : "");
      }
      Optimizers.TrainOp trainOp =
          Optimizers.minimize(mtf, graph, loss, vars, config.optimizer(), step, layerwise,
              precision.precision().lossScale());
      Summaries summaries =
          Summaries.create(tf, dir.tensorboard(), o.checkpoints().summaryEvery())
          .scalar("loss", loss)
          .scalar("train_accuracy", accuracy)
          .scalar("learning_rate", trainOp.learningRate())
          .fedScalar("images_per_second")
          .fedScalar("test_accuracy")
          .fedScalar("validation_accuracy")
          .histograms(vars);
      Map<String, Operand<TFloat32>> metrics = new LinkedHashMap<>();
      metrics.put("train_accuracy", accuracy);
      metrics.put("learning_rate", trainOp.learningRate());

      try (Session session = new Session(graph, SessionConfigs.configProto(sessionOptions))) {
        session.initialize();
        if (resumeFrom.isEmpty()) {
          summaries.writeHParams(session, Json.tree(config));
        }
        List<String> restored = List.of();
        // The baseline starts every variable from its initial value.
        List<String> fresh = config.pretrained() == null
            ? java.util.stream.Stream.concat(transfer.fromPretraining().stream(),
                transfer.fresh().stream()).sorted().toList()
            : transfer.fresh();
        if (resumeFrom.isPresent()) {
          CheckpointManager.restore(session, resumeFrom.get());
        } else if (config.pretrained() != null) {
          restored = PretrainedRun.restore(session, vars, transfer,
              Path.of(config.pretrained()), dir, log);
          fresh = transfer.fresh();
        }
        long end = config.steps();
        Trainer.Loop loop = new Trainer.Loop("finetune", config.seed(), config.batchSize(),
            o.checkpoints().checkpointEvery(), o.checkpoints().logEvery(),
            s -> new CheckpointManager.RunState(config.seed(), s * config.batchSize(), config),
            precision.precision());
        MetricsWriter.Metrics m;
        int evalEvery = o.evalEvery(validating != null);
        if (evalEvery > 0 && validating == null) {
          throw new IllegalArgumentException("--eval-every " + evalEvery + ": run " + dir.root()
              + " has no validation split (it was started without --validation N)");
        }
        Trainer.Validation during = evalEvery > 0
            ? new Trainer.Validation("validation_accuracy", evalEvery, validating) : null;
        if (during != null && startStep < end) {
          log.printf("finetune: validation accuracy every %d steps (%d images)%n", evalEvery,
              validation.indices().length);
        }
        if (startStep < end) {
          m = Trainer.train(session, new Trainer.Graphs(seed, trainOp, loss, metrics, summaries),
              loop, dir, checkpoints, startStep, end, sessionOptions.xla(), during, log);
        } else {
          m = MetricsWriter.read(dir.metrics());
        }
        Map<String, Double> fed = new LinkedHashMap<>();
        fed.put("images_per_second", m.imagesPerSecond());
        Map<String, Double> all = new LinkedHashMap<>(m.metrics());
        Evaluation.Accuracy val = null;
        if (validating != null) {
          val = validating.run(session);
          fed.put("validation_accuracy", val.value());
          all.put("validation_accuracy", val.value());
          all.put("validation_examples", (double) val.total());
        }
        Evaluation.Accuracy acc = recipe.test() ? evaluation.run(session)
            : new Evaluation.Accuracy(0, 0);
        if (recipe.test()) {
          fed.put("test_accuracy", acc.value());
          all.put("test_accuracy", acc.value());
          all.put("test_examples", (double) acc.total());
        }
        summaries.writeFed(session, end, fed);
        summaries.flush(session);
        all.put("labeled_examples", (double) manifest.indices().length);
        MetricsWriter.Metrics withTest = new MetricsWriter.Metrics(m.steps(), m.stepsRun(),
            m.finalLoss(), m.meanLoss(), all, m.window(), m.wallSeconds(), m.imagesPerSecond(),
            m.finishedAt(), m.precision());
        MetricsWriter.write(dir.metrics(), withTest);
        Result r = new Result(dir.root(), m.steps(), m.meanLoss(),
            m.metrics().getOrDefault("train_accuracy", Double.NaN), acc.value(), acc.total(),
            val == null ? Double.NaN : val.value(), manifest.indices().length,
            m.imagesPerSecond(), m.wallSeconds(), restored, fresh);
        log.printf("finetune: %d steps, loss %.4f", r.steps(), r.finalLoss());
        if (val != null) {
          log.printf(", validation accuracy %.2f%% (%d images)", 100 * val.value(), val.total());
        }
        if (recipe.test()) {
          log.printf(", test accuracy %.2f%% (%d images)", 100 * r.testAccuracy(),
              r.testExamples());
        } else {
          log.print(", test set not read (--no-test)");
        }
        log.println();
        return r;
      }
    }
  }
}
