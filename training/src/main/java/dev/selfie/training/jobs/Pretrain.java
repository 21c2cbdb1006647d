package dev.selfie.training.jobs;

import dev.selfie.data.ImageSource;
import dev.selfie.data.Pipeline;
import dev.selfie.data.PipelineOptions;
import dev.selfie.data.Pipelines;
import dev.selfie.data.Split;
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
import dev.selfie.training.parallel.DataParallel;
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
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TInt64;

/**
 * Selfie pretraining on the training split, without labels: the masked-patch selection loss of
 * {@link Selfie#pretrain}, SGD-Nesterov with warmup + cosine, checkpoints, TensorBoard, resume.
 */
public final class Pretrain {
  private Pretrain() {}

  /**
   * Everything needed to rebuild the graph and continue the run: saved as config.json.
   *
   * @param precision the precision the run started with ({@link Precision#flag}); null in
   *     config files from before the field (they ran float32). The graph and the checkpoints are
   *     float32 whatever it is.
   */
  public record Config(
      String kind,
      String dataset,
      String preset,
      ModelConfig model,
      OptimizerConfig optimizer,
      int batchSize,
      long steps,
      long seed,
      boolean augment,
      boolean xla,
      String precision) {
    public Config {
      if (!"pretrain".equals(kind)) {
        throw new IllegalArgumentException("config kind must be \"pretrain\", got " + kind);
      }
      if (batchSize < 1 || steps < 1) {
        throw new IllegalArgumentException("batch size and steps must be >= 1");
      }
    }
  }

  /**
   * Options of {@code selfie pretrain}: the groups every training job shares, and what only
   * pretraining has. Start from {@link #defaults} (the command line's) and change what differs.
   *
   * @param out the run directory
   * @param preset {@code --preset}: the model (paper, paper224, small, tiny); a resumed run keeps
   *     the one in its config.json
   * @param data the images; {@link DataOptions#unlabeledDir()} adds unlabeled ones (folder only)
   * @param numMasked masked patches per image (0 = the preset's)
   * @param variants the pretraining variants (null: {@link Variants#PAPER})
   * @param export at the end, export the run as a SavedModel into {@code out/savedmodel/1/}
   *     ({@link Export}; the CLI's default, {@code --no-export} turns it off)
   */
  public record Options(
      Path out,
      String preset,
      DataOptions data,
      ScheduleOptions schedule,
      CheckpointOptions checkpoints,
      RuntimeOptions runtime,
      int numMasked,
      Variants variants,
      boolean export) {

    public Options {
      Objects.requireNonNull(out, "out: the run directory is required");
      Objects.requireNonNull(data, "data");
      Objects.requireNonNull(schedule, "schedule");
      Objects.requireNonNull(checkpoints, "checkpoints");
      Objects.requireNonNull(runtime, "runtime");
      if (variants == null) {
        variants = Variants.PAPER;
      }
      checkPreset(preset);
    }

    /**
     * The defaults of {@code selfie pretrain} into {@code out}: preset small, the paper's
     * formulation, the groups' defaults, exported at the end.
     */
    public static Options defaults(Path out) {
      return new Options(out, "small", DataOptions.defaults(), ScheduleOptions.defaults(),
          CheckpointOptions.defaults(), RuntimeOptions.defaults(), 0, Variants.PAPER, true);
    }

    public Options withPreset(String p) {
      return new Options(out, p, data, schedule, checkpoints, runtime, numMasked, variants,
          export);
    }

    public Options withData(DataOptions d) {
      return new Options(out, preset, d, schedule, checkpoints, runtime, numMasked, variants,
          export);
    }

    public Options withSchedule(ScheduleOptions s) {
      return new Options(out, preset, data, s, checkpoints, runtime, numMasked, variants, export);
    }

    public Options withCheckpoints(CheckpointOptions c) {
      return new Options(out, preset, data, schedule, c, runtime, numMasked, variants, export);
    }

    public Options withRuntime(RuntimeOptions r) {
      return new Options(out, preset, data, schedule, checkpoints, r, numMasked, variants,
          export);
    }

    public Options withNumMasked(int n) {
      return new Options(out, preset, data, schedule, checkpoints, runtime, n, variants, export);
    }

    public Options withVariants(Variants v) {
      return new Options(out, preset, data, schedule, checkpoints, runtime, numMasked, v, export);
    }

    public Options withExport(boolean e) {
      return new Options(out, preset, data, schedule, checkpoints, runtime, numMasked, variants,
          e);
    }
  }

