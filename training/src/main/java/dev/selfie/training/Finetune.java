package dev.selfie.training;

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
import dev.selfie.savedmodels.WeightLoader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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
      String precision) {
    public Config {
      if (!"finetune".equals(kind)) {
        throw new IllegalArgumentException("config kind must be \"finetune\", got " + kind);
      }
    }
  }

  /**
   * Options of {@code selfie finetune}.
   *
   * @param pretrained a pretraining run directory or its savedmodel directory; null = baseline
   * @param labelManifest reuse these labeled indices (overrides labelFraction)
   * @param precision {@code --precision}: float32, bfloat16, float16 or auto ({@link Precision})
   */
  public record Options(
      String dataset,
      Path dataDir,
      String preset,
      double labelFraction,
      Path labelManifest,
      long seed,
      Path out,
      Path pretrained,
      Classifier.Head head,
      long steps,
      int batchSize,
      String optimizer,
      double lr,
      long warmup,
      double weightDecay,
      boolean augment,
      boolean xla,
      boolean resume,
      long checkpointEvery,
      int keep,
      int logEvery,
      int summaryEvery,
      int evalBatchSize,
      int threads,
      String precision) {
    public Options {
      precision = Precision.checkFlag(precision);
    }

    /** float32. */
    public Options(String dataset, Path dataDir, String preset, double labelFraction,
        Path labelManifest, long seed, Path out, Path pretrained, Classifier.Head head, long steps,
        int batchSize, String optimizer, double lr, long warmup, double weightDecay,
        boolean augment, boolean xla, boolean resume, long checkpointEvery, int keep,
        int logEvery, int summaryEvery, int evalBatchSize, int threads) {
      this(dataset, dataDir, preset, labelFraction, labelManifest, seed, out, pretrained, head,
          steps, batchSize, optimizer, lr, warmup, weightDecay, augment, xla, resume,
          checkpointEvery, keep, logEvery, summaryEvery, evalBatchSize, threads, "float32");
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
      int labeledExamples,
      double imagesPerSecond,
      double wallSeconds,
      List<String> restored,
      List<String> fresh) {}

  /** The model config of the pretraining run at {@code path} (run dir or its savedmodel dir). */
  public static Pretrain.Config pretrainedConfig(Path path) {
    for (Path p : List.of(path.resolve("config.json"),
        path.resolve("assets.extra").resolve("config.json"),
        path.resolveSibling("config.json"))) {
      if (Files.isRegularFile(p)) {
        return Json.read(p, Pretrain.Config.class);
      }
    }
    throw new IllegalArgumentException("--pretrained " + path + ": no config.json found (expected"
        + " a pretraining run directory or its savedmodel directory)");
  }

  /** The weights of a pretraining run: its newest checkpoint, or the SavedModel's variables. */
  static Path pretrainedWeights(Path path) {
    if (Files.isDirectory(path.resolve("checkpoints"))) {
      Optional<CheckpointManager.Checkpoint> c =
          new CheckpointManager(path.resolve("checkpoints"), Integer.MAX_VALUE).latest();
      if (c.isPresent()) {
        return Path.of(c.get().prefix());
      }
    }
    return WeightLoader.checkpointPrefix(path);
  }

  /**
   * Says so when {@code run} is a pretraining run directory whose newest checkpoint is before its
   * configured last step (still running, or stopped): finetuning then starts from that checkpoint.
   */
  static void warnIfUnfinished(Path run, PrintStream log) {
    if (!Files.isDirectory(run.resolve("checkpoints"))
        || !Files.isRegularFile(run.resolve("config.json"))) {
      return;
    }
    long steps = pretrainedConfig(run).steps();
    new CheckpointManager(run.resolve("checkpoints"), Integer.MAX_VALUE).latest()
        .filter(c -> c.step() < steps)
        .ifPresent(c -> log.printf("warning: pretraining run %s is unfinished (newest checkpoint at"
            + " step %d of %d); finetuning from that checkpoint%n", run, c.step(), steps));
  }

  static Config newConfig(Options o, ImageSource src, LabelManifest manifest,
      Precision precision) {
    String preset = o.preset();
    ModelConfig model;
    if (o.pretrained() != null) {
      Pretrain.Config p = pretrainedConfig(o.pretrained());
      if (!p.dataset().equals(o.dataset())) {
        // Allowed (transfer), but the image geometry must match.
        if (p.model().imageSize() != src.spec().imageSize()
            || p.model().channels() != src.spec().channels()) {
          throw new IllegalArgumentException("--pretrained " + o.pretrained() + " was trained on "
              + p.dataset() + " images " + p.model().imageSize() + "x" + p.model().imageSize()
              + "x" + p.model().channels() + "; " + o.dataset() + " has "
              + src.spec().imageSize() + "x" + src.spec().imageSize() + "x"
              + src.spec().channels());
        }
      }
      preset = p.preset();
      model = p.model().withData(src.spec().channels(), src.spec().numClasses());
    } else {
      model = ModelConfig.preset(preset)
          .withData(src.spec().channels(), src.spec().numClasses());
    }
    OptimizerConfig opt =
        Pretrain.optimizer(o.optimizer(), o.lr(), o.warmup(), o.steps(), o.weightDecay());
    return new Config("finetune", o.dataset(), preset, model, o.head(), opt, o.batchSize(),
        o.steps(), o.seed(), manifest.fraction(), manifest.indices().length,
        o.pretrained() == null ? null : o.pretrained().toAbsolutePath().toString(),
        o.augment(), o.xla(), precision.flag());
  }

  /** Runs (or resumes) a finetuning run into {@code o.out()}. */
  public static Result run(Options o, PrintStream log) throws IOException {
    // Before anything is written: a bad or impossible --precision fails here.
    Precision.Choice precision = Precision.resolve(o.precision(), Devices.hasGpu(Devices.list()));
    RunDir dir = RunDir.create(o.out());
    CheckpointManager checkpoints = new CheckpointManager(dir.checkpoints(), o.keep());
    ImageSource src = RunData.open(o.dataset(), o.dataDir(), RunData.imageSize(dir, o), null);
    Config cfg;
    LabelManifest manifest;
    long startStep = 0;
    Optional<CheckpointManager.Checkpoint> resumeFrom = Optional.empty();
    if (o.resume() && Files.exists(dir.config())) {
      cfg = dir.readConfig(Config.class);
      manifest = LabelManifest.read(dir.labelsManifest());
      resumeFrom = checkpoints.latest();
      startStep = resumeFrom.map(CheckpointManager.Checkpoint::step).orElse(0L);
      log.println("resuming " + dir.root() + " from step " + startStep + " of " + cfg.steps());
    } else {
      if (checkpoints.latest().isPresent()) {
        throw new IllegalArgumentException("--out " + dir.root() + " already holds a run with"
            + " checkpoints; pass --resume to continue it, or choose another --out");
      }
      if (o.labelManifest() != null) {
        manifest = LabelManifest.read(o.labelManifest());
      } else {
        manifest = LabelManifest.create(src, Split.TRAIN, o.labelFraction(), o.seed());
      }
      manifest.validateAgainst(src);
      manifest.write(dir.labelsManifest());
      cfg = newConfig(o, src, manifest, precision.precision());
      dir.writeConfig(cfg);
      RunData.save(dir, src.spec());
    }
    final Config config = cfg;
    ModelConfig model = config.model();
    SessionConfigs.Options sessionOptions =
        Devices.resolve(o.threads(), 0, o.xla() || config.xla(), true, log)
            .withPrecision(precision.precision());
    log.println("precision: " + precision.describe());
    if (config.pretrained() != null && resumeFrom.isEmpty()) {
      warnIfUnfinished(Path.of(config.pretrained()), log);
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
      // The transfer split is taken before the optimizer adds its slots to the store.
      Selfie.Transfer transfer = Selfie.pretrainedNames(vars, config.head());
      Optimizers.TrainOp trainOp =
          Optimizers.minimize(mtf, graph, loss, vars, config.optimizer(), step,
              precision.precision().lossScale());
      Summaries summaries = Summaries.create(tf, dir.tensorboard(), o.summaryEvery())
          .scalar("loss", loss)
          .scalar("train_accuracy", accuracy)
          .scalar("learning_rate", trainOp.learningRate())
          .fedScalar("images_per_second")
          .fedScalar("test_accuracy");
      Map<String, Operand<TFloat32>> metrics = new LinkedHashMap<>();
      metrics.put("train_accuracy", accuracy);
      metrics.put("learning_rate", trainOp.learningRate());

      try (Session session = new Session(graph, SessionConfigs.configProto(sessionOptions))) {
        session.initialize();
        List<String> restored = List.of();
        // The baseline starts every variable from its initial value.
        List<String> fresh = config.pretrained() == null
            ? java.util.stream.Stream.concat(transfer.fromPretraining().stream(),
                transfer.fresh().stream()).sorted().toList()
            : transfer.fresh();
        if (resumeFrom.isPresent()) {
          CheckpointManager.restore(session, resumeFrom.get());
        } else if (config.pretrained() != null) {
          Path weights = pretrainedWeights(Path.of(config.pretrained()));
          WeightLoader.Report report =
              WeightLoader.restoreExactly(session, weights, transfer.fromPretraining());
          restored = report.restored();
          if (!restored.equals(transfer.fromPretraining().stream().sorted().toList())) {
            throw new IllegalStateException("restored " + restored.size() + " variables, expected "
                + transfer.fromPretraining().size());
          }
          fresh = transfer.fresh();
          log.printf("restored %d variables (%,d parameters) from %s; %d start fresh: %s%n",
              restored.size(), VarStore.parameterCount(
                  restored.stream().map(vars::get).toList()), weights, fresh.size(),
              summarize(fresh));
          Json.writeAtomic(dir.root().resolve("transfer.json"),
              Map.of("source", weights.toString(), "restored", restored, "fresh", fresh));
        }
        long end = config.steps();
        Trainer.Loop loop = new Trainer.Loop("finetune", config.seed(), config.batchSize(),
            o.checkpointEvery(), o.logEvery(),
            s -> new CheckpointManager.RunState(config.seed(), s * config.batchSize(), config),
            precision.precision());
        MetricsWriter.Metrics m;
        if (startStep < end) {
          m = Trainer.train(session, new Trainer.Graphs(seed, trainOp, loss, metrics, summaries),
              loop, dir, checkpoints, startStep, end, sessionOptions.xla(), log);
        } else {
          m = MetricsWriter.read(dir.metrics());
        }
        Evaluation.Accuracy acc = evaluation.run(session);
        summaries.writeFed(session, end, Map.of("test_accuracy", acc.value(),
            "images_per_second", m.imagesPerSecond()));
        summaries.flush(session);
        Map<String, Double> all = new LinkedHashMap<>(m.metrics());
        all.put("test_accuracy", acc.value());
        all.put("test_examples", (double) acc.total());
        all.put("labeled_examples", (double) manifest.indices().length);
        MetricsWriter.Metrics withTest = new MetricsWriter.Metrics(m.steps(), m.stepsRun(),
            m.finalLoss(), m.meanLoss(), all, m.window(), m.wallSeconds(), m.imagesPerSecond(),
            m.finishedAt(), m.precision());
        MetricsWriter.write(dir.metrics(), withTest);
        Result r = new Result(dir.root(), m.steps(), m.meanLoss(),
            m.metrics().getOrDefault("train_accuracy", Double.NaN), acc.value(), acc.total(),
            manifest.indices().length, m.imagesPerSecond(), m.wallSeconds(), restored, fresh);
        log.printf("finetune: %d steps, loss %.4f, test accuracy %.2f%% (%d images)%n",
            r.steps(), r.finalLoss(), 100 * r.testAccuracy(), r.testExamples());
        return r;
      }
    }
  }

  /** "resnet/stage4/... (n), classifier/... (k)": variable names grouped by their first two parts. */
  static String summarize(List<String> names) {
    Map<String, Integer> groups = new LinkedHashMap<>();
    for (String n : names) {
      String[] parts = n.split("/");
      String g = parts.length > 1 ? parts[0] + "/" + parts[1] : parts[0];
      groups.merge(g, 1, Integer::sum);
    }
    StringBuilder sb = new StringBuilder();
    groups.forEach((g, c) -> sb.append(sb.length() == 0 ? "" : ", ").append(g).append(" (")
        .append(c).append(")"));
    return sb.toString();
  }
}
