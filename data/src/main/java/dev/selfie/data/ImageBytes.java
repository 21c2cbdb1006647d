package dev.selfie.data;

import java.util.List;
import org.tensorflow.ConcreteFunction;
import org.tensorflow.Operand;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.image.DecodeImage;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TString;
import org.tensorflow.types.TUint8;

/**
 * Encoded images (JPEG, PNG, BMP, GIF) -> the uint8 pixels a model takes, in the graph: the same
 * steps as {@code selfie predict}'s Java code ({@code ImageFiles} in training), so that a
 * SavedModel can take image bytes ({@code serving_bytes}) and answer what {@code selfie predict}
 * answers for the same files.
 *
 * <ol>
 *   <li>Decode with the file's own channels; grey (1 channel) stays grey, everything else
 *       becomes RGB, with transparent pixels composited over black ({@code round(v * a / 255)}).
 *   <li>Fit to {@code H x W} as evaluation does: resize keeping the aspect ratio so that the image
 *       covers {@code zoom * H x zoom * W} (area average when shrinking, bilinear with half-pixel
 *       centres when enlarging; same size: untouched), round half up, crop the centre.
 *   <li>Convert to the model's channels: grey -> RGB repeats the value; RGB -> grey is the
 *       luminance {@code round(0.299 R + 0.587 G + 0.114 B)} (ITU-R BT.601).
 * </ol>
 *
 * Decoders differ in the last bits (JPEG above all: libjpeg in TensorFlow, ImageIO in Java), and
 * TensorFlow's area resize sums in float32 where Java uses float64: pixels may differ by one
 * level where a value falls on a rounding edge. PNG/BMP of the model's own size are identical.
 */
public final class ImageBytes {
  private ImageBytes() {}

  /**
   * Decodes and fits a batch of encoded images.
   *
   * @param encoded {@code [N]} encoded images
   * @param height the model's H
   * @param width the model's W
   * @param channels the model's C (1 or 3)
   * @param zoom the dataset's evaluation resize (1, or 256/224 for ImageNet and folders)
   * @return uint8 {@code [N, H, W, C]}; a string that is not an image fails the run with
   *     InvalidArgument
   */
  public static Operand<TUint8> decodeAndFit(Ops tf, Operand<TString> encoded, int height,
      int width, int channels, double zoom) {
    if (channels != 1 && channels != 3) {
      throw new IllegalArgumentException("image bytes can feed 1 (grey) or 3 (RGB) channels, not "
          + channels);
    }
    if (!(zoom >= 1.0)) {
      throw new IllegalArgumentException("zoom must be >= 1, got " + zoom);
    }
    try (ConcreteFunction fn = ConcreteFunction.create(ftf -> {
      Placeholder<TString> one = ftf.placeholder(TString.class,
          Placeholder.shape(Shape.scalar()));
      return Signature.builder().input("encoded", one)
          .output("pixels", decodeOne(ftf, one, height, width, channels, zoom)).build();
    })) {
      return tf.dtypes.cast(
          tf.mapDefun(List.of(encoded), List.of(), List.of(TUint8.class),
              List.of(Shape.of(height, width, channels)), fn).output().get(0), TUint8.class);
    }
  }

  /** One encoded image (scalar string) -> uint8 {@code [H, W, C]}. */
  static Operand<TUint8> decodeOne(Ops tf, Operand<TString> encoded, int height, int width,
      int channels, double zoom) {
    Operand<TUint8> img = tf.image.decodeImage(encoded, TUint8.class,
        DecodeImage.channels(0L), DecodeImage.expandAnimations(false)); // [h, w, k], k in 1..4
    Operand<TInt32> shape = tf.shape(img);
    Operand<TInt32> k = tf.gather(shape, tf.constant(2), tf.constant(0));
    Operand<TFloat64> px = tf.dtypes.cast(img, TFloat64.class);
    // Alpha (k = 2 or 4) composited over black, half up like Java's Math.round.
    Operand<TBool> hasAlpha = tf.math.logicalOr(tf.math.equal(k, tf.constant(2)),
        tf.math.equal(k, tf.constant(4)));
    Operand<TFloat64> alpha = tf.gather(px, tf.reshape(tf.math.sub(k, tf.constant(1)),
        tf.constant(new int[] {1})), tf.constant(2)); // [h, w, 1]
    Operand<TFloat64> composited = roundHalfUp(tf,
        tf.math.div(tf.math.mul(px, alpha), tf.constant(255.0)));
    px = tf.select(hasAlpha, composited, px);
    // Grey (k = 1) stays 1 channel; grey+alpha -> RGB (repeated); RGB(A) -> RGB.
    // Channel indices by k (rows padded to 3) and how many of them to keep.
    Operand<TInt32> km1 = tf.math.sub(k, tf.constant(1));
    Operand<TInt32> table = tf.gather(
        tf.constant(new int[][] {{0, 0, 0}, {0, 0, 0}, {0, 1, 2}, {0, 1, 2}}), km1,
        tf.constant(0));
    Operand<TInt32> keep = tf.gather(tf.constant(new int[] {1, 3, 3, 3}), km1, tf.constant(0));
    Operand<TInt32> idx = tf.slice(table, tf.constant(new int[] {0}),
        tf.reshape(keep, tf.constant(new int[] {1})));
    px = tf.gather(px, idx, tf.constant(2)); // [h, w, 1 or 3]
    Operand<TFloat64> fitted = fit(tf, px, height, width, zoom);
    return tf.dtypes.cast(toChannels(tf, fitted, channels), TUint8.class);
  }