  /**
   * The pretraining variants ({@link ModelConfig}'s {@code contextPositions}, {@code queryMode},
   * {@code maskContent}, {@code temperature}), one flag each: {@code --context-positions},
   * {@code --query-mode add|mlp|attend}, {@code --mask-content}, {@code --temperature T}.
   * {@link #PAPER} (no flags) keeps the preset's formulation, the paper's.
   *
   * @param temperature divides the logits; 0 = the preset's (1, the raw dot product)
   */
  public record Variants(boolean contextPositions, ModelConfig.QueryMode queryMode,
      boolean maskContent, double temperature) {
    public static final Variants PAPER = new Variants(false, ModelConfig.QueryMode.ADD, false, 0);

    public Variants {
      if (queryMode == null) {
        throw new IllegalArgumentException("--query-mode must be add, mlp or attend");
      }
      if (!(temperature >= 0) || Double.isInfinite(temperature)) {
        throw new IllegalArgumentException(
            "--temperature must be > 0 (or 0 for the preset's), got " + temperature);
      }
    }

    /** From the flags' values; errors name the flag. */
    public static Variants parse(boolean contextPositions, String queryMode, boolean maskContent,
        double temperature) {
      ModelConfig.QueryMode mode = switch (queryMode == null ? "" : queryMode.toLowerCase(
          java.util.Locale.ROOT)) {
        case "add" -> ModelConfig.QueryMode.ADD;
        case "mlp" -> ModelConfig.QueryMode.MLP;
        case "attend" -> ModelConfig.QueryMode.ATTEND;
        default -> throw new IllegalArgumentException(
            "--query-mode must be add, mlp or attend, got '" + queryMode + "'");
      };
      return new Variants(contextPositions, mode, maskContent, temperature);
    }

    /** {@code model} with these variants. */
    public ModelConfig apply(ModelConfig model) {
      ModelConfig m = model.withContextPositions(contextPositions).withQueryMode(queryMode)
          .withMaskContent(maskContent);
      return temperature > 0 ? m.withTemperature(temperature) : m;
    }

    /** The flags that select these variants ("" for {@link #PAPER}), each with a leading space. */
    public String flags() {
      StringBuilder sb = new StringBuilder();
      if (contextPositions) {
        sb.append(" --context-positions");
      }
      if (queryMode != ModelConfig.QueryMode.ADD) {
        sb.append(" --query-mode ").append(queryMode.name().toLowerCase(java.util.Locale.ROOT));
      }
      if (maskContent) {
        sb.append(" --mask-content");
      }
      if (temperature > 0) {
        sb.append(" --temperature ").append(temperature);
      }
      return sb.toString();
    }
  }

  /** What a run produced (also in metrics.json). */
  public record Result(
      Path out,
      long steps,
      double finalLoss,
      double patchAccuracy,
      double chanceAccuracy,
      double imagesPerSecond,
      double wallSeconds) {}

  /** Fails, naming {@code --preset}, unless {@code preset} is a known model preset. */
  public static void checkPreset(String preset) {
    try {
      ModelConfig.preset(preset);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--preset: " + e.getMessage(), e);
    }
  }

  /** Builds the config of a new run from the options and the dataset. */
  static Config newConfig(Options o, ImageSource src, Precision precision) {
    ModelConfig model = ModelConfig.preset(o.preset())
        .withData(src.spec().channels(), src.spec().numClasses());
    if (model.imageSize() != src.spec().imageSize()) {
      throw new IllegalArgumentException("--preset " + o.preset() + " expects "
          + model.imageSize() + "x" + model.imageSize() + " images; dataset " + o.data().dataset()
          + " gives " + src.spec().imageSize());
    }
    if (o.numMasked() > 0) {
      model = model.withNumMasked(o.numMasked());
    }
    model = o.variants().apply(model);
    return new Config("pretrain", o.data().dataset(), o.preset(), model,
        o.schedule().optimizerConfig(), o.data().batchSize(), o.schedule().steps(),
        o.runtime().seed(), o.data().augment(), o.runtime().xla(), precision.flag());
  }

