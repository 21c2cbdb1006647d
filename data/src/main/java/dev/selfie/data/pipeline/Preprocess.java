package dev.selfie.data.pipeline;

import dev.selfie.data.DatasetSpec;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TString;
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

  /** Random-resized-crop area range (fraction of the image) and aspect-ratio range (Inception). */
  public static final float MIN_AREA = 0.08f;
  public static final float MIN_ASPECT = 3f / 4f;
  public static final float MAX_ASPECT = 4f / 3f;

  /**
   * Training augmentation of a decoded image of any size, uint8 {@code [h, w, C]} -> uint8
   * {@code [S, S, C]}: a random crop covering {@value #MIN_AREA}..1 of the area with aspect ratio
   * 3/4..4/3 (Inception-style random-resized-crop; the whole image if no such crop is found in 10
   * tries), resized bilinearly to S x S, then a horizontal flip with probability 1/2. Stateless:
   * a pure function of {@code seed} ({@code [2]} int64).
   */
  public static Operand<TUint8> randomResizedCrop(Ops tf, Operand<TUint8> image, Operand<TInt64> seed, int size) {
    org.tensorflow.op.image.StatelessSampleDistortedBoundingBox<TInt32> box = sampleCrop(tf, tf.shape(image), seed);
    Operand<TUint8> crop = tf.slice(image, box.begin(), box.sizeOutput()); // [h', w', C]
    long channels = image.shape().numDimensions() == 3 ? image.shape().get(2) : -1;
    return resizeAndFlip(tf, crop, seed, size, channels);
  }

  /**
   * {@link #randomResizedCrop} of a JPEG, decoding only the crop window (DecodeAndCropJpeg; the
   * shape comes from the JPEG header): the same crop and flip for the same seed, about a third
   * faster on ImageNet-sized images. RGB output {@code [S, S, 3]}.
   */
  public static Operand<TUint8> randomResizedCropJpeg(Ops tf, Operand<TString> jpeg, Operand<TInt64> seed, int size) {
    Operand<TInt32> shape = tf.image.extractJpegShape(jpeg); // [h, w, c]
    org.tensorflow.op.image.StatelessSampleDistortedBoundingBox<TInt32> box = sampleCrop(tf, shape, seed);
    Operand<TInt32> two = tf.constant(new int[] {2});
    Operand<TInt32> window = tf.concat(java.util.List.of(
        tf.slice(box.begin(), tf.constant(new int[] {0}), two),
        tf.slice(box.sizeOutput(), tf.constant(new int[] {0}), two)), tf.constant(0)); // [y, x, h, w]
    Operand<TUint8> crop = tf.image.decodeAndCropJpeg(jpeg, window,
        org.tensorflow.op.image.DecodeAndCropJpeg.channels(3L));
    return resizeAndFlip(tf, tf.ensureShape(crop, Shape.of(-1, -1, 3)), seed, size, 3);
  }

  /** The random crop window of an image of {@code shape} ({@code [h, w, c]}): begin and size. */
  private static org.tensorflow.op.image.StatelessSampleDistortedBoundingBox<TInt32> sampleCrop(
      Ops tf, Operand<TInt32> shape, Operand<TInt64> seed) {
    return tf.image.statelessSampleDistortedBoundingBox(
        shape,
        tf.constant(new float[][][] {{{0f, 0f, 1f, 1f}}}),
        tf.constant(0.0f),
        seed,
        org.tensorflow.op.image.StatelessSampleDistortedBoundingBox.aspectRatioRange(MIN_ASPECT, MAX_ASPECT),
        org.tensorflow.op.image.StatelessSampleDistortedBoundingBox.areaRange(MIN_AREA, 1f),
        org.tensorflow.op.image.StatelessSampleDistortedBoundingBox.maxAttempts(10L),
        org.tensorflow.op.image.StatelessSampleDistortedBoundingBox.useImageIfNoBoundingBoxes(true));
  }

  /** Crop {@code [h', w', C]} -> resized {@code [S, S, C]}, flipped horizontally with probability 1/2. */
  private static Operand<TUint8> resizeAndFlip(Ops tf, Operand<TUint8> crop, Operand<TInt64> seed, int size, long channels) {
    Operand<TUint8> resized = resize(tf, crop, tf.constant(new int[] {size, size}));
    resized = tf.ensureShape(resized, Shape.of(size, size, channels));
    Operand<TInt64> flipSeed = tf.math.add(seed, tf.constant(new long[] {0L, 0x5DEECE66DL}));
    Operand<TFloat32> u =
        tf.reshape(tf.random.statelessRandomUniform(tf.constant(new int[] {1}), flipSeed, TFloat32.class), tf.constant(new int[0]));
    return tf.select(tf.math.less(u, tf.constant(0.5f)), tf.reverse(resized, tf.constant(new int[] {1})), resized);
  }

  /**
   * Evaluation transform of a decoded image of any size, uint8 {@code [h, w, C]} -> uint8
   * {@code [S, S, C]}: resize (bilinear, aspect kept) so the shorter side is {@code round(S *
   * ratio)} (ratio 256/224: 224 -> 256, 32 -> 37), then take the central S x S crop.
   */
  public static Operand<TUint8> resizeCenterCrop(Ops tf, Operand<TUint8> image, int size, double ratio) {
    int target = (int) Math.round(size * ratio);
    Operand<TFloat32> hw =
        tf.dtypes.cast(tf.slice(tf.shape(image), tf.constant(new int[] {0}), tf.constant(new int[] {2})), TFloat32.class);
    Operand<TFloat32> scale = tf.math.div(tf.constant((float) target), tf.min(hw, tf.constant(0)));
    Operand<TInt32> newHw =
        tf.math.maximum(tf.dtypes.cast(tf.math.round(tf.math.mul(hw, scale)), TInt32.class), tf.constant(size));
    Operand<TUint8> resized = resize(tf, image, newHw);
    Operand<TInt32> offset = tf.math.floorDiv(tf.math.sub(newHw, tf.constant(size)), tf.constant(2));
    Operand<TInt32> begin = tf.concat(java.util.List.of(offset, tf.constant(new int[] {0})), tf.constant(0));
    Operand<TUint8> crop = tf.slice(resized, begin, tf.constant(new int[] {size, size, -1}));
    long channels = image.shape().numDimensions() == 3 ? image.shape().get(2) : -1;
    return tf.ensureShape(crop, Shape.of(size, size, channels));
  }

  /**
   * Bilinear resize (half-pixel centres) of one uint8 image {@code [h, w, C]} to {@code
   * [size[0], size[1], C]}, rounded and clipped back to uint8.
   */
  public static Operand<TUint8> resize(Ops tf, Operand<TUint8> image, Operand<TInt32> size) {
    Operand<TFloat32> x =
        tf.image.resizeBilinear(tf.expandDims(image, tf.constant(0)), size,
            org.tensorflow.op.image.ResizeBilinear.halfPixelCenters(true)); // [1, H, W, C]
    x = tf.squeeze(x, org.tensorflow.op.core.Squeeze.axis(java.util.List.of(0L)));
    x = tf.clipByValue(tf.math.round(x), tf.constant(0f), tf.constant(255f));
    return tf.dtypes.cast(x, TUint8.class);
  }
}
