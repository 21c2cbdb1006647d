package dev.selfie.data;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;

/**
 * One entry of the dataset registry ({@link Datasets}): how to find, open and fetch a dataset.
 * Implemented by {@link dev.selfie.data.formats.Cifar10 Cifar10},
 * {@link dev.selfie.data.formats.FashionMnist FashionMnist},
 * {@link dev.selfie.data.formats.ImageNet32 ImageNet32} (npz),
 * {@link dev.selfie.data.formats.ImageNet ImageNet} (TFRecord shards, streamed) and
 * {@link dev.selfie.data.formats.ImageFolder ImageFolder} (folders of JPEG/PNG files, streamed).
 */
public interface DatasetProvider {

  /** Registry name, e.g. {@code cifar10}. */
  String name();

  /** Static facts. */
  DatasetSpec spec();

  /**
   * How evaluation fits an image of any size to the model side S: the shorter side is resized to
   * {@code S * evalResize()}, then the centre S x S is cropped. 1 (the default) for datasets of
   * fixed-size images, 256/224 for the streamed ones (ImageNet, folders), as their pipelines do.
   * {@code selfie predict} applies the same to image files.
   */
  default double evalResize() {
    return 1.0;
  }

  /**
   * Finds and opens (validates) the dataset.
   *
   * @param dataDir the explicit data home or dataset directory ({@code --data-dir}), or null to
   *     use the default locations (system copy if any, then {@link Datasets#dataHome})
   */
  ImageSource open(Path dataDir) throws IOException;

  /**
   * {@link #open(Path)} with options (image size for datasets of variable-size images, an
   * unlabeled directory for folders). Fixed-size datasets ignore them.
   */
  default ImageSource open(Path dataDir, OpenOptions options) throws IOException {
    return open(dataDir);
  }

  /**
   * Downloads (if needed), verifies and unpacks the dataset; returns where it is.
   *
   * @param dataDir explicit data home, or null for the default (a system copy, if present, is
   *     then used without downloading)
   * @param baseUrl where the official files are, or null for the official location
   */
  FetchResult fetch(Path dataDir, URI baseUrl, ProgressListener progress) throws IOException;

  /**
   * Result of a fetch.
   *
   * @param location the directory holding the dataset's files
   * @param downloaded false if it was already present (nothing was downloaded)
   * @param bytes bytes downloaded
   */
  record FetchResult(Path location, boolean downloaded, long bytes) {}
}
