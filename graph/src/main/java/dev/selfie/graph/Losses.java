package dev.selfie.graph;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Classification loss and accuracy, shared by the Selfie loss and finetuning.
 *
 * <p>The cross-entropy uses one-hot labels and {@code SoftmaxCrossEntropyWithLogits}: TF Java has
 * its gradient, while {@code SparseSoftmaxCrossEntropyWithLogits} has none.
 */
public final class Losses {
  private Losses() {}

  /**
   * Mean softmax cross-entropy: logits [N, K], labels [N] int32 in [0, K) -> scalar. K is taken
   * from the static shape of {@code logits}.
   */
  public static Operand<TFloat32> crossEntropy(
      Ops tf, Operand<TFloat32> logits, Operand<TInt32> labels) {
    return crossEntropy(tf, logits, labels, Layers.lastDim(logits, "crossEntropy logits"));
  }

  /** As {@link #crossEntropy(Ops, Operand, Operand)} with K given. */
  public static Operand<TFloat32> crossEntropy(
      Ops tf, Operand<TFloat32> logits, Operand<TInt32> labels, int numClasses) {
    Operand<TFloat32> oneHot =
        tf.oneHot(labels, tf.constant(numClasses), tf.constant(1f), tf.constant(0f));
    Operand<TFloat32> perExample = tf.nn.softmaxCrossEntropyWithLogits(logits, oneHot).loss();
    return tf.math.mean(perExample, tf.constant(0));
  }

  /** Fraction of rows whose argmax equals the label: logits [N, K], labels [N] -> scalar. */
  public static Operand<TFloat32> accuracy(
      Ops tf, Operand<TFloat32> logits, Operand<TInt32> labels) {
    Operand<TInt32> predicted = tf.math.argMax(logits, tf.constant(-1), TInt32.class);
    Operand<TFloat32> correct =
        tf.dtypes.cast(tf.math.equal(predicted, labels), TFloat32.class);
    return tf.math.mean(correct, tf.constant(0));
  }
}
