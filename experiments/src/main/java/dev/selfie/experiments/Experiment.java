package dev.selfie.experiments;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.selfie.data.Split;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.jobs.RunData;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.RunDir;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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
    String command = o.command() != null ? o.command() : ExperimentReport.describe(o);

    Path pretrainDir = pretrainDir(o, out);
    PretrainSummary pre = o.pretrained() != null ? PretrainedSummaries.of(pretrainDir)
        : ExperimentJobs.pretrain(o, pretrainDir);
    for (long c : o.curveSteps()) {
      if (c >= pre.steps()) {
        throw new IllegalArgumentException("--curve-steps: each must be before the last step of"
            + " the pretraining run (" + pre.steps() + " in " + pretrainDir + "), got " + c);
      }
    }

    if (o.parallel() > 1) {
      // The cells (and the curve's) in worker processes; the loops below then find them done.
      ExperimentWorkers.run(o, out, runMarkers(o));
    }
    List<Run> runs = new ArrayList<>();
    List<ProbeRow> probes = new ArrayList<>();
    int total = o.fractions().size() * o.seeds() * 2;
    // Seed-major: after the first seed every fraction has a result.
    for (int seed = 1; seed <= o.seeds(); seed++) {
      for (int i = 0; i < o.fractions().size(); i++) {
        runs.addAll(pair(o, out, pretrainDir, o.fractions().get(i), seed,
            2 * ((seed - 1) * o.fractions().size() + i), total));
        ExperimentReport.write(out, new Result(o.dataset(), o.preset(), command, Budget.of(o), false, pre,
            ExperimentReport.cells(o, runs), probes, (System.nanoTime() - t0) / 1e9));
      }
      if (seed == 1 && o.probeFraction() > 0) {
        // Probes after the first seed's cells: cheap next to the finetunes, useful early.
        probes.add(ExperimentJobs.probe(o, out, pretrainDir));
        probes.add(ExperimentJobs.probe(o, out, null));
      }
    }
    if (!o.curveSteps().isEmpty()) {
      curve(o, out, pretrainDir, runs, command);
    }
    Result r = new Result(o.dataset(), o.preset(), command, Budget.of(o), true, pre,
        ExperimentReport.cells(o, runs), probes, (System.nanoTime() - t0) / 1e9);
    ExperimentReport.write(out, r);
    LOG.info("");
    LOG.info(ExperimentReport.markdown(r));
    return r;
  }

  /**
   * One cell: the Selfie finetune, then the baseline on the Selfie run's label manifest
   * ({@code done} cells counted before it, of {@code total}).
   */
  private static List<Run> pair(ExperimentOptions o, Path out, Path pretrainDir, double fraction,
      int seed, int done, int total) throws IOException {
    Path cellDir = out.resolve(fractionName(fraction)).resolve("seed" + seed);
    Run selfie = ExperimentJobs.cellRun(o, cellDir.resolve(SELFIE), fraction, seed, pretrainDir, null,
        done + 1, total);
    Run baseline = ExperimentJobs.cellRun(o, cellDir.resolve(BASELINE), fraction, seed, null,
        cellDir.resolve(SELFIE).resolve("labels.json"), done + 2, total);
    return List.of(selfie, baseline);
  }

  /**
   * A worker's share of {@link #run} (see {@link ExperimentWorkers}): every cell, then every
   * curve cell, that this process claims first ({@code claim} true); no reports, no probes. The
   * pretraining run must be finished.
   */
  static void runClaimed(ExperimentOptions o, java.util.function.Predicate<String> claim)
      throws IOException {
    Path out = o.out().toAbsolutePath().normalize();
    Path pretrainDir = pretrainDir(o, out);
    int total = o.fractions().size() * o.seeds() * 2;
    for (int seed = 1; seed <= o.seeds(); seed++) {
      for (int i = 0; i < o.fractions().size(); i++) {
        double fraction = o.fractions().get(i);
        if (claim.test(fractionName(fraction) + "-seed" + seed)) {
          pair(o, out, pretrainDir, fraction, seed,
              2 * ((seed - 1) * o.fractions().size() + i), total);
        }
      }
    }
    int curveTotal = o.curveSteps().size() * o.seeds() * o.fractions().size();
    int done = 0;
    for (long steps : o.curveSteps()) {
      for (int seed = 1; seed <= o.seeds(); seed++) {
        for (double fraction : o.fractions()) {
          done++;
          if (claim.test("curve-" + steps + "-" + fractionName(fraction) + "-seed" + seed)) {
            curveCell(o, out, pretrainDir, steps, fraction, seed, done, curveTotal);
          }
        }
      }
    }
  }

  /** {@code --pretrained}, else the experiment's own pretraining run {@code out/pretrain}. */
  private static Path pretrainDir(ExperimentOptions o, Path out) {
    return o.pretrained() != null ? o.pretrained().toAbsolutePath().normalize()
        : out.resolve("pretrain");
  }

  /** The Selfie finetune of the curve point at pretraining step {@code steps}. */
  private static Run curveCell(ExperimentOptions o, Path out, Path pretrainDir, long steps,
      double fraction, int seed, int index, int total) throws IOException {
    Path manifest = out.resolve(fractionName(fraction)).resolve("seed" + seed)
        .resolve(SELFIE).resolve("labels.json");
    return ExperimentJobs.cellRun(o, out.resolve("curve").resolve("ckpt-" + steps)
            .resolve(fractionName(fraction)).resolve("seed" + seed).resolve(SELFIE),
        fraction, seed, PretrainingCurve.checkpoint(pretrainDir, steps), manifest, index, total);
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
      List<Run> selfie = new ArrayList<>();
      for (int seed = 1; seed <= o.seeds(); seed++) {
        for (double fraction : o.fractions()) {
          selfie.add(curveCell(o, out, pretrainDir, steps, fraction, seed, ++done, total));
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
