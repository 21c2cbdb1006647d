package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.data.ImageFiles;
import dev.selfie.training.jobs.Predict;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link ImageFiles}: decoding, channel conversion and resizing with known values. */
class PredictImageFilesTest {

  @TempDir Path tmp;

  static int[] u(byte[] b) {
    int[] out = new int[b.length];
    for (int i = 0; i < b.length; i++) {
      out[i] = b[i] & 0xff;
    }
    return out;
  }

  static ImageFiles.Pixels grey(int h, int w, int... v) {
    byte[] b = new byte[v.length];
    for (int i = 0; i < v.length; i++) {
      b[i] = (byte) v[i];
    }
    return new ImageFiles.Pixels(h, w, 1, b);
  }

  @Test
  void greyPngKeepsItsStoredValues() throws IOException {
    // Java's getRGB would brighten grey through a linear -> sRGB conversion (e.g. 100 -> 170).
    BufferedImage img = new BufferedImage(3, 2, BufferedImage.TYPE_BYTE_GRAY);
    int[] values = {0, 1, 100, 128, 200, 255};
    img.getRaster().setSamples(0, 0, 3, 2, 0, values);
    Path f = tmp.resolve("g.png");
    ImageIO.write(img, "png", f.toFile());
    assertArrayEquals(values, u(ImageFiles.read(f, 2, 3, 1)));
    // As RGB: the value in every channel.
    assertArrayEquals(new int[] {0, 0, 0, 1, 1, 1, 100, 100, 100, 128, 128, 128, 200, 200, 200,
        255, 255, 255}, u(ImageFiles.read(f, 2, 3, 3)));
  }

  @Test
  void sixteenBitGreyIsScaledTo8Bits() throws IOException {
    BufferedImage img = new BufferedImage(2, 1, BufferedImage.TYPE_USHORT_GRAY);
    img.getRaster().setSamples(0, 0, 2, 1, 0, new int[] {65535, 257 * 100});
    Path f = tmp.resolve("g16.png");
    ImageIO.write(img, "png", f.toFile());
    assertArrayEquals(new int[] {255, 100}, u(ImageFiles.read(f, 1, 2, 1)));
  }

  @Test
  void rgbToGreyIsLuminanceAndAlphaIsOverBlack() throws IOException {
    BufferedImage img = new BufferedImage(4, 1, BufferedImage.TYPE_INT_ARGB);
    img.setRGB(0, 0, 0xffff0000); // red
    img.setRGB(1, 0, 0xff00ff00); // green
    img.setRGB(2, 0, 0xff0000ff); // blue
    img.setRGB(3, 0, 0x80ffffff); // half-transparent white
    Path f = tmp.resolve("c.png");
    ImageIO.write(img, "png", f.toFile());
    assertArrayEquals(new int[] {255, 0, 0, 0, 255, 0, 0, 0, 255, 128, 128, 128},
        u(ImageFiles.read(f, 1, 4, 3)));
    // 0.299 * 255 = 76.2, 0.587 * 255 = 149.7, 0.114 * 255 = 29.1; grey 128 stays 128.
    assertArrayEquals(new int[] {76, 150, 29, 128}, u(ImageFiles.read(f, 1, 4, 1)));
  }

  @Test
  void shrinkingAveragesAreasAndEnlargingInterpolates() {
    // 4x4 -> 2x2: each output pixel is the mean of a 2x2 block.
    ImageFiles.Pixels p = grey(4, 4,
        0, 10, 100, 100,
        20, 30, 100, 100,
        0, 0, 255, 255,
        0, 4, 255, 255);
    assertArrayEquals(new int[] {15, 100, 1, 255}, u(ImageFiles.resize(p, 2, 2).data()));
    // 1x2 -> 1x4, bilinear on pixel centres with clamped edges: 0, 25, 75, 100 (from 0 | 100).
    assertArrayEquals(new int[] {0, 25, 75, 100},
        u(ImageFiles.resize(grey(1, 2, 0, 100), 1, 4).data()));
    // 3 -> 2 (non-integer): [0, 30, 90] -> areas [0, 1.5) and [1.5, 3): 10 and 70.
    assertArrayEquals(new int[] {10, 70}, u(ImageFiles.resize(grey(1, 3, 0, 30, 90), 1, 2).data()));
    // Same size: untouched; a constant image stays constant at any size.
    assertArrayEquals(new int[] {7, 8}, u(ImageFiles.resize(grey(1, 2, 7, 8), 1, 2).data()));
    byte[] flat = ImageFiles.resize(grey(2, 3, 9, 9, 9, 9, 9, 9), 7, 5).data();
    for (byte b : flat) {
      assertEquals(9, b & 0xff);
    }
  }

