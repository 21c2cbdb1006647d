package dev.selfie.training.options;

import java.nio.file.Path;

/**
 * The images a training run reads and how it batches them.
 *
 * @param dataset {@code --dataset}: cifar10, fashion-mnist, imagenet32, imagenet or folder
 * @param dataDir {@code --data-dir}: the data home (null: $SELFIE_DATA, else the default); for
 *     {@code folder}, the folder with {@code train/<class>/*} and {@code test/<class>/*}
 * @param unlabeledDir {@code --unlabeled-dir}: with {@code folder}, a folder of unlabeled images
 *     to pretrain on besides the train split (pretraining only; null = none)
 * @param augment random crop + flip of the training images
 * @param batchSize {@code --batch-size}: images per training step
 */
public record DataOptions(
    String dataset, Path dataDir, Path unlabeledDir, boolean augment, int batchSize) {

  public DataOptions {
    if (batchSize < 1) {
      throw new IllegalArgumentException("--batch-size must be >= 1, got " + batchSize);
    }
  }

  /** The command line's defaults: Fashion-MNIST in the data home, augmented, 64 per step. */
  public static DataOptions defaults() {
    return new DataOptions("fashion-mnist", null, null, true, 64);
  }

  /** The defaults with {@code dataset} in {@code dataDir} (null: the data home). */
  public static DataOptions of(String dataset, Path dataDir) {
    return defaults().withDataset(dataset).withDataDir(dataDir);
  }

  public DataOptions withDataset(String d) {
    return new DataOptions(d, dataDir, unlabeledDir, augment, batchSize);
  }

  public DataOptions withDataDir(Path d) {
    return new DataOptions(dataset, d, unlabeledDir, augment, batchSize);
  }

  public DataOptions withUnlabeledDir(Path d) {
    return new DataOptions(dataset, dataDir, d, augment, batchSize);
  }

  public DataOptions withAugment(boolean a) {
    return new DataOptions(dataset, dataDir, unlabeledDir, a, batchSize);
  }

  public DataOptions withBatchSize(int n) {
    return new DataOptions(dataset, dataDir, unlabeledDir, augment, n);
  }
}
