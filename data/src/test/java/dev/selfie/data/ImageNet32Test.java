package dev.selfie.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.selfie.data.formats.ImageNet32;
import dev.selfie.data.formats.ImageNet;
import dev.selfie.data.formats.Npz;
import dev.selfie.data.formats.NpzWriter;
import dev.selfie.data.pipeline.PipelineOptions;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ImageNet32Test {

  @TempDir Path tmp;

  @ParameterizedTest(name = "compressed={0}")
  @ValueSource(booleans = {false, true})
  void npzRoundTripsExactly(boolean compressed) throws Exception {
    Path dir = ImageTestData.imagenet32(tmp.resolve("imagenet32"), 3, 5, compressed);
    Map<String, Npz.Array> arrays = Npz.list(dir.resolve("train_data_batch_1.npz"));
    assertEquals(List.of("data", "labels", "mean"), List.copyOf(arrays.keySet()), "the real key names");
    assertEquals("|u1", arrays.get("data").descr());
    assertArrayEquals(new long[] {3, 3072}, arrays.get("data").shape());
    assertEquals("<i8", arrays.get("labels").descr());
    assertEquals(!compressed, arrays.get("data").stored());

    ImageSource src = Datasets.open("imagenet32", tmp, OpenOptions.DEFAULT); // finds <home>/imagenet32
    assertFalse(src instanceof StreamingSource, "ImageNet 32x32 is held in memory");
    assertEquals(30, src.size(Split.TRAIN));
    assertEquals(5, src.size(Split.TEST));
    int[] train = src.labels(Split.TRAIN);
    for (int g = 0; g < 30; g++) {
      assertEquals(ImageTestData.npzLabel(0, g) - 1, train[g], "labels 1..1000 -> 0..999");
    }
    assertEquals(1000, src.spec().numClasses());
    for (Split split : Split.values()) {
      int s = split == Split.TRAIN ? 0 : 1;
      List<PipelinesTest.Ex> got = PipelinesTest.run(src, split, PipelineOptions.eval(4), 100);
      assertEquals(src.size(split), got.size());
      for (int g = 0; g < got.size(); g++) {
        float[] px = got.get(g).pixels();
        assertEquals(ImageTestData.npzLabel(s, g) - 1, got.get(g).label());
        for (int y = 0; y < 32; y += 5) {
          for (int x = 0; x < 32; x += 3) {
            for (int c = 0; c < 3; c++) {
              int want = ImageTestData.npzPixel(s, g, c * 1024 + y * 32 + x); // channel-planar -> HWC
              assertEquals(PipelinesTest.norm(want, src.spec(), c), px[(y * 32 + x) * 3 + c], 1e-5f,
                  split + " image " + g + " at " + y + "," + x + "," + c);
            }
          }
        }
      }
    }
    if (compressed) {
      try (var files = Files.list(dir.resolve(".selfie-cache"))) {
        assertEquals(11, files.count(), "compressed arrays unpacked once into the cache");
      }
      assertEquals(30, Datasets.open("imagenet32", dir).size(Split.TRAIN), "reopens from the cache");
    }
  }

  @Test
  void npyHeaderIsNumpyVersion1Layout() throws Exception {
    byte[] npy = NpzWriter.npy(NpzWriter.uint8(new byte[6], 2, 3));
    String header = new String(npy, 10, npy.length - 16, java.nio.charset.StandardCharsets.ISO_8859_1);
    assertEquals(0, (npy.length - 6) % 64, "numpy pads the header so the data is 64-byte aligned");
    assertTrue(header.startsWith("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }"), header);
    assertTrue(header.endsWith("\n"));
  }

  @Test
  void labelFractionsGiveAbout64PerClassAt5Percent() {
    int[] labels = new int[1000 * 1281];
    for (int i = 0; i < labels.length; i++) {
      labels[i] = i % 1000;
    }
    int[] chosen = LabelFractions.select(labels, 1000, 0.05, 7);
    int[] per = LabelFractions.countsPerClass(labels, chosen, 1000);
    for (int k = 0; k < 1000; k++) {
      assertEquals(64, per[k], "class " + k);
    }
  }

  @Test
  void truncatedNpzIsAClearError() throws Exception {
    Path dir = ImageTestData.imagenet32(tmp.resolve("t"), 2, 2, false);
    Path f = dir.resolve("train_data_batch_3.npz");
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      raf.setLength(raf.length() / 2);
    }
    BadDataException e = assertThrows(BadDataException.class, () -> ImageNet32.openDir(dir));
    assertTrue(e.getMessage().contains("train_data_batch_3.npz") && e.getMessage().contains("npz"), e.getMessage());
  }

  @Test
  void wrongContentIsAClearError() throws Exception {
    Path dir = ImageTestData.imagenet32(tmp.resolve("w"), 2, 2, false);
    NpzWriter.write(dir.resolve("val_data.npz"), Map.of(
        "data", NpzWriter.uint8(new byte[2 * 3072], 2, 3072), "labels", NpzWriter.int64(new long[] {5, 0})), false);
    BadDataException e = assertThrows(BadDataException.class, () -> ImageNet32.openDir(dir));
    assertTrue(e.getMessage().contains("val_data.npz: label 1 is 0, expected 1-1000"), e.getMessage());

    NpzWriter.write(dir.resolve("val_data.npz"), Map.of(
        "data", NpzWriter.uint8(new byte[2 * 1024], 2, 1024), "labels", NpzWriter.int64(new long[] {5, 6})), false);
    e = assertThrows(BadDataException.class, () -> ImageNet32.openDir(dir));
    assertTrue(e.getMessage().contains("expected |u1 (uint8) [N, 3072]"), e.getMessage());

    Files.delete(dir.resolve("train_data_batch_7.npz"));
    NoSuchFileException n = assertThrows(NoSuchFileException.class, () -> ImageNet32.openDir(dir));
    assertTrue(n.getMessage().contains("train_data_batch_7.npz"), n.getMessage());
  }

  /** Files written by numpy itself (savez and savez_compressed; see src/test/resources/npz/README.txt). */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"numpy_savez.npz", "numpy_savez_compressed.npz"})
  void readsFilesWrittenByNumpy(String name) throws Exception {
    Path fixture = Path.of(getClass().getResource("/npz/" + name).toURI());
    Map<String, Npz.Array> arrays = Npz.list(fixture);
    assertEquals(List.of("data", "labels", "mean"), List.copyOf(arrays.keySet()));
    assertEquals("|u1", arrays.get("data").descr());
    assertArrayEquals(new long[] {3, 3072}, arrays.get("data").shape());
    assertEquals("<i8", arrays.get("labels").descr());
    assertEquals("<f8", arrays.get("mean").descr());
    assertEquals(name.equals("numpy_savez.npz"), arrays.get("data").stored());
    assertArrayEquals(new long[] {1, 500, 1000}, Npz.readIntegers(fixture, "labels"));

    Path dir = Files.createDirectories(tmp.resolve("numpy"));
    for (String f : ImageNet32.TRAIN_FILES) {
      Files.copy(fixture, dir.resolve(f));
    }
    Files.copy(fixture, dir.resolve("val_data.npz"));
    ImageSource src = ImageNet32.openDir(dir);
    assertEquals(30, src.size(Split.TRAIN));
    assertArrayEquals(new int[] {0, 499, 999}, src.labels(Split.TEST));
    List<PipelinesTest.Ex> got = PipelinesTest.run(src, Split.TEST, PipelineOptions.eval(3), 5);
    for (int i = 0; i < 3; i++) {
      for (int p = 0; p < 3072; p += 97) {
        int c = p / 1024;
        int y = (p % 1024) / 32;
        int x = p % 32;
        assertEquals(PipelinesTest.norm((7 * p + 13 * i) & 0xff, src.spec(), c), got.get(i).pixels()[(y * 32 + x) * 3 + c], 1e-5f);
      }
    }
  }
}
