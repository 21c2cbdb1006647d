package dev.selfie.training.jobs;

import dev.selfie.data.ImageSource;
import dev.selfie.data.Split;
import dev.selfie.data.pipeline.Pipeline;
import dev.selfie.data.pipeline.Pipelines;
import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.ModelConfigBuilder;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.loop.RunSession;
import dev.selfie.training.loop.Summaries;
import dev.selfie.training.loop.Trainer;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.RuntimeOptions;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.options.TrainingOptions;
import dev.selfie.training.parallel.DataParallel;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.MetricsWriter;
import dev.selfie.training.run.ModelFiles;
import dev.selfie.training.run.RunConfig;
import dev.selfie.training.run.RunDir;
import dev.selfie.training.runtime.Devices;
import dev.selfie.training.runtime.Precision;
import dev.selfie.training.runtime.SessionConfigs;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * Selfie pretraining on the training split, without labels: the masked-patch selection loss of
 * {@link Selfie#pretrain}, SGD-Nesterov with warmup + cosine, checkpoints, TensorBoard, resume.
 */
public final class Pretrain {
  private static final Logger LOG = LoggerFactory.getLogger(Pretrain.class);

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
      String precision) implements RunConfig {
    public Config {
      RunConfig.requireKind("pretrain", kind);
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
      boolean export) implements TrainingOptions {

    public Options {
      TrainingOptions.requireShared(out, data, schedule, checkpoints, runtime);
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
      ModelConfigBuilder m = model.toBuilder().contextPositions(contextPositions)
          .queryMode(queryMode).maskContent(maskContent);
      return (temperature > 0 ? m.temperature(temperature) : m).build();
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
      ModelFiles.resolve(preset);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--preset: " + e.getMessage(), e);
    }
  }

  /**
   * Builds the config of a new run from the options, the model {@code o.preset()} names (resolved
   * by the caller) and the dataset.
   */
  static Config newConfig(Options o, ModelConfig preset, ImageSource src, Precision precision) {
    ModelConfig model = preset.withData(src.spec().channels(), src.spec().numClasses());
    if (model.imageSize() != src.spec().imageSize()) {
      throw new IllegalArgumentException("--preset " + o.preset() + " expects "
          + model.imageSize() + "x" + model.imageSize() + " images; dataset " + o.data().dataset()
          + " gives " + src.spec().imageSize());
    }
    if (o.numMasked() > 0) {
      model = model.withNumMasked(o.numMasked());
    }
    model = o.variants().apply(model);
    ScheduleOptions s = o.schedule().forExamples(src.size(Split.TRAIN), o.data().batchSize());
    return new Config("pretrain", o.data().dataset(), o.preset(), model,
        s.optimizerConfig(), o.data().batchSize(), s.steps(),
        o.runtime().seed(), o.data().augment(), o.runtime().xla(), precision.flag());
  }

  /** Runs (or resumes) a pretraining run into {@code o.out()}. */
  public static Result run(Options o) throws IOException {
    return run(o, DataParallel.Options.single());
  }

  /**
   * Runs (or resumes) a pretraining run into {@code o.out()}, data-parallel over {@code
   * parallel}'s towers ({@code --replicas}, {@code --cluster}: see {@link DataParallel}).
   */
  public static Result run(Options o, DataParallel.Options parallel)
      throws IOException {
    parallel.checkBatch(o.data().batchSize());
    // Before anything is written: a bad or impossible --precision fails here.
    Precision.Choice precision = precision(o.runtime().precision(), parallel);
    // Before anything is written: the dataset, the preset and the image size are checked here.
    RunSession.Opening<Config> opening = RunSession.opening("pretrain", o, Config.class);
    opening.resumed().ifPresent(c -> checkResumable(o, c));
    // The model: the resumed run's, or the one --preset names (a preset or a model file, read once).
    ModelConfig model = opening.resumed().map(Config::model)
        .orElseGet(() -> ModelFiles.resolve(o.preset()));
    ImageSource src = RunData.open(o.data(), model.imageSize());
    Config config = opening.resumed()
        .orElseGet(() -> newConfig(o, model, src, precision.precision()));
    return opening.run(config, precision, dir -> RunData.save(dir, src.spec()),
        run -> parallel.replicated() ? DataParallel.pretrain(parallel, run, src) : train(run, src));
  }

  /** {@code --precision}, resolved for this machine and the towers of {@code parallel}. */
  private static Precision.Choice precision(String flag, DataParallel.Options parallel) {
    Precision.Choice precision = Precision.resolve(flag, Devices.hasGpu(Devices.list()));
    if (parallel.replicated() && precision.precision() == Precision.FLOAT16) {
      if (!flag.equals("auto")) {
        throw new IllegalArgumentException("--precision float16 (loss scaling) is not supported"
            + " with --replicas/--cluster yet; use --precision float32 there");
      }
      precision = new Precision.Choice(Precision.FLOAT32,
          "auto: float16 loss scaling is not wired into --replicas/--cluster yet");
    }
    return precision;
  }

  /** Fails unless the run {@code cfg} of {@code --resume} continues with {@code o}'s flags. */
  private static void checkResumable(Options o, Config cfg) {
    Path run = new RunDir(o.out()).root();
    if (!cfg.dataset().equals(o.data().dataset())) {
      throw new IllegalArgumentException("--resume: run " + run + " was trained on "
          + cfg.dataset() + ", not " + o.data().dataset());
    }
    if (!o.variants().equals(Variants.PAPER)
        && !o.variants().apply(cfg.model()).equals(cfg.model())) {
      throw new IllegalArgumentException("--resume: run " + run + " was pretrained with"
          + " other variant flags than" + o.variants().flags() + " (its config.json: "
          + "contextPositions=" + cfg.model().contextPositions() + ", queryMode="
          + cfg.model().queryMode() + ", maskContent=" + cfg.model().maskContent()
          + ", temperature=" + cfg.model().temperature() + "); resume reads them from there");
    }
  }

  /** Trains the opened run on one device. */
  private static Result train(RunSession<Config> run, ImageSource src) {
    Config config = run.config();
    ModelConfig model = config.model();
    SessionConfigs.Options sessionOptions = run.sessionOptions();
    try (Graph graph = new Graph()) {
      Ops tf = Ops.create(graph);
      Pipeline data = Pipelines.build(tf.withSubScope("data"), src, Split.TRAIN,
          run.trainPipeline());
      Ops mtf = tf.withDevice(Devices.modelDevice(sessionOptions.gpu()));
      VarStore vars = new VarStore(Ops.create(graph).withDevice(
          Devices.modelDevice(sessionOptions.gpu())), config.seed());
      GlobalStep step = GlobalStep.create(tf);
      Placeholder<TInt64> seed = tf.withName("seed")
          .placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
      Selfie.PretrainOutputs out = Selfie.pretrain(mtf, vars, model, data.images(), seed, true);
      Optimizers.TrainOp train = Optimizers.minimize(mtf, graph, out.loss(), vars,
          config.optimizer(), step, sessionOptions.precision().lossScale());
      Summaries summaries = run.summaries(tf)
          .scalar("loss", out.loss())
          .scalar("patch_accuracy", out.accuracy())
          .scalar("learning_rate", train.learningRate())
          .scalar("gradient_norm", train.gradientNorm())
          .fedScalar("images_per_second")
          .image("masked_and_picked", PretrainImages.panels(tf, model, data.images(),
              out.masked(), out.logits(), Math.min(3, config.batchSize())), 3)
          .histograms(vars);
      Map<String, Operand<TFloat32>> metrics = new LinkedHashMap<>();
      metrics.put("patch_accuracy", out.accuracy());
      metrics.put("learning_rate", train.learningRate());

      try (Session session = new Session(graph, SessionConfigs.configProto(sessionOptions))) {
        session.initialize();
        if (run.startStep() == 0) {
          summaries.writeHParams(session, Json.tree(config));
        }
        MetricsWriter.Metrics m = run.fit(session,
            new Trainer.Graphs(seed, train, out.loss(), metrics, summaries), step.value());
        Result r = result(run.dir(), m, model);
        if (!run.complete()) {
          LOG.info(String.format("pretrain: %d steps, loss %.4f, patch accuracy %.3f (chance %.3f),"
                  + " %.1f img/s", r.steps(), r.finalLoss(), r.patchAccuracy(),
              r.chanceAccuracy(), r.imagesPerSecond()));
        }
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
