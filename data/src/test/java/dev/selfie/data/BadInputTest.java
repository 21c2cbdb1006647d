package dev.selfie.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.selfie.data.formats.Cifar10;
import dev.selfie.data.formats.FashionMnist;
import dev.selfie.data.formats.IdxWriter;
import dev.selfie.data.pipeline.PipelineOptions;
import dev.selfie.data.pipeline.Pipelines;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every kind of bad input gives an IOException naming the file and what was expected. */
class BadInputTest {

  @TempDir Path tmp;

  private static <T extends IOException> T expect(Class<T> type, String fileName, String expected, Executable e) {
    T ex = assertThrows(type, e::run);
    assertTrue(ex.getMessage().contains(fileName), "names the file: " + ex.getMessage());
    assertTrue(ex.getMessage().contains(expected), "says '" + expected + "': " + ex.getMessage());
    return ex;
  }

  interface Executable {
    void run() throws Exception;
  }

  @Test
  void missingCifarFiles() throws Exception {
    Path d = TestData.cifar(tmp.resolve("c"), 5, 2);
    Files.delete(d.resolve("data_batch_3.bin"));
    expect(NoSuchFileException.class, "data_batch_3.bin", "not found", () -> Cifar10.openDir(d));
    expect(NoSuchFileException.class, "empty", "CIFAR-10 binary files not found",
        () -> Datasets.open("cifar10", Files.createDirectories(tmp.resolve("empty"))));
  }

  @Test
  void cifarFoundInTheUsualLayouts() throws Exception {
    TestData.cifar(tmp.resolve("home/cifar10/cifar-10-batches-bin"), 5, 2);
    assertEquals(5, Datasets.open("cifar10", tmp.resolve("home")).size(Split.TRAIN));
    TestData.cifar(tmp.resolve("flat"), 10, 2);
    assertEquals(10, Datasets.open("cifar10", tmp.resolve("flat")).size(Split.TRAIN));
    TestData.cifar(tmp.resolve("p/cifar-10-batches-bin"), 15, 2);
    assertEquals(15, Datasets.open("cifar10", tmp.resolve("p")).size(Split.TRAIN));
  }

