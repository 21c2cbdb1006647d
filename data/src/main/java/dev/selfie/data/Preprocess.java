package dev.selfie.data;

import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TUint8;

/**
 * Image preprocessing as graph ops, shared by the training pipeline, evaluation and the
 * SavedModel's uint8 input.
 *
 * <p>Normalisation: {@code x = (pixel / 255 - mean[c]) / std[c]} with the dataset's constants
 * ({@link DatasetSpec#mean()}, {@link DatasetSpec#std()}). Padding to the model side S is with
 * zero pixels (so a padded pixel becomes {@code -mean/std}), centred.
 */
public final class Preprocess {
  private Preprocess() {}

  /**
   * Native uint8 {@code [N, H, W, C]} (or already padded {@code [N, S, S, C]}) -> model input
   * float {@code [N, S, S, C]}: pad to S, scale, normalise. The SAME function the pipeline uses;
   * the SavedModel export calls it on its uint8 input. The spatial dims of {@code images} must be
   * statically known.
   */
  public static Operand<TFloat32> fromUint8(Ops tf, Operand<TUint8> images, DatasetSpec spec) {
    return normalize(tf, padTo(tf, images, spec.imageSize()), spec);
  }

  /**
   * Zero-pads uint8 images {@code [N, H, W, C]} (or a single image {@code [H, W, C]}) centred to
   * {@code S x S}; a no-op if already S x S.
   */
  public static Operand<TUint8> padTo(Ops tf, Operand<TUint8> images, int size) {
    Shape s = images.shape();
    int rank = s.numDimensions();
    if (rank != 3 && rank != 4) {
      throw new IllegalArgumentException("expected images [N, H, W, C] or [H, W, C], got shape " + s);
    }
    long h = s.get(rank - 3);
    long w = s.get(rank - 2);
    if (h < 0 || w < 0) {
      throw new IllegalArgumentException("image height and width must be statically known, got shape " + s);
    }
    if (h > size || w > size) {
      throw new IllegalArgumentException("images " + h + "x" + w + " are larger than the model input " + size);
    }
    if (h == size && w == size) {
      return images;
    }
    int top = (int) (size - h) / 2;
    int left = (int) (size - w) / 2;
    int[][] pads = new int[rank][2];
    pads[rank - 3] = new int[] {top, (int) (size - h) - top};
    pads[rank - 2] = new int[] {left, (int) (size - w) - left};
    return tf.pad(images, tf.constant(pads), tf.constant((byte) 0));
  }

  /** uint8 {@code [..., C]} -> float {@code [..., C]}: {@code (x / 255 - mean) / std}. */
  public static Operand<TFloat32> normalize(Ops tf, Operand<TUint8> images, DatasetSpec spec) {
    float[] mean = spec.mean();
    float[] std = spec.std();
    float[] scale = new float[mean.length];
    float[] shift = new float[mean.length];
    for (int c = 0; c < mean.length; c++) {
      scale[c] = (float) (1.0 / (255.0 * std[c]));
      shift[c] = (float) (-mean[c] / std[c]);
    }
    Operand<TFloat32> x = tf.dtypes.cast(images, TFloat32.class);
    return tf.math.add(tf.math.mul(x, tf.constant(scale)), tf.constant(shift));
  }

  /**
   * Training augmentation of one uint8 image {@code [S, S, C]}: random crop of an S x S window
   * from the image zero-padded by {@code pad} pixels on each side, then horizontal flip with
   * probability 1/2. Stateless: the randomness is a pure function of {@code seed} ({@code [2]}
   * int64), so a given (run seed, element index) always gets the same crop and flip.
   */
  public static Operand<TUint8> augment(Ops tf, Operand<TUint8> image, Operand<TInt64> seed, int size, int pad) {
    // [3] uniform [0,1): row offset, column offset (scaled to 0..2*pad), flip (< 0.5).
    Operand<TFloat32> u = tf.random.statelessRandomUniform(tf.constant(new int[] {3}), seed, TFloat32.class);
    Operand<TInt32> offsets =
        tf.math.minimum(
            tf.dtypes.cast(
                tf.math.floor(
                    tf.math.mul(
                        tf.slice(u, tf.constant(new int[] {0}), tf.constant(new int[] {2})),
                        tf.constant((float) (2 * pad + 1)))),
                TInt32.class),
            tf.constant(2 * pad));
    Operand<TFloat32> flipDraw =
        tf.reshape(tf.slice(u, tf.constant(new int[] {2}), tf.constant(new int[] {1})), tf.constant(new int[0]));
    Operand<TUint8> padded =
        tf.pad(image, tf.constant(new int[][] {{pad, pad}, {pad, pad}, {0, 0}}), tf.constant((byte) 0));
    Operand<TInt32> begin = tf.concat(java.util.List.of(offsets, tf.constant(new int[] {0})), tf.constant(0));
    Operand<TUint8> crop = tf.slice(padded, begin, tf.constant(new int[] {size, size, -1}));
    crop = tf.ensureShape(crop, Shape.of(size, size, image.shape().get(2)));
    Operand<TUint8> flipped = tf.reverse(crop, tf.constant(new int[] {1}));
    Operand<org.tensorflow.types.TBool> flip = tf.math.less(flipDraw, tf.constant(0.5f));
    return tf.select(flip, flipped, crop);
  }
}
