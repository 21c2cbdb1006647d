package dev.selfie.training.jobs;

import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Max;
import org.tensorflow.op.core.Min;
import org.tensorflow.op.core.Stack;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TUint8;

/**
 * What pretraining asks and answers, as a TensorBoard image: for the first {@code k} images of
 * the step's batch, three panels side by side — the input, the input with its masked patches
 * greyed out (what the context network sees), and the input with every masked location filled
 * by the patch the model picked for it (right picks reproduce the input; wrong ones show where
 * the model put which patch).
 *
 * <p>Computed from the step's own tensors (images, mask, logits) inside the training step's run,
 * so it draws no data and no randomness of its own.
 */
public final class PretrainImages {
  private PretrainImages() {}

  /**
   * @param images the step's images [B, S, S, C] (as the model sees them)
   * @param masked [B, m] masked locations, in the queries' order
   * @param logits [B, m, m]: query j (location masked[j]) against candidate patch k
   * @param k images shown (the batch must hold at least k)
   * @return uint8 [k, S, 3S, C]
   */
  public static Operand<TUint8> panels(Ops tf, ModelConfig c, Operand<TFloat32> images,
      Operand<TInt32> masked, Operand<TFloat32> logits, int k) {
    Ops s = tf.withSubScope("pretrain_images");
    int n = c.numPatches();
    int m = c.numMasked();
    Operand<TFloat32> x = s.slice(images, s.constant(new int[] {0, 0, 0, 0}),
        s.constant(new int[] {k, -1, -1, -1}));                                 // [k, S, S, C]
    Operand<TInt32> mk = s.slice(masked, s.constant(new int[] {0, 0}), s.constant(new int[] {k, m}));
    Operand<TFloat32> lg = s.slice(logits, s.constant(new int[] {0, 0, 0}),
        s.constant(new int[] {k, m, m}));
    Operand<TFloat32> patches = Selfie.cutPatches(s, c, x);                    // [k, n, p, p, C]

    // Greyed: the masked locations at the image's mean value.
    Operand<TFloat32> isMasked = s.reduceMax(s.oneHot(mk, s.constant(n), s.constant(1f),
        s.constant(0f)), s.constant(1));                                        // [k, n]
    Operand<TFloat32> keep = s.reshape(s.math.sub(s.constant(1f), isMasked),
        s.constant(new int[] {k, n, 1, 1, 1}));
    Operand<TFloat32> grey = s.math.mean(x, s.constant(new int[] {1, 2, 3}),
        org.tensorflow.op.math.Mean.keepDims(true));                            // [k, 1, 1, 1]
    Operand<TFloat32> greyPatches = s.math.add(s.math.mul(patches, keep),
        s.math.mul(s.math.sub(s.constant(1f), keep),
            s.reshape(grey, s.constant(new int[] {k, 1, 1, 1, 1}))));

    // Picked: location masked[j] shows the patch of location masked[argmax_k logits[j, k]].
    Operand<TInt32> pick = s.math.argMax(lg, s.constant(2), TInt32.class);     // [k, m]
    Operand<TInt32> rows = s.tile(s.expandDims(s.range(s.constant(0), s.constant(k),
        s.constant(1)), s.constant(1)), s.constant(new int[] {1, m}));          // [k, m]
    Operand<TInt32> source = s.gatherNd(mk, s.stack(List.of(rows, pick), Stack.axis(2L)));
    Operand<TInt32> identity = s.tile(s.expandDims(s.range(s.constant(0), s.constant(n),
        s.constant(1)), s.constant(0)), s.constant(new int[] {k, 1}));         // [k, n]
    Operand<TInt32> from = s.tensorScatterNdUpdate(identity,
        s.stack(List.of(rows, mk), Stack.axis(2L)), source);                    // [k, n]
    Operand<TFloat32> picked = s.gatherNd(patches,
        s.stack(List.of(s.tile(s.expandDims(s.range(s.constant(0), s.constant(k),
            s.constant(1)), s.constant(1)), s.constant(new int[] {1, n})), from), Stack.axis(2L)));

    Operand<TFloat32> row = s.concat(List.of(x, assemble(s, c, greyPatches, k),
        assemble(s, c, picked, k)), s.constant(2));                            // [k, S, 3S, C]
    // Each image's own range to 0..255.
    Operand<TInt32> axes = s.constant(new int[] {1, 2, 3});
    Operand<TFloat32> lo = s.min(x, axes, Min.keepDims(true));
    Operand<TFloat32> hi = s.max(x, axes, Max.keepDims(true));
    Operand<TFloat32> unit = s.math.div(s.math.sub(row, lo),
        s.math.maximum(s.math.sub(hi, lo), s.constant(1e-6f)));
    Operand<TFloat32> scaled = s.math.round(s.math.mul(
        s.clipByValue(unit, s.constant(0f), s.constant(1f)), s.constant(255f)));
    return s.dtypes.cast(scaled, TUint8.class);
  }

  /** Inverse of {@link Selfie#cutPatches}: patches [k, n, p, p, C] -> images [k, S, S, C]. */
  static Operand<TFloat32> assemble(Ops tf, ModelConfig c, Operand<TFloat32> patches, int k) {
    int g = c.grid();
    int p = c.patchSize();
    int ch = c.channels();
    Operand<TFloat32> y = tf.reshape(patches, tf.constant(new int[] {k, g, g, p, p, ch}));
    y = tf.linalg.transpose(y, tf.constant(new int[] {0, 1, 3, 2, 4, 5}));    // [k, g, p, g, p, C]
    return tf.reshape(y, tf.constant(new int[] {k, g * p, g * p, ch}));
  }
}
