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
    for (int i = 0; i < labels.length; i++) {
      int l = labels[i];
      if (l < 0 || l >= numClasses) {
        throw new IllegalArgumentException("label " + l + " of example " + i + " is outside 0.." + (numClasses - 1));
      }
      byClass.get(l).add(i);
    }
    SplittableRandom rng = new SplittableRandom(seed);
    boolean[] chosen = new boolean[labels.length];
    int total = 0;
    for (int k = 0; k < numClasses; k++) {
      List<Integer> members = byClass.get(k);
      int count = members.size();
      if (count == 0) {
        continue;
      }
      int take = (int) Math.max(1, Math.min(count, Math.round(fraction * count)));
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
