package dev.selfie.data;

import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/**
 * Image files (PNG, JPEG, and whatever else {@code javax.imageio} reads: BMP, GIF) -> the uint8
 * pixels a SavedModel takes: {@code [H, W, C]} row-major, fitted to the model's native size as
 * evaluation does (aspect ratio kept: resized to cover it, centre cropped) and converted to its
 * channels.
 *
 * <ul>
 *   <li>Grey images (one band, 8 or 16 bits) keep their stored values: Java's
 *       {@code getRGB} would pass them through a linear-grey -> sRGB conversion and brighten them.
 *   <li>Colour images are read as sRGB; transparent pixels are composited over black (the
 *       padding value of the datasets).
 *   <li>C = 1 from colour: luminance {@code 0.299 R + 0.587 G + 0.114 B} (ITU-R BT.601, as
 *       {@code tf.image.rgb_to_grayscale}); C = 3 from grey: the value in all three channels.
 *   <li>Resizing, separable, on pixel centres: shrinking averages the source area under each
 *       output pixel (no aliasing), enlarging interpolates bilinearly (half-pixel centres, edges
 *       clamped). Same size: untouched.
 * </ul>
 */
public final class ImageFiles {
  private ImageFiles() {}

  /**
   * Decoded pixels, {@code [height, width, channels]} row-major, channels 1 (grey) or 3 (RGB).
   */
  public record Pixels(int height, int width, int channels, byte[] data) {
    public Pixels {
      if ((long) height * width * channels != data.length) {
        throw new IllegalArgumentException(height + "x" + width + "x" + channels + " pixels need "
            + (long) height * width * channels + " bytes, got " + data.length);
      }
    }
  }

  /** {@link #read(Path, int, int, int, double)} with zoom 1 (datasets of fixed-size images). */
  public static byte[] read(Path file, int height, int width, int channels) {
    return read(file, height, width, channels, 1.0);
  }

  /**
   * Reads {@code file} and returns its pixels fitted to {@code height x width} ({@link #fit}) with
   * {@code channels} (1 or 3) channels: {@code [height, width, channels]} uint8, row-major.
   *
   * @param zoom the dataset's evaluation resize ({@code DatasetProvider.evalResize()}: 1, or
   *     256/224 for ImageNet and folders)
   * @throws IllegalArgumentException naming the file if it is missing, unreadable or not an image
   *     format ImageIO knows
   */
  public static byte[] read(Path file, int height, int width, int channels, double zoom) {
    if (channels != 1 && channels != 3) {
      throw new IllegalArgumentException("a model input with " + channels
          + " channels cannot take image files (expected 1 grey or 3 RGB channels)");
    }
    Pixels p = decode(file);
    Pixels sized = fit(p, height, width, zoom);
    return toChannels(sized, channels).data();
  }

