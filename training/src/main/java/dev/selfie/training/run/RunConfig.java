package dev.selfie.training.run;

/**
 * What every training run's config.json holds and the shared run skeleton reads (the jobs'
 * {@code Config} records implement it; it adds nothing to the JSON).
 */
public interface RunConfig {
  /** The dataset the run trains on. */
  String dataset();

  /** Images per training step. */
  int batchSize();

  /** The run's last step. */
  long steps();

  /** The run seed (data order, masking, initialisation). */
  long seed();

  /** True if the training images are randomly cropped and flipped. */
  boolean augment();

  /** True if the run started with XLA: a resume compiles with it too. */
  boolean xla();

  /** The precision the run started with; null in config files from before the field. */
  String precision();

  /**
   * Checks a config's {@code kind} field (the job that wrote config.json).
   *
   * @throws IllegalArgumentException naming both kinds when they differ
   */
  static void requireKind(String expected, String kind) {
    if (!expected.equals(kind)) {
      throw new IllegalArgumentException(
          "config kind must be \"" + expected + "\", got " + kind);
    }
  }
}
