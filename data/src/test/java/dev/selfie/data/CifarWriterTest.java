package dev.selfie.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.selfie.data.formats.Cifar10;
import dev.selfie.data.formats.CifarWriter;
import dev.selfie.data.formats.FashionMnist;
import dev.selfie.data.formats.IdxReader;
import dev.selfie.data.pipeline.PipelineOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CifarWriterTest {

  @Test
  void writesTheByteExactRecordLayout(@TempDir Path tmp) throws Exception {
    byte[] img = new byte[32 * 32 * 3];
    img[(5 * 32 + 7) * 3 + 0] = 11; // red at (5, 7)
    img[(5 * 32 + 7) * 3 + 1] = 22; // green
    img[(5 * 32 + 7) * 3 + 2] = 33; // blue
    Path f = tmp.resolve("b.bin");
    CifarWriter.writeBatch(f, img, new int[] {9});
    byte[] rec = Files.readAllBytes(f);
    assertEquals(3073, rec.length);
    assertEquals(9, rec[0]);
    assertEquals(11, rec[1 + 5 * 32 + 7]);
    assertEquals(22, rec[1 + 1024 + 5 * 32 + 7]);
    assertEquals(33, rec[1 + 2048 + 5 * 32 + 7]);
  }

  @Test
  void fashionToCifarConversionRoundTrips(@TempDir Path tmp) throws Exception {
    IdxReader.Images grey = TestData.idxImages(0, 12);
    byte[] rgb = CifarWriter.greyToRgbPadded(grey.pixels(), 12, 28, 28, 32);
    assertEquals(12 * 32 * 32 * 3, rgb.length);
    int[] labels = new int[12];
    for (int i = 0; i < 12; i++) {
      labels[i] = i % 10;
    }
    CifarWriter.writeDataset(tmp, rgb, labels, java.util.Arrays.copyOf(rgb, 3 * 3072), new int[] {0, 1, 2},
        FashionMnist.CLASS_NAMES.stream().map(s -> s.replace(' ', '_')).toList());
    ImageSource src = Cifar10.openDir(tmp);
    assertEquals(12, src.size(Split.TRAIN));
    assertArrayEquals(labels, src.labels(Split.TRAIN));
    assertEquals(List.of("T-shirt/top", "Trouser"), src.spec().classNames().subList(0, 2));
    // Pixel (y, x) of the padded image is grey (y-2, x-2) in every channel; borders are 0.
    for (int c = 0; c < 3; c++) {
      assertEquals(TestData.idxPixel(0, 3, 10, 20), rgb[((3 * 32 + 12) * 32 + 22) * 3 + c] & 0xff);
      assertEquals(0, rgb[((3 * 32 + 1) * 32 + 22) * 3 + c]);
    }
    List<PipelinesTest.Ex> got = PipelinesTest.run(src, Split.TRAIN, PipelineOptions.eval(12), 1);
    float want = PipelinesTest.norm(TestData.idxPixel(0, 3, 10, 20), Cifar10.SPEC, 1);
    assertEquals(want, got.get(3).pixels()[(12 * 32 + 22) * 3 + 1], 1e-5f);
  }

  @Test
  void fewerTrainingExamplesThanBatchFilesLeavesSomeFilesEmpty(@TempDir Path tmp) throws Exception {
    ImageSource src = Cifar10.openDir(TestData.cifar(tmp, 3, 2));
    assertEquals(0, Files.size(tmp.resolve("data_batch_1.bin")));
    assertEquals(3, src.size(Split.TRAIN));
    List<PipelinesTest.Ex> got = PipelinesTest.run(src, Split.TRAIN, PipelineOptions.eval(8), 2);
    assertEquals(3, got.size());
    for (int i = 0; i < 3; i++) {
      assertEquals(TestData.cifarLabel(0, i), got.get(i).label());
    }
  }
}
