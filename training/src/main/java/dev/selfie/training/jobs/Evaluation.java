package dev.selfie.training.jobs;

import dev.selfie.data.pipeline.Pipeline;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TFOutOfRangeException;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Test-set accuracy of a classifier graph: one pass over a non-repeating pipeline, counting
 * correct top-1 predictions. The pipeline's iterator is re-made first, so it can run every N
 * steps of a training run.
 */
public final class Evaluation {

  /** Correct and total counts of one pass. */
  public record Accuracy(long correct, long total) {
    public double value() {
      return total == 0 ? Double.NaN : (double) correct / total;
    }
  }

  private final Pipeline pipeline;
  private final Operand<TInt32> correct;
  private final Operand<TInt32> count;

  /**
   * @param logits [B, K] computed from {@code pipeline.images()} (inference mode)
   */
  public Evaluation(Ops tf, Pipeline pipeline, Operand<TFloat32> logits) {
    Ops s = tf.withSubScope("evaluation");
    this.pipeline = pipeline;
    Operand<TInt32> predicted = s.math.argMax(logits, s.constant(-1), TInt32.class);
    this.correct = s.sum(
        s.dtypes.cast(s.math.equal(predicted, pipeline.labels()), TInt32.class), s.constant(0));
    this.count = s.size(pipeline.labels(), TInt32.class);
  }

  /** Runs one pass over the pipeline. */
  public Accuracy run(Session session) {
    try (Result ignored = session.runner().addTarget(pipeline.initializer()).run()) {
      // re-made iterator: a fresh pass over the split
    }
    long ok = 0;
    long total = 0;
    while (true) {
      try (Result r = session.runner().fetch(correct).fetch(count).run()) {
        ok += ((TInt32) r.get(0)).getInt();
        total += ((TInt32) r.get(1)).getInt();
      } catch (TFOutOfRangeException end) {
        return new Accuracy(ok, total);
      }
    }
  }
}