  /** Resize to cover zoom * (H, W) keeping the aspect ratio, round, crop the centre. */
  private static Operand<TFloat64> fit(Ops tf, Operand<TFloat64> px, int height, int width,
      double zoom) {
    Operand<TInt32> hw = tf.slice(tf.shape(px), tf.constant(new int[] {0}),
        tf.constant(new int[] {2}));
    Operand<TFloat64> hwF = tf.dtypes.cast(hw, TFloat64.class);
    Operand<TFloat64> target = tf.constant(new double[] {height, width});
    Operand<TFloat64> scale = tf.math.mul(tf.constant(zoom),
        tf.max(tf.math.div(target, hwF), tf.constant(0)));
    Operand<TInt32> newHw = tf.math.maximum(
        tf.dtypes.cast(roundHalfUp(tf, tf.math.mul(hwF, scale)), TInt32.class),
        tf.constant(new int[] {height, width}));
    Operand<TFloat32> batch = tf.expandDims(tf.dtypes.cast(px, TFloat32.class), tf.constant(0));
    Operand<TFloat32> area = tf.image.resizeArea(batch, newHw).resizedImages();
    Operand<TFloat32> bilinear = tf.image.resizeBilinear(batch, newHw,
        org.tensorflow.op.image.ResizeBilinear.halfPixelCenters(true)).resizedImages();
    Operand<TBool> shrink = tf.reduceAll(tf.math.less(newHw, hw), tf.constant(0));
    Operand<TFloat64> sized = tf.dtypes.cast(
        tf.squeeze(tf.select(shrink, area, bilinear),
            org.tensorflow.op.core.Squeeze.axis(List.of(0L))), TFloat64.class);
    sized = tf.clipByValue(roundHalfUp(tf, sized), tf.constant(0.0), tf.constant(255.0));
    Operand<TInt32> offset = tf.math.floorDiv(
        tf.math.sub(newHw, tf.constant(new int[] {height, width})), tf.constant(2));
    Operand<TInt32> begin = tf.concat(List.of(offset, tf.constant(new int[] {0})),
        tf.constant(0));
    return tf.slice(sized, begin, tf.constant(new int[] {height, width, -1}));
  }

  /** [H, W, 1 or 3] -> [H, W, channels]. */
  private static Operand<TFloat64> toChannels(Ops tf, Operand<TFloat64> px, int channels) {
    Operand<TInt32> k = tf.gather(tf.shape(px), tf.constant(2), tf.constant(0));
    Operand<TBool> grey = tf.math.equal(k, tf.constant(1));
    if (channels == 3) {
      Operand<TInt32> idx = tf.select(grey, tf.constant(new int[] {0, 0, 0}),
          tf.constant(new int[] {0, 1, 2}));
      return tf.ensureShape(tf.gather(px, idx, tf.constant(2)), Shape.of(-1, -1, 3));
    }
    // Luminance weights for RGB; weight 1 for grey (then the value is kept exactly).
    Operand<TFloat64> w = tf.select(grey, tf.constant(new double[] {1.0, 0, 0}),
        tf.constant(new double[] {0.299, 0.587, 0.114}));
    w = tf.slice(w, tf.constant(new int[] {0}), tf.reshape(k, tf.constant(new int[] {1})));
    Operand<TFloat64> y = tf.reduceSum(tf.math.mul(px, w), tf.constant(new int[] {2}),
        org.tensorflow.op.core.ReduceSum.keepDims(true));
    return tf.math.minimum(roundHalfUp(tf, y), tf.constant(255.0));
  }

  /** floor(x + 0.5): Java's Math.round for non-negative values (TF's round is half-to-even). */
  private static Operand<TFloat64> roundHalfUp(Ops tf, Operand<TFloat64> x) {
    return tf.math.floor(tf.math.add(x, tf.constant(0.5)));
  }
}
