package dev.selfie.training.experiments;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.selfie.data.Split;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.jobs.PretrainedRun;
import dev.selfie.training.jobs.Probe;
import dev.selfie.training.jobs.RunData;
import dev.selfie.training.loop.EventFiles;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.RuntimeOptions;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.MetricsWriter;
import dev.selfie.training.run.RunDir;
import dev.selfie.training.runtime.Precision;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The paper's experiment as one job: ONE Selfie pretraining run (reused), then for every label
 * fraction and seed a finetune from the pretrained weights and a supervised baseline from random
 * init with the identical network, schedule, seed and label manifest (the baseline reads the
 * Selfie run's {@code labels.json}); then linear-probe and kNN accuracy of the frozen
 * pretrained vs randomly initialised features. Writes {@code results.json}, {@code results.md}
 * and {@code results.png} (accuracy vs label fraction, both curves with std bars).
 *
 * <p>Layout of {@code out}:
 *
 * <pre>
 * out/experiment.json                 the budget (checked on rerun: same budget or another --out)
 * out/pretrain/                       the pretraining run
 * out/f0.05/seed1/{selfie,baseline}/  one finetuning run each; run.json once finished
 * out/probe-{pretrained,random}-image.json
 * out/results.{json,md,png}
 * </pre>
 *
 * <p>Resumable at every level: finished cells (a {@code run.json} beside the run) are skipped,
 * an interrupted run continues from its newest checkpoint, the results files are rewritten after
 * every finished cell (so a partial experiment already has a table).
 */
public final class Experiment {
  private static final Logger LOG = LoggerFactory.getLogger(Experiment.class);

  private Experiment() {}

  /** The runs of one cell. */
  public static final String SELFIE = "selfie";

  public static final String BASELINE = "baseline";

  /**
   * How the two arms finetune beyond the shared budget: each arm is tuned on its own (best-tuned
   * vs best-tuned), on the validation split of {@code recipe}.
   *
   * @param recipe validation split, test-set reading, and the Selfie arm's treatment of its
   *     pretrained layers (learning-rate scale, head-first steps)
   * @param baselineLr the baseline's finetuning learning rate; 0 = the same as Selfie's
   * @param baselineSteps the baseline's finetuning steps; 0 = the same as Selfie's
   */
  public record Arms(Finetune.Recipe recipe, double baselineLr, long baselineSteps) {
    public Arms {
      if (recipe == null) {
        recipe = Finetune.Recipe.defaults();
      }
      if (!(baselineLr >= 0) || baselineSteps < 0) {
        throw new IllegalArgumentException("--baseline-lr and --baseline-steps must be >= 0 (0 ="
            + " same as Selfie), got " + baselineLr + ", " + baselineSteps);
      }
    }

    public static Arms defaults() {
      return new Arms(Finetune.Recipe.defaults(), 0, 0);
    }
  }

  /**
   * What must not change between reruns into the same {@code out} (fractions and seeds may grow:
   * a later run completes or extends the grid).
   */
  public record Budget(String dataset, String preset, long pretrainSteps, long finetuneSteps,
      int batchSize, double pretrainLr, double finetuneLr, int numMasked, double weightDecay,
      boolean augment, String pretrained, Arms arms, String variants,
      OptimizerConfig.WeightDecayType weightDecayType) {
    /** {@code variants}: the variant flags, null for the paper's (as in budgets written before). */
    public Budget {
      if (arms == null) {
        arms = Arms.defaults(); // experiment.json written before the arms existed
      }
      if (weightDecayType == null) {
        weightDecayType = OptimizerConfig.WeightDecayType.DECOUPLED; // experiment.json from before
      }
    }

    public static Budget of(ExperimentOptions o) {
      return new Budget(o.dataset(), o.preset(), o.pretrainSteps(), o.finetuneSteps(),
          o.batchSize(), o.pretrainLr(), o.finetuneLr(), o.numMasked(), o.weightDecay(),
          o.augment(), o.pretrained() == null ? null
              : o.pretrained().toAbsolutePath().normalize().toString(), o.arms(),
          o.variants().equals(Pretrain.Variants.PAPER) ? null : o.variants().flags().trim(),
          o.weightDecayType());
    }
  }

  /** One finetuning run: test accuracy in percent. */
  public record Run(
      double fraction,
      long seed,
      String model,
      @JsonProperty("accuracy") double accuracy,
      @JsonProperty("labeled_examples") int labeledExamples,
      @JsonProperty("test_examples") long testExamples,
      long steps,
      @JsonProperty("wall_seconds") double wallSeconds,
      String dir,
      @JsonProperty("validation_accuracy") Double validationAccuracy) {}

  /** One label fraction: mean and (sample) std over seeds, in percent; gain = Selfie - baseline. */
  public record Cell(
      double fraction,
      @JsonProperty("labeled_examples") int labeledExamples,
      int seeds,
      @JsonProperty("selfie_mean") double selfieMean,
      @JsonProperty("selfie_std") double selfieStd,
      @JsonProperty("baseline_mean") double baselineMean,
      @JsonProperty("baseline_std") double baselineStd,
      double gain,
      List<Run> runs) {}

  /** Linear-probe and kNN accuracy (percent) of frozen features. */
  public record ProbeRow(String init, String features, @JsonProperty("linear_probe") double linear,
      @JsonProperty("knn") double knn, int k, @JsonProperty("train_examples") int trainExamples,
      @JsonProperty("test_examples") int testExamples, int dim) {}

  /** The pretraining run's summary. */
  public record PretrainSummary(long steps, @JsonProperty("final_loss") double finalLoss,
      @JsonProperty("patch_accuracy") double patchAccuracy, double chance,
      @JsonProperty("images_per_s") double imagesPerSecond,
      @JsonProperty("wall_seconds") double wallSeconds) {}

  /** Everything in results.json. */
  public record Result(
      String dataset,
      String preset,
      String command,
      Budget budget,
      boolean complete,
      PretrainSummary pretrain,
      List<Cell> cells,
      List<ProbeRow> probes,
      @JsonProperty("wall_seconds") double wallSeconds) {}

  /** Runs (or resumes) the experiment. */
  public static Result run(ExperimentOptions o) throws IOException {
    long t0 = System.nanoTime();
    Path out = o.out().toAbsolutePath().normalize();
    Files.createDirectories(out);
    checkBudget(out, Budget.of(o));
    String command = o.command() != null ? o.command() : describe(o);

    Path pretrainDir = o.pretrained() != null ? o.pretrained().toAbsolutePath().normalize()
        : out.resolve("pretrain");
    PretrainSummary pre = o.pretrained() != null ? existingPretraining(pretrainDir)
        : pretrain(o, pretrainDir);
    for (long c : o.curveSteps()) {
      if (c >= pre.steps()) {
        throw new IllegalArgumentException("--curve-steps: each must be before the last step of"
            + " the pretraining run (" + pre.steps() + " in " + pretrainDir + "), got " + c);
      }
    }

    List<Run> runs = new ArrayList<>();
    List<ProbeRow> probes = new ArrayList<>();
    int total = o.fractions().size() * o.seeds() * 2;
    int done = 0;
    // Seed-major: after the first seed every fraction has a result.
    for (int seed = 1; seed <= o.seeds(); seed++) {
      for (double fraction : o.fractions()) {
        Path cellDir = out.resolve(fractionName(fraction)).resolve("seed" + seed);
        Run selfie = cellRun(o, cellDir.resolve(SELFIE), fraction, seed, pretrainDir, null,
            ++done, total);
        runs.add(selfie);
        Run baseline = cellRun(o, cellDir.resolve(BASELINE), fraction, seed, null,
            cellDir.resolve(SELFIE).resolve("labels.json"), ++done, total);
        runs.add(baseline);
        write(out, new Result(o.dataset(), o.preset(), command, Budget.of(o), false, pre,
            cells(o, runs), probes, (System.nanoTime() - t0) / 1e9));
      }
      if (seed == 1 && o.probeFraction() > 0) {
        // Probes after the first seed's cells: cheap next to the finetunes, useful early.
        probes.add(probe(o, out, pretrainDir));
        probes.add(probe(o, out, null));
      }
    }
    if (!o.curveSteps().isEmpty()) {
      curve(o, out, pretrainDir, runs, command);
    }
    Result r = new Result(o.dataset(), o.preset(), command, Budget.of(o), true, pre,
        cells(o, runs), probes, (System.nanoTime() - t0) / 1e9);
    write(out, r);
    LOG.info("");
    LOG.info(markdown(r));
    return r;
  }

  /**
   * Selfie finetunes from the pretraining run's checkpoints at {@code o.curveSteps()} (every
   * fraction and seed, same label subsets as the main cells), then curve.{json,md,png}.
   */
  private static void curve(ExperimentOptions o, Path out, Path pretrainDir, List<Run> mainRuns,
      String command) throws IOException {
    long finalSteps = new RunDir(pretrainDir).readConfig(Pretrain.Config.class).steps();
    int trainImages = RunData.open(o.dataset(), o.dataDir(), 0, null).size(Split.TRAIN);
    List<Run> baselines = mainRuns.stream().filter(r -> r.model().equals(BASELINE)).toList();
    List<PretrainingCurve.Point> points = new ArrayList<>();
    int total = o.curveSteps().size() * o.seeds() * o.fractions().size();
    int done = 0;
    for (long steps : o.curveSteps()) {
      Path ckpt = PretrainingCurve.checkpoint(pretrainDir, steps);
      List<Run> selfie = new ArrayList<>();
      for (int seed = 1; seed <= o.seeds(); seed++) {
        for (double fraction : o.fractions()) {
          Path manifest = out.resolve(fractionName(fraction)).resolve("seed" + seed)
              .resolve(SELFIE).resolve("labels.json");
          selfie.add(cellRun(o, out.resolve("curve").resolve("ckpt-" + steps)
                  .resolve(fractionName(fraction)).resolve("seed" + seed).resolve(SELFIE),
              fraction, seed, ckpt, manifest, ++done, total));
        }
      }
      points.addAll(PretrainingCurve.points(steps, (double) steps * o.batchSize() / trainImages,
          selfie, baselines, o.fractions()));
    }
    points.addAll(PretrainingCurve.points(finalSteps,
        (double) finalSteps * o.batchSize() / trainImages,
        mainRuns.stream().filter(r -> r.model().equals(SELFIE)).toList(), baselines,
        o.fractions()));
    PretrainingCurve.Curve curve =
        new PretrainingCurve.Curve(command, trainImages, o.batchSize(), points);
    PretrainingCurve.write(out, curve);
    LOG.info(PretrainingCurve.markdown(curve));
  }

  /** "f0.05", "f1" (directory of a fraction). */
  public static String fractionName(double f) {
    String s = String.format(Locale.ROOT, "%.4f", f).replaceAll("0+$", "").replaceAll("\\.$", "");
    return "f" + s;
  }

  private static void checkBudget(Path out, Budget b) {
    Path f = out.resolve("experiment.json");
    if (Files.isRegularFile(f)) {
      Budget old = Json.read(f, Budget.class);
      if (!old.equals(b)) {
        throw new IllegalArgumentException("--out " + out + " holds an experiment with another"
            + " budget (" + f + ": " + old + "); rerun with the same flags to resume it, or choose"
            + " another --out. Requested: " + b);
      }
    } else {
      Json.writeAtomic(f, b);
    }
  }

  private static PretrainSummary pretrain(ExperimentOptions o, Path dir) throws IOException {
    Path marker = dir.resolve("run.json");
    if (Files.isRegularFile(marker)) {
      PretrainSummary s = Json.read(marker, PretrainSummary.class);
      LOG.info(String.format(
          "pretraining: done (%d steps, patch accuracy %.1f%%), reusing %s", s.steps(),
          s.patchAccuracy(), dir));
      return s;
    }
    LOG.info("== pretraining (" + o.preset() + ", " + o.pretrainSteps() + " steps, batch "
        + o.batchSize() + ") -> " + dir);
    long steps = o.pretrainSteps();
    // With --curve-steps every curve point must be a kept checkpoint.
    long every = Math.max(1, steps / 4);
    int keep = 1;
    if (!o.curveSteps().isEmpty()) {
      every = steps;
      for (long c : o.curveSteps()) {
        every = java.math.BigInteger.valueOf(every).gcd(java.math.BigInteger.valueOf(c))
            .longValue();
      }
      keep = (int) Math.min(Integer.MAX_VALUE, steps / every + 1);
    }
    // The pretraining run is the experiment's reusable model: exported at its end like `selfie
    // pretrain` (about 2 s for preset small); the finetuning cells are measurements and are not.
    Pretrain.Result r = Pretrain.run(Pretrain.Options.defaults(dir)
        .withPreset(o.preset())
        .withData(data(o))
        .withSchedule(schedule(o, steps, o.pretrainLr()))
        .withCheckpoints(CheckpointOptions.defaults().withResume(true).withCheckpointEvery(every)
            .withKeep(keep).withLogEvery(50).withSummaryEvery(50))
        .withRuntime(runtime(o))
        .withNumMasked(o.numMasked())
        .withVariants(o.variants()));
    PretrainSummary s = new PretrainSummary(r.steps(), r.finalLoss(), 100 * r.patchAccuracy(),
        100 * r.chanceAccuracy(), r.imagesPerSecond(), r.wallSeconds());
    Json.writeAtomic(marker, s);
    return s;
  }

  private static DataOptions data(ExperimentOptions o) {
    return DataOptions.of(o.dataset(), o.dataDir()).withBatchSize(o.batchSize())
        .withAugment(o.augment());
  }

  /** SGD at {@code lr} for {@code steps}, warming up for a tenth of them. */
  private static ScheduleOptions schedule(ExperimentOptions o, long steps, double lr) {
    return ScheduleOptions.defaults().withSteps(steps).withLr(lr)
        .withWarmup(Math.max(1, steps / 10)).withWeightDecay(o.weightDecay(), o.weightDecayType());
  }

  /** Seed 1 (the cells set their own). */
  private static RuntimeOptions runtime(ExperimentOptions o) {
    return RuntimeOptions.defaults().withThreads(o.threads()).withPrecision(o.precision());
  }

  /**
   * The summary of a finished pretraining run given by {@code --pretrained}, or of one of its
   * checkpoints ({@code RUN/checkpoints/ckpt-N}, e.g. chosen on validation with finetune): loss and
   * patch accuracy are then the mean of the last {@value #CHECKPOINT_WINDOW} values the run logged
   * up to step N (the run's summary for its final checkpoint), the wall time the run's, prorated
   * to N steps.
   */
  public static PretrainSummary existingPretraining(Path dir) {
    if (PretrainedRun.isCheckpointDir(dir)) {
      return checkpointSummary(dir);
    }
    RunDir run = new RunDir(dir);
    if (!Files.isRegularFile(run.metrics())) {
      throw new IllegalArgumentException("--pretrained " + dir + ": no metrics.json (expected a"
          + " finished pretraining run directory)");
    }
    Pretrain.Config cfg = run.readConfig(Pretrain.Config.class);
    MetricsWriter.Metrics m = MetricsWriter.read(run.metrics());
    if (m.steps() < cfg.steps()) {
      throw new IllegalArgumentException("--pretrained " + dir + " stopped at step " + m.steps()
          + " of " + cfg.steps() + "; finish it first (selfie pretrain --resume)");
    }
    LOG.info(String.format("pretraining: reusing %s (%d steps)", dir, m.steps()));
    return new PretrainSummary(m.steps(), m.meanLoss(),
        100 * m.metrics().getOrDefault("patch_accuracy", Double.NaN),
        100.0 / cfg.model().numMasked(), m.imagesPerSecond(), m.wallSeconds());
  }

  static final int CHECKPOINT_WINDOW = 10;

  private static PretrainSummary checkpointSummary(Path ckpt) {
    Path runPath = ckpt.toAbsolutePath().normalize().getParent().getParent();
    String name = ckpt.getFileName().toString();
    long steps;
    try {
      steps = Long.parseLong(name.substring(name.lastIndexOf('-') + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--pretrained " + ckpt + ": expected a checkpoint"
          + " directory named ckpt-<step>");
    }
    RunDir run = new RunDir(runPath);
    Pretrain.Config cfg = run.readConfig(Pretrain.Config.class);
    if (steps == cfg.steps() && Files.isRegularFile(run.metrics())) {
      return existingPretraining(runPath); // the final checkpoint: the run's own summary
    }
    double wall = Double.NaN;
    double rate = Double.NaN;
    if (Files.isRegularFile(run.metrics())) {
      MetricsWriter.Metrics m = MetricsWriter.read(run.metrics());
      rate = m.imagesPerSecond();
      wall = m.wallSeconds() * steps / Math.max(1, m.steps());
    }
    List<EventFiles.Scalar> scalars = EventFiles.scalars(runPath.resolve("tensorboard"));
    double loss = windowMean(scalars, "loss", steps);
    double accuracy = windowMean(scalars, "patch_accuracy", steps);
    LOG.info(String.format(
        "pretraining: reusing checkpoint %s (step %d of %d)", ckpt, steps, cfg.steps()));
    return new PretrainSummary(steps, loss, 100 * accuracy, 100.0 / cfg.model().numMasked(),
        rate, wall);
  }

  /** Mean of the last {@link #CHECKPOINT_WINDOW} logged values of {@code tag} at steps <= max. */
  public static double windowMean(List<EventFiles.Scalar> scalars, String tag, long max) {
    List<EventFiles.Scalar> s = scalars.stream()
        .filter(x -> x.tag().equals(tag) && x.step() <= max).toList();
    if (s.isEmpty()) {
      return Double.NaN;
    }
    return s.subList(Math.max(0, s.size() - CHECKPOINT_WINDOW), s.size()).stream()
        .mapToDouble(EventFiles.Scalar::value).average().orElseThrow();
  }

  private static Run cellRun(ExperimentOptions o, Path dir, double fraction, long seed, Path pretrained,
      Path manifest, int index, int total) throws IOException {
    Path marker = dir.resolve("run.json");
    String model = pretrained != null ? SELFIE : BASELINE;
    if (Files.isRegularFile(marker)) {
      Run r = Json.read(marker, Run.class);
      LOG.info(String.format(
          "[%d/%d] %s, %s labels, seed %d: done (%.2f%%), skipped", index, total, model,
          pct(fraction), seed, r.accuracy()));
      return r;
    }
    LOG.info(String.format("== [%d/%d] %s finetune, %s labels, seed %d -> %s", index, total, model,
        pct(fraction), seed, dir));
    Arms arms = o.arms();
    boolean baseline = pretrained == null;
    long steps = baseline && arms.baselineSteps() > 0 ? arms.baselineSteps() : o.finetuneSteps();
    double lr = baseline && arms.baselineLr() > 0 ? arms.baselineLr() : o.finetuneLr();
    // No SavedModel per cell (about 1 s and 2 MB each for preset small; `selfie export --run DIR`
    // makes one when wanted). No validation pass during training (--eval-every 0): a cell's
    // validation accuracy is read once, at its end.
    Finetune.Result r = Finetune.run(Finetune.Options.defaults(dir)
        .withPretrained(pretrained)
        .withPreset(o.preset())
        .withLabels(new Finetune.Labels(fraction, manifest))
        .withData(data(o))
        .withSchedule(schedule(o, steps, lr))
        .withCheckpoints(CheckpointOptions.defaults().withResume(true)
            .withCheckpointEvery(Math.max(1, steps / 2)).withKeep(1).withLogEvery(100)
            .withSummaryEvery(100))
        .withRuntime(runtime(o).withSeed(seed))
        .withRecipe(arms.recipe())
        .withEvalEvery(0)
        .withExport(false));
    double headline = arms.recipe().test() ? r.testAccuracy() : r.validationAccuracy();
    Run run = new Run(fraction, seed, model, 100 * headline, r.labeledExamples(),
        arms.recipe().test() ? r.testExamples() : 0, r.steps(), r.wallSeconds(), dir.toString(),
        arms.recipe().validation() > 0 ? 100 * r.validationAccuracy() : null);
    Json.writeAtomic(marker, run);
    return run;
  }

  private static ProbeRow probe(ExperimentOptions o, Path out, Path pretrained)
      throws IOException {
    String init = pretrained == null ? "random" : "pretrained";
    Path marker = out.resolve("probe-" + init + "-image.json");
    if (Files.isRegularFile(marker)) {
      return Json.read(marker, ProbeRow.class);
    }
    LOG.info("== linear probe + kNN on frozen " + init + " image features ("
        + pct(o.probeFraction()) + " of the training labels)");
    int k = 20;
    Probe.Result r = Probe.run(new Probe.Options(o.dataset(), o.dataDir(), pretrained,
        o.preset(), Probe.Features.IMAGE, o.probeFraction(), 1, k, 300, 500));
    ProbeRow row = new ProbeRow(init, r.features(), 100 * r.linearAccuracy(),
        100 * r.knnAccuracy(), k, r.trainExamples(), r.testExamples(), r.dim());
    Json.writeAtomic(marker, row);
    return row;
  }

  /** Groups runs by fraction (in the order of {@code o.fractions()}). */
  static List<Cell> cells(ExperimentOptions o, List<Run> runs) {
    List<Cell> cells = new ArrayList<>();
    for (double f : o.fractions()) {
      List<Run> mine = runs.stream().filter(r -> r.fraction() == f).toList();
      double[] s = mine.stream().filter(r -> r.model().equals(SELFIE))
          .mapToDouble(Run::accuracy).toArray();
      double[] b = mine.stream().filter(r -> r.model().equals(BASELINE))
          .mapToDouble(Run::accuracy).toArray();
      if (s.length == 0 || b.length == 0) {
        continue;
      }
      int seeds = Math.min(s.length, b.length);
      cells.add(new Cell(f, mine.get(0).labeledExamples(), seeds, mean(s), std(s), mean(b),
          std(b), mean(s) - mean(b), mine));
    }
    return cells;
  }

  public static double mean(double[] x) {
    double m = 0;
    for (double v : x) {
      m += v;
    }
    return m / x.length;
  }

  /** Sample standard deviation (n - 1); 0 for a single value. */
  public static double std(double[] x) {
    if (x.length < 2) {
      return 0;
    }
    double m = mean(x);
    double ss = 0;
    for (double v : x) {
      ss += (v - m) * (v - m);
    }
    return Math.sqrt(ss / (x.length - 1));
  }

  private static String pct(double f) {
    return String.format(Locale.ROOT, "%s%%", trim(100 * f));
  }

  /** 0.05 -> "0.05", 1.0 -> "1", 1e-4 -> "0.0001". */
  private static String trim(double v) {
    return java.math.BigDecimal.valueOf(v).stripTrailingZeros().toPlainString();
  }

  static void write(Path out, Result r) throws IOException {
    Json.writeAtomic(out.resolve("results.json"), r);
    Json.writeAtomic(out.resolve("results.md"),
        markdown(r).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    if (!r.cells().isEmpty()) {
      ResultsPlot.write(out.resolve("results.png"), r);
    }
  }

  /** The paper-style table, the probes and the budget. */
  static String markdown(Result r) {
    StringBuilder sb = new StringBuilder();
    Budget b = r.budget();
    sb.append(String.format(Locale.ROOT, "# Selfie vs supervised: %s, preset %s%n%n",
        r.dataset(), r.preset()));
    sb.append("Command:\n\n```\n").append(r.command()).append("\n```\n\n");
    Arms arms = b.arms();
    Finetune.Recipe recipe = arms.recipe();
    boolean sameArms = arms.baselineLr() == 0 && arms.baselineSteps() == 0;
    String pretraining = b.pretrained() != null
        ? "the pretraining given by --pretrained (below)"
        : String.format(Locale.ROOT, "one pretraining run of %d steps (batch %d, lr %s, %s masked"
            + " patches, augmentation %s)", b.pretrainSteps(), b.batchSize(),
            trim(b.pretrainLr()), b.numMasked() == 0 ? "the preset's"
                : String.valueOf(b.numMasked()), b.augment() ? "on" : "off");
    sb.append(String.format(Locale.ROOT, "Budget: %s; Selfie finetunes %d steps at batch %d, lr %s"
            + "%s; %s; weight decay %s (%s), same seed and label manifest per cell.%n%n",
        pretraining, b.finetuneSteps(), b.batchSize(), trim(b.finetuneLr()),
        (recipe.pretrainedLrScale() != 1 ? ", pretrained layers at " + trim(
            recipe.pretrainedLrScale()) + " x lr" : "")
            + (recipe.headSteps() > 0 ? ", head only for the first " + recipe.headSteps()
            + " steps" : ""),
        sameArms ? "the baseline the same" : String.format(Locale.ROOT,
            "the baseline %d steps at lr %s",
            arms.baselineSteps() > 0 ? arms.baselineSteps() : b.finetuneSteps(),
            trim(arms.baselineLr() > 0 ? arms.baselineLr() : b.finetuneLr())),
        trim(b.weightDecay()), b.weightDecayType().flagValue()));
    if (recipe.validation() > 0) {
      sb.append(String.format(Locale.ROOT, "A validation split of %d training images (seed %d)"
              + " is held out of every label subset; the settings were tuned on it. ",
          recipe.validation(), recipe.validationSeed()));
    }
    sb.append(recipe.test()
        ? "Test accuracy on the full test split (read once per run), percent, mean +- sample std"
            + " over seeds.\n\n"
        : "**Validation** accuracy (the test set was not read), percent, mean +- sample std over"
            + " seeds.\n\n");
    if (b.variants() != null) {
      sb.append("Pretraining variants: `").append(b.variants()).append("`.\n\n");
    }
    if (r.pretrain() != null) {
      sb.append(String.format(Locale.ROOT, "Pretraining: %d steps, loss %.3f, patch-selection"
              + " accuracy %.1f%% (chance %.1f%%), %.0f images/s, %.1f min.%n%n",
          r.pretrain().steps(), r.pretrain().finalLoss(), r.pretrain().patchAccuracy(),
          r.pretrain().chance(), r.pretrain().imagesPerSecond(), r.pretrain().wallSeconds() / 60));
    }
    if (!r.complete()) {
      sb.append("**Partial: the experiment is still running or was interrupted; rerun the"
          + " command to complete it (finished cells are skipped).**\n\n");
    }
    sb.append("| labels | images | seeds | supervised (random init) | Selfie (pretrained) | gain |\n");
    sb.append("|---|---|---|---|---|---|\n");
    for (Cell c : r.cells()) {
      sb.append(String.format(Locale.ROOT, "| %s | %d | %d | %.2f +- %.2f | %.2f +- %.2f | %+.2f |%n",
          pct(c.fraction()), c.labeledExamples(), c.seeds(), c.baselineMean(), c.baselineStd(),
          c.selfieMean(), c.selfieStd(), c.gain()));
    }
    if (!r.probes().isEmpty()) {
      sb.append("\nFrozen features (stem + stages 1-3 on the whole image, pooled; BN in inference"
          + " mode), test accuracy in percent:\n\n");
      sb.append("| features | linear probe | kNN (k, cosine) | train images | dim |\n");
      sb.append("|---|---|---|---|---|\n");
      for (ProbeRow p : r.probes()) {
        sb.append(String.format(Locale.ROOT, "| %s | %.2f | %.2f (k=%d) | %d | %d |%n",
            p.init().equals("random") ? "random init" : "Selfie pretrained", p.linear(), p.knn(),
            p.k(), p.trainExamples(), p.dim()));
      }
    }
    sb.append(String.format(Locale.ROOT, "%nWall time of this invocation: %.1f min.%n",
        r.wallSeconds() / 60));
    return sb.toString();
  }

  /** The equivalent command line. */
  public static String describe(ExperimentOptions o) {
    StringBuilder sb = new StringBuilder("selfie experiment --dataset ").append(o.dataset())
        .append(" --preset ").append(o.preset()).append(" --fractions ");
    for (int i = 0; i < o.fractions().size(); i++) {
      sb.append(i == 0 ? "" : ",").append(trim(o.fractions().get(i)));
    }
    sb.append(" --seeds ").append(o.seeds())
        .append(" --pretrain-steps ").append(o.pretrainSteps())
        .append(" --finetune-steps ").append(o.finetuneSteps())
        .append(" --batch-size ").append(o.batchSize())
        .append(" --pretrain-lr ").append(trim(o.pretrainLr()))
        .append(" --finetune-lr ").append(trim(o.finetuneLr()));
    if (o.numMasked() > 0) {
      sb.append(" --num-masked ").append(o.numMasked());
    }
    sb.append(o.variants().flags());
    if (o.pretrained() != null) {
      sb.append(" --pretrained ").append(o.pretrained());
    }
    if (!o.augment()) {
      sb.append(" --no-augment");
    }
    Finetune.Recipe recipe = o.arms().recipe();
    if (recipe.validation() > 0) {
      sb.append(" --validation ").append(recipe.validation());
      if (recipe.validationSeed() != 0) {
        sb.append(" --validation-seed ").append(recipe.validationSeed());
      }
    }
    if (!recipe.test()) {
      sb.append(" --no-test");
    }
    if (recipe.pretrainedLrScale() != 1) {
      sb.append(" --pretrained-lr-scale ").append(trim(recipe.pretrainedLrScale()));
    }
    if (recipe.headSteps() > 0) {
      sb.append(" --head-steps ").append(recipe.headSteps());
    }
    if (o.arms().baselineLr() > 0) {
      sb.append(" --baseline-lr ").append(trim(o.arms().baselineLr()));
    }
    if (o.arms().baselineSteps() > 0) {
      sb.append(" --baseline-steps ").append(o.arms().baselineSteps());
    }
    if (!o.curveSteps().isEmpty()) {
      sb.append(" --curve-steps ").append(String.join(",",
          o.curveSteps().stream().map(String::valueOf).toList()));
    }
    sb.append(" --probe-fraction ").append(trim(o.probeFraction()))
        .append(" --out ").append(o.out());
    return sb.toString();
  }

  /** For tests: the cell directories' run markers. */
  public static Map<String, Path> runMarkers(ExperimentOptions o) {
    Map<String, Path> m = new LinkedHashMap<>();
    for (int seed = 1; seed <= o.seeds(); seed++) {
      for (double f : o.fractions()) {
        for (String model : List.of(SELFIE, BASELINE)) {
          m.put(fractionName(f) + "/seed" + seed + "/" + model, o.out().resolve(fractionName(f))
              .resolve("seed" + seed).resolve(model).resolve("run.json"));
        }
      }
    }
    return m;
  }
}