  /** Runs (or resumes) a pretraining run into {@code o.out()}. */
  public static Result run(Options o, PrintStream log) throws IOException {
    return run(o, DataParallel.Options.single(), log);
  }

  /**
   * Runs (or resumes) a pretraining run into {@code o.out()}, data-parallel over {@code
   * parallel}'s towers ({@code --replicas}, {@code --cluster}: see {@link DataParallel}).
   */
  public static Result run(Options o, DataParallel.Options parallel, PrintStream log)
      throws IOException {
    parallel.checkBatch(o.data().batchSize());
    // Before anything is written: a bad or impossible --precision fails here.
    Precision.Choice precision =
        Precision.resolve(o.runtime().precision(), Devices.hasGpu(Devices.list()));
    if (parallel.replicated() && precision.precision() == Precision.FLOAT16) {
      if (!o.runtime().precision().equals("auto")) {
        throw new IllegalArgumentException("--precision float16 (loss scaling) is not supported"
            + " with --replicas/--cluster yet; use --precision float32 there");
      }
      precision = new Precision.Choice(Precision.FLOAT32,
          "auto: float16 loss scaling is not wired into --replicas/--cluster yet");
    }
    // Before anything is written: the dataset, the preset and the image size are checked here.
    RunDir at = new RunDir(o.out());
    ImageSource src = RunData.open(o.data().dataset(), o.data().dataDir(),
        RunData.imageSize(at, o.checkpoints().resume(), o.preset()), o.data().unlabeledDir());
    Config fresh = o.checkpoints().resume() && Files.exists(at.config())
        ? null : newConfig(o, src, precision.precision());
    RunDir dir = RunDir.create(o.out());
    Precision.Choice p = precision;
    return Trainer.inRun(dir, log, "pretrain", o.export(),
        runLog -> train(o, parallel, p, dir, src, fresh, runLog));
  }

