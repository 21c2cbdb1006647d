package dev.selfie.data;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Class-balanced label fractions (DESIGN.md, finetuning 3): from each class, the same fraction of
 * its examples, chosen at random by a seed.
 */
public final class LabelFractions {
  private LabelFractions() {}

  /**
   * Chooses {@code round(fraction * count_k)} examples of every class k (at least one if the class
   * is not empty), uniformly at random without replacement. On a balanced dataset every class gets
   * the same number (5% of Fashion-MNIST train = 300 per class). Deterministic for a seed
   * (java.util.SplittableRandom, whose algorithm is specified), different across seeds.
   *
   * @param labels {@code [N]} labels in {@code 0..numClasses-1}
   * @param fraction in {@code (0, 1]}; 1 selects everything
   * @return the chosen indices into {@code labels}, sorted ascending
   */
  public static int[] select(int[] labels, int numClasses, double fraction, long seed) {
    return select(labels, numClasses, fraction, seed, new int[0]);
  }

  /**
   * {@link #select} among the examples not listed in {@code excluded} (e.g. a held-out validation
   * split). The number per class is still {@code round(fraction * count_k)} of the WHOLE class,
   * so 1% of Fashion-MNIST is 60 per class with or without a validation split; it is capped by
   * what remains of the class after the exclusion.
   *
   * @param excluded indices that may not be chosen (any order, may be empty)
   * @throws IllegalArgumentException if a class has examples but all of them are excluded
   */
  public static int[] select(
      int[] labels, int numClasses, double fraction, long seed, int[] excluded) {
    return select(labels, numClasses, fraction, null, seed, excluded);
  }

  /**
   * Exactly {@code count} examples, class-balanced: class k gets {@code count * n_k / N} rounded
   * by largest remainder (ties to the lower class), chosen by {@code seed}. Used for the
   * validation split, whose size should be what the user asked for.
   */
  public static int[] selectCount(int[] labels, int numClasses, int count, long seed) {
    if (count < 1 || count > labels.length) {
      throw new IllegalArgumentException(
          "count must be in [1, " + labels.length + "], got " + count);
    }
    int[] classCount = new int[numClasses];
    for (int l : labels) {
      if (l < 0 || l >= numClasses) {
        throw new IllegalArgumentException("label " + l + " is outside 0.." + (numClasses - 1));
      }
      classCount[l]++;
    }
    int[] quota = new int[numClasses];
    double[] remainder = new double[numClasses];
    int given = 0;
    for (int k = 0; k < numClasses; k++) {
      double exact = (double) count * classCount[k] / labels.length;
      quota[k] = (int) Math.floor(exact);
      remainder[k] = exact - quota[k];
      given += quota[k];
    }
    while (given < count) {
      int best = -1;
      for (int k = 0; k < numClasses; k++) {
        if (quota[k] < classCount[k] && (best < 0 || remainder[k] > remainder[best])) {
          best = k;
        }
      }
      quota[best]++;
      remainder[best] = -1;
      given++;
    }
    return select(labels, numClasses, (double) count / labels.length, quota, seed, new int[0]);
  }

  private static int[] select(int[] labels, int numClasses, double fraction, int[] quota,
      long seed, int[] excluded) {
    if (!(fraction > 0 && fraction <= 1)) {
      throw new IllegalArgumentException("label fraction must be in (0, 1], got " + fraction);
    }
    if (numClasses <= 0) {
      throw new IllegalArgumentException("numClasses must be > 0, got " + numClasses);
    }
    List<List<Integer>> byClass = new ArrayList<>();
    for (int k = 0; k < numClasses; k++) {
      byClass.add(new ArrayList<>());
    }
    boolean[] skip = new boolean[labels.length];
    for (int i : excluded) {
      if (i < 0 || i >= labels.length) {
        throw new IllegalArgumentException(
            "excluded index " + i + " is outside 0.." + (labels.length - 1));
      }
      skip[i] = true;
    }
    int[] classCount = new int[numClasses];
    for (int i = 0; i < labels.length; i++) {
      int l = labels[i];
      if (l < 0 || l >= numClasses) {
        throw new IllegalArgumentException("label " + l + " of example " + i + " is outside 0.." + (numClasses - 1));
      }
      classCount[l]++;
      if (!skip[i]) {
        byClass.get(l).add(i);
      }
    }
    SplittableRandom rng = new SplittableRandom(seed);
    boolean[] chosen = new boolean[labels.length];
    int total = 0;
    for (int k = 0; k < numClasses; k++) {
      List<Integer> members = byClass.get(k);
      int count = members.size();
      if (classCount[k] == 0) {
        continue;
      }
      if (count == 0) {
        throw new IllegalArgumentException("class " + k + " has " + classCount[k]
            + " examples, all of them excluded (held out for validation?)");
      }
      int take = quota != null ? Math.min(count, quota[k])
          : (int) Math.max(1, Math.min(count, Math.round(fraction * classCount[k])));
      if (take == 0) {
        continue;
      }
      int[] idx = members.stream().mapToInt(Integer::intValue).toArray();
      // Partial Fisher-Yates: the first `take` entries are a uniform sample.
      for (int j = 0; j < take; j++) {
        int swap = j + rng.nextInt(count - j);
        int t = idx[j];
        idx[j] = idx[swap];
        idx[swap] = t;
        chosen[idx[j]] = true;
      }
      total += take;
    }
    int[] out = new int[total];
    int o = 0;
    for (int i = 0; i < chosen.length; i++) {
      if (chosen[i]) {
        out[o++] = i;
      }
    }
    return out;
  }

  /** Examples per class among {@code indices}, {@code [numClasses]}. */
  public static int[] countsPerClass(int[] labels, int[] indices, int numClasses) {
    int[] counts = new int[numClasses];
    for (int i : indices) {
      counts[labels[i]]++;
    }
    return counts;
  }
}
