package dev.selfie.data;

import dev.selfie.data.formats.FashionMnist;
import dev.selfie.data.formats.IdxReader;
import dev.selfie.data.pipeline.PipelineOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The real Fashion-MNIST files: the Debian package dataset-fashion-mnist's, else those downloaded
 * into the data home.
 */
class RealFashionMnistTest {

  static final Path DIR = java.util.Objects.requireNonNullElse(FashionMnist.installed(),
      Path.of(FashionMnist.SYSTEM_DIR));

  @BeforeAll
  static void present() {
    boolean there = Files.isDirectory(DIR) && FashionMnist.hasFiles(DIR);
    if (!there) {
      System.out.println("SKIPPED RealFashionMnistTest: " + DIR + " is absent (install the Debian package dataset-fashion-mnist)");
    }
    assumeTrue(there, DIR + " is absent");
  }

  @Test
  void countsPerSplitAndClass() throws Exception {
    ImageSource src = Datasets.open("fashion-mnist", null);
    assertEquals(DIR, src.location());
    assertEquals(60_000, src.size(Split.TRAIN));
    assertEquals(10_000, src.size(Split.TEST));
    int[] all = java.util.stream.IntStream.range(0, 60_000).toArray();
    for (int c : LabelFractions.countsPerClass(src.labels(Split.TRAIN), all, 10)) {
      assertEquals(6_000, c);
    }
    int[] allTest = java.util.stream.IntStream.range(0, 10_000).toArray();
    for (int c : LabelFractions.countsPerClass(src.labels(Split.TEST), allTest, 10)) {
      assertEquals(1_000, c);
    }
    int[] five = LabelFractions.select(src.labels(Split.TRAIN), 10, 0.05, 0);
    assertEquals(3_000, five.length);
    for (int c : LabelFractions.countsPerClass(src.labels(Split.TRAIN), five, 10)) {
      assertEquals(300, c);
    }
  }

  @Test
  void inGraphReaderMatchesTheJavaReader() throws Exception {
    ImageSource src = Datasets.open("fashion-mnist", null);
    IdxReader.Images java = IdxReader.readImages(DIR.resolve("t10k-images-idx3-ubyte.gz"));
    List<PipelinesTest.Ex> got =
        PipelinesTest.run(src, Split.TEST, PipelineOptions.eval(5).withParallelism(1), 1);
    assertEquals(5, got.size());
    int[] labels = src.labels(Split.TEST);
    for (int i = 0; i < 5; i++) {
      assertEquals(labels[i], got.get(i).label());
      for (int y = 0; y < 28; y++) {
        for (int x = 0; x < 28; x++) {
          int v = java.pixels()[(i * 28 + y) * 28 + x] & 0xff;
          assertEquals(PipelinesTest.norm(v, src.spec(), 0), got.get(i).pixels()[(y + 2) * 32 + x + 2], 1e-5f);
        }
      }
    }
  }
}