  /** Decodes {@code file} to grey (1 channel) or RGB (3 channels), its own size. */
  public static Pixels decode(Path file) {
    if (!Files.exists(file)) {
      throw new IllegalArgumentException(file + ": no such file");
    }
    if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
      throw new IllegalArgumentException(file + ": not a readable file");
    }
    BufferedImage img;
    try {
      img = ImageIO.read(file.toFile());
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(file + ": cannot decode the image (" + e.getMessage()
          + ")", e);
    }
    if (img == null) {
      throw new IllegalArgumentException(file + ": not an image ImageIO can read (expected PNG"
          + " or JPEG)");
    }
    return fromBufferedImage(img);
  }

  /** The pixels of a decoded image (grey stays grey, everything else becomes sRGB). */
  public static Pixels fromBufferedImage(BufferedImage img) {
    int h = img.getHeight();
    int w = img.getWidth();
    Raster raster = img.getRaster();
    ColorModel cm = img.getColorModel();
    boolean grey = raster.getNumBands() == 1
        && cm.getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_GRAY
        && !(cm instanceof java.awt.image.IndexColorModel);
    if (grey) {
      int bits = cm.getComponentSize(0);
      int max = (1 << bits) - 1;
      int[] samples = raster.getSamples(0, 0, w, h, 0, (int[]) null);
      byte[] out = new byte[w * h];
      for (int i = 0; i < samples.length; i++) {
        out[i] = (byte) (bits == 8 ? samples[i] : Math.round(samples[i] * 255.0 / max));
      }
      return new Pixels(h, w, 1, out);
    }
    int[] argb = img.getRGB(0, 0, w, h, null, 0, w);
    byte[] out = new byte[w * h * 3];
    for (int i = 0; i < argb.length; i++) {
      int a = argb[i] >>> 24;
      for (int c = 0; c < 3; c++) {
        int v = (argb[i] >> (16 - 8 * c)) & 0xff;
        out[3 * i + c] = (byte) (a == 255 ? v : Math.round(v * a / 255.0));
      }
    }
    return new Pixels(h, w, 3, out);
  }

  /** Grey &lt;-&gt; RGB conversion (see the class comment); same channels: returned as is. */
  public static Pixels toChannels(Pixels p, int channels) {
    if (p.channels() == channels) {
      return p;
    }
    int n = p.height() * p.width();
    byte[] src = p.data();
    byte[] out = new byte[n * channels];
    if (channels == 1 && p.channels() == 3) {
      for (int i = 0; i < n; i++) {
        double y = 0.299 * (src[3 * i] & 0xff) + 0.587 * (src[3 * i + 1] & 0xff)
            + 0.114 * (src[3 * i + 2] & 0xff);
        out[i] = (byte) Math.min(255, Math.round(y));
      }
    } else if (channels == 3 && p.channels() == 1) {
      for (int i = 0; i < n; i++) {
        out[3 * i] = src[i];
        out[3 * i + 1] = src[i];
        out[3 * i + 2] = src[i];
      }
    } else {
      throw new IllegalArgumentException("cannot convert " + p.channels() + " channels to "
          + channels);
    }
    return new Pixels(p.height(), p.width(), channels, out);
  }

  /**
   * Fits {@code p} to {@code height x width} the way evaluation does: resize keeping the aspect
   * ratio so that the image covers {@code zoom * height x zoom * width}, then crop the centre
   * {@code height x width}. An image of the target size (and zoom 1) is returned untouched; one of
   * the target's aspect ratio is only resized. Nothing is squeezed.
   */
  public static Pixels fit(Pixels p, int height, int width, double zoom) {
    if (!(zoom >= 1.0)) {
      throw new IllegalArgumentException("zoom must be >= 1, got " + zoom);
    }
    double scale = zoom * Math.max((double) height / p.height(), (double) width / p.width());
    int h = Math.max(height, (int) Math.round(p.height() * scale));
    int w = Math.max(width, (int) Math.round(p.width() * scale));
    Pixels sized = resize(p, h, w);
    if (h == height && w == width) {
      return sized;
    }
    int top = (h - height) / 2;
    int left = (w - width) / 2;
    int c = p.channels();
    byte[] out = new byte[height * width * c];
    for (int y = 0; y < height; y++) {
      System.arraycopy(sized.data(), ((top + y) * w + left) * c, out, y * width * c, width * c);
    }
    return new Pixels(height, width, c, out);
  }

  /** Resizes to {@code height x width} (area average when shrinking, bilinear when enlarging). */
  public static Pixels resize(Pixels p, int height, int width) {
    if (height < 1 || width < 1) {
      throw new IllegalArgumentException("target size must be positive, got " + height + "x"
          + width);
    }
    if (p.height() == height && p.width() == width) {
      return p;
    }
    int c = p.channels();
    // Rows first: [H, W, C] -> [H, width, C], then columns: -> [height, width, C].
    Weights wx = Weights.of(p.width(), width);
    Weights wy = Weights.of(p.height(), height);
    float[] tmp = new float[p.height() * width * c];
    byte[] src = p.data();
    for (int y = 0; y < p.height(); y++) {
      for (int x = 0; x < width; x++) {
        for (int k = 0; k < c; k++) {
          double s = 0;
          for (int j = 0; j < wx.count[x]; j++) {
            s += wx.weight[x][j] * (src[(y * p.width() + wx.first[x] + j) * c + k] & 0xff);
          }
          tmp[(y * width + x) * c + k] = (float) s;
        }
      }
    }
    byte[] out = new byte[height * width * c];
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        for (int k = 0; k < c; k++) {
          double s = 0;
          for (int j = 0; j < wy.count[y]; j++) {
            s += wy.weight[y][j] * tmp[((wy.first[y] + j) * width + x) * c + k];
          }
          out[(y * width + x) * c + k] = (byte) Math.max(0, Math.min(255, Math.round(s)));
        }
      }
    }
    return new Pixels(height, width, c, out);
  }

  /** 1-D resampling weights: output i = sum_j weight[i][j] * input[first[i] + j]. */
  private static final class Weights {
    final int[] first;
    final int[] count;
    final double[][] weight;

    private Weights(int n) {
      first = new int[n];
      count = new int[n];
      weight = new double[n][];
    }

    static Weights of(int in, int out) {
      Weights w = new Weights(out);
      double scale = (double) in / out;
      for (int i = 0; i < out; i++) {
        if (scale > 1) {
          // Area: the source interval [i*scale, (i+1)*scale) with fractional end pixels.
          double lo = i * scale;
          double hi = (i + 1) * scale;
          int a = (int) Math.floor(lo);
          int b = Math.min(in, (int) Math.ceil(hi));
          w.first[i] = a;
          w.count[i] = b - a;
          w.weight[i] = new double[b - a];
          for (int j = a; j < b; j++) {
            w.weight[i][j - a] = (Math.min(hi, j + 1) - Math.max(lo, j)) / scale;
          }
        } else {
          // Bilinear at the output pixel's centre, in source coordinates (half-pixel centres).
          double x = (i + 0.5) * scale - 0.5;
          int a = (int) Math.floor(x);
          double f = x - a;
          int a0 = Math.max(0, Math.min(in - 1, a));
          int a1 = Math.max(0, Math.min(in - 1, a + 1));
          if (a0 == a1 || f == 0) {
            w.first[i] = a0;
            w.count[i] = 1;
            w.weight[i] = new double[] {1};
          } else {
            w.first[i] = a0;
            w.count[i] = 2;
            w.weight[i] = new double[] {1 - f, f};
          }
        }
      }
      return w;
    }
  }
}