  @Test
  void truncatedCifarBatch() throws Exception {
    Path d = TestData.cifar(tmp.resolve("c"), 10, 2);
    Path f = d.resolve("data_batch_2.bin");
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      raf.setLength(raf.length() - 100);
    }
    expect(BadDataException.class, "data_batch_2.bin", "not a multiple of the 3073-byte", () -> Cifar10.openDir(d));
  }

  @Test
  void cifarLabelAboveNine() throws Exception {
    Path d = TestData.cifar(tmp.resolve("c"), 10, 2);
    Path f = d.resolve("test_batch.bin");
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      raf.seek(3073);
      raf.write(10);
    }
    expect(BadDataException.class, "test_batch.bin", "record 1 (byte offset 3073) has label 10, expected 0-9",
        () -> Cifar10.openDir(d));
  }

  @Test
  void cifarMetaWithWrongClassCount() throws Exception {
    Path d = TestData.cifar(tmp.resolve("c"), 10, 2);
    Files.writeString(d.resolve("batches.meta.txt"), "cat\ndog\n");
    expect(BadDataException.class, "batches.meta.txt", "expected 10 class names", () -> Cifar10.openDir(d));
  }

  @Test
  void wrongIdxMagic() throws Exception {
    Path d = TestData.fashion(tmp.resolve("f"), 4, 3);
    // Labels written where images belong.
    IdxWriter.writeLabels(d.resolve("train-images-idx3-ubyte.gz"), new byte[] {1, 2, 3, 4});
    expect(BadDataException.class, "train-images-idx3-ubyte.gz", "magic 0x00000801, expected 0x00000803",
        () -> FashionMnist.openDir(d));
    IdxWriter.writeImages(d.resolve("train-labels-idx1-ubyte.gz"), TestData.idxImages(0, 4));
    IdxWriter.writeImages(d.resolve("train-images-idx3-ubyte.gz"), TestData.idxImages(0, 4));
    expect(BadDataException.class, "train-labels-idx1-ubyte.gz", "expected 0x00000801", () -> FashionMnist.openDir(d));
  }

  @Test
  void imageAndLabelCountsDiffer() throws Exception {
    Path d = TestData.fashion(tmp.resolve("f"), 4, 3);
    IdxWriter.writeLabels(d.resolve("t10k-labels-idx1-ubyte.gz"), new byte[] {1, 2});
    expect(BadDataException.class, "t10k-labels-idx1-ubyte.gz", "2 labels but", () -> FashionMnist.openDir(d));
  }

  @Test
  void idxLabelAboveNine() throws Exception {
    Path d = TestData.fashion(tmp.resolve("f"), 4, 3);
    IdxWriter.writeLabels(d.resolve("t10k-labels-idx1-ubyte.gz"), new byte[] {1, 2, 12});
    expect(BadDataException.class, "t10k-labels-idx1-ubyte.gz", "label 2 is 12, expected 0-9", () -> FashionMnist.openDir(d));
  }

  @Test
  void truncatedIdxImages() throws Exception {
    Path d = TestData.fashion(tmp.resolve("f"), 4, 3);
    // Uncompressed file, one byte short.
    Path raw = d.resolve("train-images-idx3-ubyte");
    IdxWriter.writeImages(raw, TestData.idxImages(0, 4));
    Files.delete(d.resolve("train-images-idx3-ubyte.gz"));
    try (RandomAccessFile raf = new RandomAccessFile(raw.toFile(), "rw")) {
      raf.setLength(raf.length() - 1);
    }
    expect(BadDataException.class, "train-images-idx3-ubyte", "truncated", () -> FashionMnist.openDir(d));
  }

  @Test
  void corruptGzip() throws Exception {
    Path d = TestData.fashion(tmp.resolve("f"), 50, 3);
    Path f = d.resolve("train-images-idx3-ubyte.gz");
    byte[] b = Files.readAllBytes(f);
    for (int i = b.length / 2; i < b.length / 2 + 16; i++) {
      b[i] ^= 0x5a;
    }
    Files.write(f, b);
    expect(BadDataException.class, "train-images-idx3-ubyte.gz", "corrupt gzip", () -> FashionMnist.openDir(d));
    // A gzip cut short.
    Path l = d.resolve("train-labels-idx1-ubyte.gz");
    byte[] lb = Files.readAllBytes(l);
    Files.write(l, java.util.Arrays.copyOf(lb, lb.length - 12));
    IdxWriter.writeImages(f, TestData.idxImages(0, 50));
    BadDataException e = assertThrows(BadDataException.class, () -> FashionMnist.openDir(d));
    assertTrue(e.getMessage().contains("train-labels-idx1-ubyte.gz"), e.getMessage());
  }

  @Test
  void missingIdxFileAndUnknownDataset() throws Exception {
    Path d = TestData.fashion(tmp.resolve("f"), 4, 3);
    Files.delete(d.resolve("t10k-labels-idx1-ubyte.gz"));
    expect(NoSuchFileException.class, "t10k-labels-idx1-ubyte.gz", "not found", () -> FashionMnist.openDir(d));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Datasets.open("mnist-3d", tmp));
    assertTrue(e.getMessage().contains("cifar10") && e.getMessage().contains("fashion-mnist"), e.getMessage());
  }

  @Test
  void badPipelineOptions() throws Exception {
    assertThrows(IllegalArgumentException.class, () -> PipelineOptions.train(0, 1));
    assertThrows(IllegalArgumentException.class, () -> PipelineOptions.train(8, 1).withSkipElements(-1));
    assertThrows(IllegalArgumentException.class, () -> PipelineOptions.train(8, 1).withIndices(new int[] {1, 1}));
    assertThrows(IllegalArgumentException.class, () -> PipelineOptions.train(8, 1).withIndices(new int[] {-1}));
    ImageSource src = Cifar10.openDir(TestData.cifar(tmp.resolve("c"), 5, 2));
    try (org.tensorflow.Graph g = new org.tensorflow.Graph()) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> Pipelines.build(org.tensorflow.op.Ops.create(g), src, Split.TRAIN,
              PipelineOptions.train(2, 1).withIndices(new int[] {0, 5})));
      assertTrue(e.getMessage().contains("index 5 out of range"), e.getMessage());
    }
  }
}
