package dev.selfie.training.options;

import dev.selfie.training.runtime.Precision;

/**
 * What a run computes with: its seed and how TensorFlow executes the step.
 *
 * @param seed {@code --seed}: the run seed (data order, masking, initialisation)
 * @param threads {@code --threads}: intra-op threads (0 = TensorFlow's default, all cores)
 * @param xla {@code --xla}: compile the step with XLA (JIT)
 * @param precision {@code --precision}: float32, bfloat16, float16 or auto ({@link Precision});
 *     null reads as auto. Checked here, so a bad value fails before a run directory exists
 */
public record RuntimeOptions(long seed, int threads, boolean xla, String precision) {

  public RuntimeOptions {
    precision = Precision.checkFlag(precision);
  }

  /** The command line's defaults: seed 1, all cores, no XLA, precision auto. */
  public static RuntimeOptions defaults() {
    return new RuntimeOptions(1, 0, false, "auto");
  }

  public RuntimeOptions withSeed(long s) {
    return new RuntimeOptions(s, threads, xla, precision);
  }

  public RuntimeOptions withThreads(int n) {
    return new RuntimeOptions(seed, n, xla, precision);
  }

  public RuntimeOptions withXla(boolean x) {
    return new RuntimeOptions(seed, threads, x, precision);
  }

  public RuntimeOptions withPrecision(String p) {
    return new RuntimeOptions(seed, threads, xla, p);
  }
}
