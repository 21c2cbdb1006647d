package dev.selfie.data;

import java.util.Arrays;
import java.util.List;

/**
 * Static facts of a dataset.
 *
 * @param name registry name ({@code cifar10}, {@code fashion-mnist}, {@code imagenet32},
 *     {@code imagenet}, {@code folder})
 * @param height native image height in pixels (streaming datasets, whose files hold images of any
 *     size: the size they are resized/cropped to, = imageSize)
 * @param width native image width in pixels
 * @param channels native channels (1 grey, 3 RGB); the model input keeps them
 * @param imageSize model input side S (32): native images are zero-padded (centred) to S x S
 * @param numClasses number of classes; labels are {@code 0..numClasses-1}
 * @param classNames one name per class
 * @param mean per-channel mean of the {@code [0,1]}-scaled native training pixels
 * @param std per-channel standard deviation of the {@code [0,1]}-scaled native training pixels
 */
public record DatasetSpec(
    String name,
    int height,
    int width,
    int channels,
    int imageSize,
    int numClasses,
    List<String> classNames,
    float[] mean,
    float[] std) {

  public DatasetSpec {
    if (name == null || name.isBlank()) {
      throw new IllegalArgumentException("dataset name must not be empty");
    }
    if (height <= 0 || width <= 0 || channels <= 0) {
      throw new IllegalArgumentException(
          name + ": image shape must be positive, got " + height + "x" + width + "x" + channels);
    }
    if (imageSize < height || imageSize < width) {
      throw new IllegalArgumentException(
          name + ": imageSize " + imageSize + " is smaller than the native " + height + "x" + width);
    }
    if (numClasses <= 0 || classNames == null || classNames.size() != numClasses) {
      throw new IllegalArgumentException(
          name + ": expected " + numClasses + " class names, got " + classNames);
    }
    if (mean == null || std == null || mean.length != channels || std.length != channels) {
      throw new IllegalArgumentException(name + ": mean and std need one value per channel");
    }
    for (float s : std) {
      if (!(s > 0)) {
        throw new IllegalArgumentException(name + ": std must be positive, got " + Arrays.toString(std));
      }
    }
    classNames = List.copyOf(classNames);
    mean = mean.clone();
    std = std.clone();
  }

  @Override
  public float[] mean() {
    return mean.clone();
  }

  @Override
  public float[] std() {
    return std.clone();
  }

  /** Bytes of one native image, {@code H*W*C}. */
  public int imageBytes() {
    return height * width * channels;
  }
}