  @Test
  void fittingKeepsTheAspectRatioAndCropsTheCentre() throws IOException {
    // 2x4 -> 2x2: nothing to resize (height already fits), the centre two columns are kept.
    ImageFiles.Pixels wide = grey(2, 4,
        1, 2, 3, 4,
        5, 6, 7, 8);
    assertArrayEquals(new int[] {2, 3, 6, 7}, u(ImageFiles.fit(wide, 2, 2, 1.0).data()));
    // 4x2 -> 2x2: already covers 2x2, so not resized; the centre two rows are kept.
    ImageFiles.Pixels tall = grey(4, 2,
        1, 2,
        3, 4,
        5, 6,
        7, 8);
    assertArrayEquals(new int[] {3, 4, 5, 6}, u(ImageFiles.fit(tall, 2, 2, 1.0).data()));
    // Same aspect: only resized, exactly as resize() does.
    ImageFiles.Pixels sq = grey(4, 4, 0, 10, 100, 100, 20, 30, 100, 100, 0, 0, 255, 255, 0, 4,
        255, 255);
    assertArrayEquals(ImageFiles.resize(sq, 2, 2).data(), ImageFiles.fit(sq, 2, 2, 1.0).data());
    // Zoom 2 (evaluation of streamed datasets uses 256/224): 4x4 covers 2*2 x 2*2 as it is, so
    // the centre 2x2 is cropped without resizing.
    assertArrayEquals(new int[] {30, 100, 0, 255}, u(ImageFiles.fit(sq, 2, 2, 2.0).data()));
    assertThrows(IllegalArgumentException.class, () -> ImageFiles.fit(sq, 2, 2, 0.5));

    // Which zoom predict uses: the SavedModel's dataset (assets.extra/dataset.json).
    Path model = tmp.resolve("model-zoom");
    assertEquals(1.0, Predict.Model.evalResize(model), "no dataset.json: no zoom");
    Files.createDirectories(model.resolve("assets.extra"));
    Path ds = model.resolve("assets.extra").resolve("dataset.json");
    Files.writeString(ds, "{\"name\": \"folder\", \"height\": 64}");
    assertEquals(256.0 / 224.0, Predict.Model.evalResize(model), 1e-12);
    Files.writeString(ds, "{\"name\": \"imagenet\"}");
    assertEquals(256.0 / 224.0, Predict.Model.evalResize(model), 1e-12);
    Files.writeString(ds, "{\"name\": \"fashion-mnist\"}");
    assertEquals(1.0, Predict.Model.evalResize(model));
    Files.writeString(ds, "{\"name\": \"no-such-dataset\"}");
    assertEquals(1.0, Predict.Model.evalResize(model));
  }

  @Test
  void unreadableFilesAreNamed() throws IOException {
    Path missing = tmp.resolve("missing.png");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ImageFiles.read(missing, 28, 28, 1));
    assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("no such"),
        e.getMessage());
    Path text = Files.writeString(tmp.resolve("notes.png"), "not an image");
    e = assertThrows(IllegalArgumentException.class, () -> ImageFiles.read(text, 28, 28, 1));
    assertTrue(e.getMessage().startsWith(text.toString()), e.getMessage());
    Path truncated = tmp.resolve("cut.png");
    BufferedImage img = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
    ImageIO.write(img, "png", truncated.toFile());
    byte[] all = Files.readAllBytes(truncated);
    Files.write(truncated, java.util.Arrays.copyOf(all, 40));
    e = assertThrows(IllegalArgumentException.class, () -> ImageFiles.read(truncated, 8, 8, 3));
    assertTrue(e.getMessage().startsWith(truncated.toString()), e.getMessage());
    Path dir = Files.createDirectories(tmp.resolve("dir.png"));
    e = assertThrows(IllegalArgumentException.class, () -> ImageFiles.read(dir, 8, 8, 3));
    assertTrue(e.getMessage().startsWith(dir.toString()), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> ImageFiles.read(text, 8, 8, 4));
    assertTrue(e.getMessage().contains("4 channels"), e.getMessage());
  }
}