  /** The run in the created and locked {@code dir}; {@code fresh}: the config of a new run. */
  private static Result train(Options o, DataParallel.Options parallel,
      Precision.Choice precision, RunDir dir, ImageSource src, Config fresh, PrintStream log)
      throws IOException {
    CheckpointManager checkpoints =
        new CheckpointManager(dir.checkpoints(), o.checkpoints().keep());
    Config cfg;
    long startStep = 0;
    Optional<CheckpointManager.Checkpoint> resumeFrom = Optional.empty();
    if (fresh == null) {
      cfg = dir.readConfig(Config.class);
      if (!cfg.dataset().equals(o.data().dataset())) {
        throw new IllegalArgumentException("--resume: run " + dir.root() + " was trained on "
            + cfg.dataset() + ", not " + o.data().dataset());
      }
      if (!o.variants().equals(Variants.PAPER)
          && !o.variants().apply(cfg.model()).equals(cfg.model())) {
        throw new IllegalArgumentException("--resume: run " + dir.root() + " was pretrained with"
            + " other variant flags than" + o.variants().flags() + " (its config.json: "
            + "contextPositions=" + cfg.model().contextPositions() + ", queryMode="
            + cfg.model().queryMode() + ", maskContent=" + cfg.model().maskContent()
            + ", temperature=" + cfg.model().temperature() + "); resume reads them from there");
      }
      resumeFrom = checkpoints.latest();
      startStep = resumeFrom.map(CheckpointManager.Checkpoint::step).orElse(0L);
      log.println(resumeFrom.isPresent()
          ? "resuming " + dir.root() + " from step " + startStep + " of " + cfg.steps()
          : "resuming " + dir.root() + ": no valid checkpoint, starting at step 0");
    } else {
      if (checkpoints.latest().isPresent()) {
        throw new IllegalArgumentException("--out " + dir.root() + " already holds a run with"
            + " checkpoints; pass --resume to continue it, or choose another --out");
      }
      cfg = fresh;
      dir.writeConfig(cfg);
      RunData.save(dir, src.spec());
    }
    final Config config = cfg;
    ModelConfig model = config.model();
    SessionConfigs.Options sessionOptions =
        Devices.resolve(o.runtime().threads(), 0, o.runtime().xla() || config.xla(), true, log)
            .withPrecision(precision.precision());
    log.println("precision: " + precision.describe());
    if (o.checkpoints().resume()
        && precision.precision() != Precision.ofRecorded(config.precision())) {
      log.println("precision: the run started in " + Precision.ofRecorded(config.precision()).flag()
          + "; its float32 weights continue in " + precision.precision().flag());
    }
    if (parallel.replicated()) {
      return DataParallel.pretrain(o, parallel, config, dir, checkpoints, startStep, resumeFrom,
          src, sessionOptions, log);
    }

    try (Graph graph = new Graph()) {
      Ops tf = Ops.create(graph);
      PipelineOptions po = PipelineOptions.train(config.batchSize(), config.seed())
          .withAugment(config.augment())
          .withSkipElements(startStep * config.batchSize());
      Pipeline data = Pipelines.build(tf.withSubScope("data"), src, Split.TRAIN, po);
      Ops mtf = tf.withDevice(Devices.modelDevice(sessionOptions.gpu()));
      VarStore vars = new VarStore(Ops.create(graph).withDevice(
          Devices.modelDevice(sessionOptions.gpu())), config.seed());
      GlobalStep step = GlobalStep.create(tf);
      Placeholder<TInt64> seed = tf.withName("seed")
          .placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
      Selfie.PretrainOutputs out = Selfie.pretrain(mtf, vars, model, data.images(), seed, true);
      Optimizers.TrainOp train =
          Optimizers.minimize(mtf, graph, out.loss(), vars, config.optimizer(), step,
              precision.precision().lossScale());
      Summaries summaries =
          Summaries.create(tf, dir.tensorboard(), o.checkpoints().summaryEvery())
          .scalar("loss", out.loss())
          .scalar("patch_accuracy", out.accuracy())
          .scalar("learning_rate", train.learningRate())
          .scalar("gradient_norm", train.gradientNorm())
          .fedScalar("images_per_second")
          .image("masked_and_picked", PretrainImages.panels(tf, model, data.images(),
              out.masked(), out.logits(), Math.min(3, config.batchSize())), 3)
          .histograms(vars);
      Map<String, org.tensorflow.Operand<org.tensorflow.types.TFloat32>> metrics =
          new LinkedHashMap<>();
      metrics.put("patch_accuracy", out.accuracy());
      metrics.put("learning_rate", train.learningRate());

      try (Session session = new Session(graph, SessionConfigs.configProto(sessionOptions))) {
        session.initialize();
        if (startStep == 0) {
          summaries.writeHParams(session, Json.tree(config));
        }
        if (resumeFrom.isPresent()) {
          CheckpointManager.restore(session, resumeFrom.get());
          long restored = step.read(session);
          if (restored != startStep) {
            throw new IllegalStateException("checkpoint " + resumeFrom.get().dir()
                + " holds global_step " + restored + ", expected " + startStep);
          }
        }
        if (startStep >= config.steps()) {
          log.println("run already complete (" + startStep + " steps)");
          MetricsWriter.Metrics m = MetricsWriter.read(dir.metrics());
          return result(dir, m, model);
        }
        Trainer.Loop loop = new Trainer.Loop("pretrain", config.seed(), config.batchSize(),
            o.checkpoints().checkpointEvery(), o.checkpoints().logEvery(),
            s -> new CheckpointManager.RunState(config.seed(), s * config.batchSize(), config),
            precision.precision());
        MetricsWriter.Metrics m = Trainer.train(session, new Trainer.Graphs(seed, train,
                out.loss(), metrics, summaries), loop, dir, checkpoints, startStep,
            config.steps(), sessionOptions.xla(), log);
        Result r = result(dir, m, model);
        log.printf("pretrain: %d steps, loss %.4f, patch accuracy %.3f (chance %.3f), %.1f img/s%n",
            r.steps(), r.finalLoss(), r.patchAccuracy(), r.chanceAccuracy(), r.imagesPerSecond());
        return r;
      }
    }
  }

  public static Result result(RunDir dir, MetricsWriter.Metrics m, ModelConfig model) {
    return new Result(dir.root(), m.steps(), m.meanLoss(),
        m.metrics().getOrDefault("patch_accuracy", Double.NaN), 1.0 / model.numMasked(),
        m.imagesPerSecond(), m.wallSeconds());
  }
}
