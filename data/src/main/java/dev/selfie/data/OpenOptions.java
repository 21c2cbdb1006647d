package dev.selfie.data;

import java.nio.file.Path;

/**
 * How to open a dataset beyond its directory. Datasets with a fixed native size (CIFAR-10,
 * Fashion-MNIST, ImageNet 32x32) ignore {@code imageSize}; the streaming ones ({@code imagenet},
 * {@code folder}) decode images of any size and resize them to it.
 *
 * @param imageSize model input side S the images are resized/cropped to, or 0 for the dataset's
 *     default ({@code imagenet}: 224, {@code folder}: 32)
 * @param unlabeledDir {@code folder} only: a directory of unlabeled images (any nesting) added to
 *     the training split for pretraining (label -1), or null
 */
public record OpenOptions(int imageSize, Path unlabeledDir) {

  /** The defaults: the dataset's own size, no unlabeled directory. */
  public static final OpenOptions DEFAULT = new OpenOptions(0, null);

  public OpenOptions {
    if (imageSize < 0) {
      throw new IllegalArgumentException("image size must be >= 0 (0 = the dataset's default), got " + imageSize);
    }
  }

  /** {@code imageSize}, or {@code dflt} if it is 0. */
  public int imageSizeOr(int dflt) {
    return imageSize == 0 ? dflt : imageSize;
  }
}
