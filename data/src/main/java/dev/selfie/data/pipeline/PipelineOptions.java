package dev.selfie.data.pipeline;

import java.util.Arrays;

/**
 * How to stream a split. Validated on construction.
 *
 * <p>Reproducibility contract: the element stream is a pure function of (dataset files, indices,
 * seed): the order within epoch {@code e} depends only on (seed, e), and the augmentation of the
 * element at global position {@code i} (counting from the start of the stream, across epochs)
 * only on (seed, i). A pipeline built with {@code skipElements = k} yields exactly what a fresh
 * one yields after its first k elements, without reading the skipped epochs.
 *
 * @param batchSize examples per batch, &gt; 0
 * @param shuffle shuffle each epoch (full-epoch shuffle, order from (seed, epoch))
 * @param augment random crop (4-pixel zero padding) + horizontal flip; off for evaluation
 * @param repeat repeat epochs forever; otherwise one epoch, then end of sequence
 * @param seed run seed (shuffle and augmentation)
 * @param skipElements examples to skip from the start of the stream (resume), &gt;= 0
 * @param indices the examples to use (indices into the split, any order, no duplicates), or null
 *     for all
 * @param parallelism parallel calls of the decode/augment map, &gt; 0, or -1 for autotune
 * @param prefetch batches to prefetch, &gt;= 0, or -1 for autotune
 * @param dropRemainder drop a last partial batch (static batch dimension)
 */
public record PipelineOptions(
    int batchSize,
    boolean shuffle,
    boolean augment,
    boolean repeat,
    long seed,
    long skipElements,
    int[] indices,
    int parallelism,
    int prefetch,
    boolean dropRemainder) {

  /** Augmentation crop padding in pixels. */
  public static final int CROP_PAD = 4;

  public PipelineOptions {
    if (batchSize <= 0) {
      throw new IllegalArgumentException("batch size must be > 0, got " + batchSize);
    }
    if (skipElements < 0) {
      throw new IllegalArgumentException("skipElements must be >= 0, got " + skipElements);
    }
    if (parallelism == 0 || parallelism < -1) {
      throw new IllegalArgumentException("parallelism must be > 0 or -1 (autotune), got " + parallelism);
    }
    if (prefetch < -1) {
      throw new IllegalArgumentException("prefetch must be >= 0 or -1 (autotune), got " + prefetch);
    }
    if (indices != null) {
      indices = indices.clone();
      if (indices.length == 0) {
        throw new IllegalArgumentException("indices must not be empty (use null for all examples)");
      }
      int[] sorted = indices.clone();
      Arrays.sort(sorted);
      if (sorted[0] < 0) {
        throw new IllegalArgumentException("indices must be >= 0, got " + sorted[0]);
      }
      for (int i = 1; i < sorted.length; i++) {
        if (sorted[i] == sorted[i - 1]) {
          throw new IllegalArgumentException("duplicate index " + sorted[i] + " in indices");
        }
      }
    }
  }

  @Override
  public int[] indices() {
    return indices == null ? null : indices.clone();
  }

  /** Default parallelism of the map: the available processors. */
  static int defaultParallelism() {
    return Math.max(1, Runtime.getRuntime().availableProcessors());
  }

  /** Training: shuffle, augment, repeat, all examples, drop the remainder, prefetch 2. */
  public static PipelineOptions train(int batchSize, long seed) {
    return new PipelineOptions(batchSize, true, true, true, seed, 0, null, defaultParallelism(), 2, true);
  }

  /** Evaluation: file order, no augmentation, one epoch, keep the last partial batch. */
  public static PipelineOptions eval(int batchSize) {
    return new PipelineOptions(batchSize, false, false, false, 0, 0, null, defaultParallelism(), 2, false);
  }

  public PipelineOptions withSkipElements(long k) {
    return new PipelineOptions(batchSize, shuffle, augment, repeat, seed, k, indices, parallelism, prefetch, dropRemainder);
  }

  public PipelineOptions withIndices(int[] idx) {
    return new PipelineOptions(batchSize, shuffle, augment, repeat, seed, skipElements, idx, parallelism, prefetch, dropRemainder);
  }

  public PipelineOptions withAugment(boolean a) {
    return new PipelineOptions(batchSize, shuffle, a, repeat, seed, skipElements, indices, parallelism, prefetch, dropRemainder);
  }

  public PipelineOptions withRepeat(boolean r) {
    return new PipelineOptions(batchSize, shuffle, augment, r, seed, skipElements, indices, parallelism, prefetch, dropRemainder);
  }

  public PipelineOptions withShuffle(boolean s) {
    return new PipelineOptions(batchSize, s, augment, repeat, seed, skipElements, indices, parallelism, prefetch, dropRemainder);
  }

  public PipelineOptions withSeed(long s) {
    return new PipelineOptions(batchSize, shuffle, augment, repeat, s, skipElements, indices, parallelism, prefetch, dropRemainder);
  }

  public PipelineOptions withParallelism(int p) {
    return new PipelineOptions(batchSize, shuffle, augment, repeat, seed, skipElements, indices, p, prefetch, dropRemainder);
  }

  public PipelineOptions withDropRemainder(boolean d) {
    return new PipelineOptions(batchSize, shuffle, augment, repeat, seed, skipElements, indices, parallelism, prefetch, d);
  }
}
