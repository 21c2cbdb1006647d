package dev.selfie.graph;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.train.BatchMatMul;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The Selfie loss (patch selection) and its by-products: each query v_j must pick its own patch
 * among the m masked patches of its image.
 *
 * @param loss scalar, mean softmax cross-entropy over the B*m predictions
 * @param logits [B, m, m]: logits[b, j, k] = v_j . h_k / temperature over image b's masked
 *     patches
 * @param labels [B, m] int32, labels[b, j] = j (the right patch for query j)
 * @param accuracy scalar, fraction of queries whose argmax is the right patch (chance 1/m)
 */
public record SelfieLoss(
    Operand<TFloat32> loss,
    Operand<TFloat32> logits,
    Operand<TInt32> labels,
    Operand<TFloat32> accuracy) {

  /**
   * Patch-selection loss: queries v [B, m, d], masked-patch embeddings h [B, m, d] (in the same
   * order as the queries) -> logits [B, m, m] = v h^T / temperature, softmax cross-entropy with
   * target k = j. Implemented with one-hot labels and {@code SoftmaxCrossEntropyWithLogits}
   * (whose gradient TF Java has; the sparse op has none), no custom gradient registered.
   */
  public static SelfieLoss of(
      Ops tf, Operand<TFloat32> queries, Operand<TFloat32> targets, double temperature) {
    Shape qs = queries.shape();
    if (qs.numDimensions() != 3 || qs.size(1) < 0) {
      throw new IllegalArgumentException(
          "selfieLoss: queries must be [B, m, d] with static m, got " + qs);
    }
    int m = (int) qs.size(1);
    Operand<TFloat32> logits = tf.train.batchMatMul(queries, targets, TFloat32.class,
        BatchMatMul.adjY(true));                                          // [B, m, m]
    if (temperature != 1.0) {
      logits = tf.math.div(logits, tf.constant((float) temperature));
    }
    Operand<TInt32> b = Layers.batchSize(tf, queries);
    Operand<TInt32> labels = tf.tile(
        tf.expandDims(tf.range(tf.constant(0), tf.constant(m), tf.constant(1)), tf.constant(0)),
        tf.stack(List.of(b, tf.constant(1))));                               // [B, m]
    Operand<TFloat32> flatLogits = tf.reshape(logits, tf.constant(new int[] {-1, m}));
    Operand<TInt32> flatLabels = tf.reshape(labels, tf.constant(new int[] {-1}));
    Operand<TFloat32> loss = Losses.crossEntropy(tf, flatLogits, flatLabels, m);
    Operand<TFloat32> accuracy = Losses.accuracy(tf, flatLogits, flatLabels);
    return new SelfieLoss(loss, logits, labels, accuracy);
  }
}
