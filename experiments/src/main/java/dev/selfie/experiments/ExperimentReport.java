package dev.selfie.experiments;

import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.run.Json;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What an experiment reports: the cells (mean and sample std over seeds per label fraction),
 * {@code results.json}, {@code results.md} (the paper-style table, probes, budget),
 * {@code results.png}, and the command line equivalent to its options.
 */
public final class ExperimentReport {
  private ExperimentReport() {}

  /** Groups runs by fraction (in the order of {@code o.fractions()}). */
  static List<Experiment.Cell> cells(ExperimentOptions o, List<Experiment.Run> runs) {
    List<Experiment.Cell> cells = new ArrayList<>();
    for (double f : o.fractions()) {
      List<Experiment.Run> mine = runs.stream().filter(r -> r.fraction() == f).toList();
      double[] s = mine.stream().filter(r -> r.model().equals(Experiment.SELFIE))
          .mapToDouble(Experiment.Run::accuracy).toArray();
      double[] b = mine.stream().filter(r -> r.model().equals(Experiment.BASELINE))
          .mapToDouble(Experiment.Run::accuracy).toArray();
      if (s.length == 0 || b.length == 0) {
        continue;
      }
      int seeds = Math.min(s.length, b.length);
      cells.add(new Experiment.Cell(f, mine.get(0).labeledExamples(), seeds, mean(s), std(s), mean(b),
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

  static String pct(double f) {
    return String.format(Locale.ROOT, "%s%%", trim(100 * f));
  }

  /** 0.05 -> "0.05", 1.0 -> "1", 1e-4 -> "0.0001". */
  static String trim(double v) {
    return java.math.BigDecimal.valueOf(v).stripTrailingZeros().toPlainString();
  }

  static void write(Path out, Experiment.Result r) throws IOException {
    Json.writeAtomic(out.resolve("results.json"), r);
    Json.writeAtomic(out.resolve("results.md"),
        markdown(r).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    if (!r.cells().isEmpty()) {
      ResultsPlot.write(out.resolve("results.png"), r);
    }
  }

  /** The paper-style table, the probes and the budget. */
  static String markdown(Experiment.Result r) {
    StringBuilder sb = new StringBuilder();
    Experiment.Budget b = r.budget();
    sb.append(String.format(Locale.ROOT, "# Selfie vs supervised: %s, preset %s%n%n",
        r.dataset(), r.preset()));
    sb.append("Command:\n\n```\n").append(r.command()).append("\n```\n\n");
    Arms arms = b.arms();
    Finetune.Recipe recipe = arms.recipe();
    boolean sameArms = arms.baselineLr() == 0 && arms.baselineSteps() == 0
        && arms.baselineLrByFraction().isEmpty();
    String pretraining = b.pretrained() != null
        ? "the pretraining given by --pretrained (below)"
        : String.format(Locale.ROOT, "one pretraining run of %d steps (batch %d, lr %s, %s masked"
            + " patches, augmentation %s)", b.pretrainSteps(), b.batchSize(),
            trim(b.pretrainLr()), b.numMasked() == 0 ? "the preset's"
                : String.valueOf(b.numMasked()), b.augment() ? "on" : "off");
    sb.append(String.format(Locale.ROOT, "Budget: %s; Selfie finetunes %d steps at batch %d, lr %s"
            + "%s; %s; weight decay %s (%s), same seed and label manifest per cell.%n%n",
        pretraining, b.finetuneSteps(), b.batchSize(), trim(b.finetuneLr())
            + (arms.lrByFraction().isEmpty() ? ""
                : " (at fraction " + perFraction(arms.lrByFraction(), ": ") + ")"),
        (recipe.pretrainedLrScale() != 1 ? ", pretrained layers at " + trim(
            recipe.pretrainedLrScale()) + " x lr" : "")
            + (recipe.headSteps() > 0 ? ", head only for the first " + recipe.headSteps()
            + " steps" : ""),
        sameArms ? "the baseline the same" : String.format(Locale.ROOT,
            "the baseline %d steps at lr %s",
            arms.baselineSteps() > 0 ? arms.baselineSteps() : b.finetuneSteps(),
            trim(arms.baselineLr() > 0 ? arms.baselineLr() : b.finetuneLr())
                + (arms.baselineLrByFraction().isEmpty() ? "" : " (at fraction "
                    + perFraction(arms.baselineLrByFraction(), ": ") + ")")),
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
    for (Experiment.Cell c : r.cells()) {
      sb.append(String.format(Locale.ROOT, "| %s | %d | %d | %.2f +- %.2f | %.2f +- %.2f | %+.2f |%n",
          pct(c.fraction()), c.labeledExamples(), c.seeds(), c.baselineMean(), c.baselineStd(),
          c.selfieMean(), c.selfieStd(), c.gain()));
    }
    if (!r.probes().isEmpty()) {
      sb.append("\nFrozen features (stem + stages 1-3 on the whole image, pooled; BN in inference"
          + " mode), test accuracy in percent:\n\n");
      sb.append("| features | linear probe | kNN (k, cosine) | train images | dim |\n");
      sb.append("|---|---|---|---|---|\n");
      for (Experiment.ProbeRow p : r.probes()) {
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
    if (!o.arms().lrByFraction().isEmpty()) {
      sb.append(" --finetune-lr-per-fraction ").append(perFraction(o.arms().lrByFraction(), "="));
    }
    if (!o.arms().baselineLrByFraction().isEmpty()) {
      sb.append(" --baseline-lr-per-fraction ")
          .append(perFraction(o.arms().baselineLrByFraction(), "="));
    }
    if (!o.curveSteps().isEmpty()) {
      sb.append(" --curve-steps ").append(String.join(",",
          o.curveSteps().stream().map(String::valueOf).toList()));
    }
    sb.append(" --probe-fraction ").append(trim(o.probeFraction()))
        .append(" --out ").append(o.out());
    return sb.toString();
  }

  /** "0.01=0.05,0.05=0.1" (sep "=") or "0.01: 0.05, 0.05: 0.1" (sep ": "). */
  private static String perFraction(Map<String, Double> m, String sep) {
    return String.join(sep.equals("=") ? "," : ", ", m.entrySet().stream()
        .map(e -> e.getKey() + sep + trim(e.getValue())).toList());
  }
}
