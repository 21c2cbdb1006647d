package dev.selfie.experiments;

import dev.selfie.training.jobs.Finetune;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * How the two arms finetune beyond the shared budget: each arm is tuned on its own (best-tuned
 * vs best-tuned), on the validation split of {@code recipe}, and may be tuned per label fraction.
 *
 * @param recipe validation split, test-set reading, and the Selfie arm's treatment of its
 *     pretrained layers (learning-rate scale, head-first steps)
 * @param baselineLr the baseline's finetuning learning rate; 0 = the same as Selfie's
 * @param baselineSteps the baseline's finetuning steps; 0 = the same as Selfie's
 * @param lrByFraction Selfie's learning rate at some fractions (key {@link #key}), overriding
 *     the experiment's finetuning learning rate there
 * @param baselineLrByFraction the baseline's learning rate at some fractions, overriding
 *     {@code baselineLr} there; where neither is given the baseline follows Selfie
 */
public record Arms(Finetune.Recipe recipe, double baselineLr, long baselineSteps,
    Map<String, Double> lrByFraction, Map<String, Double> baselineLrByFraction) {
  private static final String SELFIE_FLAG = "--finetune-lr-per-fraction";
  private static final String BASELINE_FLAG = "--baseline-lr-per-fraction";

  public Arms {
    if (recipe == null) {
      recipe = Finetune.Recipe.defaults();
    }
    if (!(baselineLr >= 0) || baselineSteps < 0) {
      throw new IllegalArgumentException("--baseline-lr and --baseline-steps must be >= 0 (0 ="
          + " same as Selfie), got " + baselineLr + ", " + baselineSteps);
    }
    lrByFraction = byFraction(SELFIE_FLAG, lrByFraction);
    baselineLrByFraction = byFraction(BASELINE_FLAG, baselineLrByFraction);
  }

  /** One learning rate for every fraction of each arm. */
  public Arms(Finetune.Recipe recipe, double baselineLr, long baselineSteps) {
    this(recipe, baselineLr, baselineSteps, Map.of(), Map.of());
  }

  public static Arms defaults() {
    return new Arms(Finetune.Recipe.defaults(), 0, 0);
  }

  /** Learning rates per fraction (fraction -> lr) for both arms; empty maps for none. */
  public Arms withLrByFraction(Map<Double, Double> selfie, Map<Double, Double> baseline) {
    return new Arms(recipe, baselineLr, baselineSteps, keyed(selfie), keyed(baseline));
  }

  /** The key of a fraction in the per-fraction maps: "0.01", "1". */
  public static String key(double fraction) {
    return Experiment.fractionName(fraction).substring(1);
  }

  /**
   * The learning rate of one arm at {@code fraction}: its per-fraction value, else its own
   * single value, else (baseline) Selfie's at that fraction.
   */
  public double lr(boolean baseline, double fraction, double finetuneLr) {
    double selfie = lrByFraction.getOrDefault(key(fraction), finetuneLr);
    if (!baseline) {
      return selfie;
    }
    Double b = baselineLrByFraction.get(key(fraction));
    return b != null ? b : baselineLr > 0 ? baselineLr : selfie;
  }

  /** Refuses per-fraction learning rates at fractions the experiment does not run. */
  void checkFractions(List<Double> fractions) {
    List<String> run = fractions.stream().map(Arms::key).toList();
    checkFractions(SELFIE_FLAG, lrByFraction, run);
    checkFractions(BASELINE_FLAG, baselineLrByFraction, run);
  }

  private static void checkFractions(String flag, Map<String, Double> m, List<String> run) {
    for (String k : m.keySet()) {
      if (!run.contains(k)) {
        throw new IllegalArgumentException(flag + ": fraction " + k + " is not one of"
            + " --fractions " + String.join(",", run));
      }
    }
  }

  private static Map<String, Double> keyed(Map<Double, Double> m) {
    Map<String, Double> out = new TreeMap<>();
    if (m != null) {
      m.forEach((f, lr) -> out.put(key(f), lr));
    }
    return out;
  }

  private static Map<String, Double> byFraction(String flag, Map<String, Double> m) {
    if (m == null) {
      return Map.of(); // experiment.json written before per-fraction rates existed
    }
    for (Map.Entry<String, Double> e : m.entrySet()) {
      if (!(e.getValue() > 0)) {
        throw new IllegalArgumentException(flag + ": the learning rate at fraction " + e.getKey()
            + " must be > 0, got " + e.getValue());
      }
    }
    return Collections.unmodifiableMap(new TreeMap<>(m));
  }
}
