package dev.selfie.data;

import dev.selfie.data.formats.ImageNet;
import dev.selfie.data.formats.NpzWriter;
import dev.selfie.data.formats.TFRecords;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.imageio.ImageIO;

/** Generated files in the formats of issue 8: npz batches, TFRecord shards of JPEGs, image folders. */
final class ImageTestData {
  private ImageTestData() {}

  /** Colour of image i of class k: distinct, far apart (so JPEG error does not confuse them). */
  static int[] rgb(int k, int i) {
    return new int[] {(40 + 60 * k) % 256, (200 - 30 * i + 256 * 4) % 256, (90 + 70 * k + 25 * i) % 256};
  }

  static BufferedImage solid(int w, int h, int[] rgb) {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    int v = (rgb[0] << 16) | (rgb[1] << 8) | rgb[2];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, v);
      }
    }
    return img;
  }

  static byte[] encode(BufferedImage img, String format) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      if (!ImageIO.write(img, format, out)) {
        throw new IllegalStateException("no ImageIO writer for " + format);
      }
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static byte[] jpeg(int w, int h, int[] rgb) {
    return encode(solid(w, h, rgb), "jpg");
  }

  static byte[] png(int w, int h, int[] rgb) {
    return encode(solid(w, h, rgb), "png");
  }

  // ------------------------------------------------------------ ImageNet 32x32 npz

  /** Pixel (channel-planar index p = c*1024 + y*32 + x) of global image g of a split. */
  static int npzPixel(int split, int g, int p) {
    return (split * 71 + g * 13 + p * 7) & 0xff;
  }

  /** Label (1..1000, as stored) of global image g of a split. */
  static long npzLabel(int split, int g) {
    return 1 + ((g * 37L + split * 500L) % 1000);
  }

  /** Writes the 10 train batches ({@code perFile} images each) and val_data.npz ({@code nVal}). */
  static Path imagenet32(Path dir, int perFile, int nVal, boolean compressed) throws IOException {
    Files.createDirectories(dir);
    for (int b = 0; b < 11; b++) {
      boolean val = b == 10;
      int split = val ? 1 : 0;
      int n = val ? nVal : perFile;
      int first = val ? 0 : b * perFile;
      byte[] data = new byte[n * 3072];
      long[] labels = new long[n];
      for (int i = 0; i < n; i++) {
        for (int p = 0; p < 3072; p++) {
          data[i * 3072 + p] = (byte) npzPixel(split, first + i, p);
        }
        labels[i] = npzLabel(split, first + i);
      }
      Map<String, NpzWriter.Array> arrays = new LinkedHashMap<>();
      arrays.put("data", NpzWriter.uint8(data, n, 3072));
      arrays.put("labels", NpzWriter.int64(labels));
      if (!val) {
        arrays.put("mean", new NpzWriter.Array("<f8", new long[] {3072}, new byte[3072 * 8]));
      }
      NpzWriter.write(dir.resolve(val ? "val_data.npz" : "train_data_batch_" + (b + 1) + ".npz"), arrays, compressed);
    }
    return dir;
  }

  // ------------------------------------------------------------ ImageNet TFRecords

  /** Label (1..1000) of record i of a split. */
  static long tfLabel(int split, int i) {
    return 1 + (i % 3) * 7 + split;
  }

  /** Writes {@code shards} train and 1 validation shards of solid-colour JPEGs of varied sizes. */
  static Path imagenetShards(Path dir, int shards, int perShard, int nVal) throws IOException {
    Files.createDirectories(dir);
    int g = 0;
    for (int s = 0; s < shards; s++) {
      try (TFRecords.Writer w = new TFRecords.Writer(dir.resolve(String.format("train-%05d-of-%05d", s, shards)))) {
        for (int i = 0; i < perShard; i++, g++) {
          w.write(TFRecords.imageExample(jpeg(40 + 8 * (g % 4), 36 + 6 * (g % 3), rgb((int) tfLabel(0, g) % 5, g % 4)), tfLabel(0, g)));
        }
      }
    }
    try (TFRecords.Writer w = new TFRecords.Writer(dir.resolve("validation-00000-of-00001"))) {
      for (int i = 0; i < nVal; i++) {
        w.write(TFRecords.imageExample(jpeg(48, 40, rgb((int) tfLabel(1, i) % 5, i % 4)), tfLabel(1, i)));
      }
    }
    return dir;
  }

  // ------------------------------------------------------------ folders

  static final String[] CLASSES = {"cat", "dog", "eel"};

  /**
   * {@code root/train/<class>/} with {@code perClass} images (alternating PNG and JPEG, varied
   * sizes, one nested one level deeper) and {@code root/test/<class>/} with 2 each.
   */
  static Path folder(Path root, int perClass) throws IOException {
    for (String split : new String[] {"train", "test"}) {
      int n = split.equals("train") ? perClass : 2;
      for (int k = 0; k < CLASSES.length; k++) {
        Path c = Files.createDirectories(root.resolve(split).resolve(CLASSES[k]));
        for (int i = 0; i < n; i++) {
          int w = 20 + 13 * i;
          int h = 30 + 7 * k;
          boolean png = i % 2 == 0;
          Path dir = i == 3 ? Files.createDirectories(c.resolve("nested")) : c;
          Files.write(dir.resolve("img" + i + (png ? ".png" : ".jpg")), png ? png(w, h, rgb(k, i)) : jpeg(w, h, rgb(k, i)));
        }
      }
    }
    return root;
  }
}
