package dev.selfie.data.pipeline;

import dev.selfie.data.ImageSource;
import dev.selfie.data.Split;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;

/** Measures the input pipeline's throughput in a session ({@code selfie data bench}). */
public final class PipelineBench {

  private PipelineBench() {}

  /**
   * What a measurement found.
   *
   * @param initSeconds building the graph and making the iterator (reads the split's files)
   * @param imagesPerSecond after two warm-up batches
   */
  public record Result(
      String dataset, String split, int batchSize, boolean augment, int parallelism, long batches,
      long images, double seconds, double initSeconds, double imagesPerSecond) {}

  /**
   * Runs the training pipeline (shuffle, augmentation as configured, repeat) in a session for
   * about {@code seconds}, fetching each batch (images and labels) and closing the tensors.
   *
   * @throws IllegalArgumentException if {@code seconds} is not positive
   */
  public static Result run(ImageSource src, Split split, PipelineOptions o, double seconds) {
    if (!(seconds > 0)) {
      throw new IllegalArgumentException("--seconds must be > 0, got " + seconds);
    }
    long t0 = System.nanoTime();
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Pipeline p = Pipelines.build(tf, src, split, o.withRepeat(true));
      s.initialize();
      for (int i = 0; i < 2; i++) {
        try (org.tensorflow.Result r = s.runner().fetch(p.images()).fetch(p.labels()).run()) {
          // warm-up
        }
      }
      double init = (System.nanoTime() - t0) / 1e9;
      long batches = 0;
      long images = 0;
      long start = System.nanoTime();
      long end = start + (long) (seconds * 1e9);
      while (System.nanoTime() < end) {
        try (org.tensorflow.Result r = s.runner().fetch(p.images()).fetch(p.labels()).run()) {
          images += r.get(1).shape().get(0);
          batches++;
        }
      }
      double took = (System.nanoTime() - start) / 1e9;
      return new Result(
          src.spec().name(), split.id(), o.batchSize(), o.augment(), o.parallelism(), batches,
          images, took, init, images / took);
    }
  }
}
