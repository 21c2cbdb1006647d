package dev.selfie.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.selfie.data.formats.ImageNet;
import dev.selfie.data.formats.TFRecords;
import dev.selfie.data.pipeline.PipelineOptions;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.ConcreteFunction;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Signature;
import org.tensorflow.exceptions.TFOutOfRangeException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TString;
import org.tensorflow.types.family.TType;

class ImageNetTfRecordTest {

  @TempDir Path tmp;

  @Test
  void shardsRoundTripExactlyInJavaAndInTensorFlow() throws Exception {
    Path dir = ImageTestData.imagenetShards(tmp.resolve("imagenet"), 2, 5, 4);
    // Java reader: framing + both CRCs + Example fields.
    List<byte[]> images = new ArrayList<>();
    int n = TFRecords.read(dir.resolve("train-00001-of-00002"), (i, off, data) -> {
      TFRecords.ImageRecord r = TFRecords.parseImageExample(data, "test");
      assertEquals(ImageTestData.tfLabel(0, 5 + i), r.label());
      images.add(r.encoded());
    });
    assertEquals(5, n);
    assertEquals(0xFF, images.get(0)[0] & 0xff, "real JPEG bytes");
    assertEquals(0xD8, images.get(0)[1] & 0xff);

    ImageSource src = Datasets.open("imagenet", tmp, new OpenOptions(32, null));
    assertInstanceOf(StreamingSource.class, src);
    assertEquals(10, src.size(Split.TRAIN));
    assertEquals(4, src.size(Split.TEST));
    assertEquals(32, src.spec().imageSize());
    assertEquals(224, Datasets.open("imagenet", tmp).spec().imageSize(), "default 224");
    assertTrue(src.warnings().isEmpty());

    // TensorFlow's own TFRecordDataset (which checks the CRCs) reads back the same JPEG bytes.
    StreamingSource ss = (StreamingSource) src;
    List<byte[]> tfBytes = new ArrayList<>();
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      org.tensorflow.Operand<? extends TType> ds = ss.records(tf, Split.TRAIN);
      try (ConcreteFunction fn = ConcreteFunction.create(ftf -> {
        Placeholder<TString> rec = ftf.placeholder(TString.class, Placeholder.shape(Shape.scalar()));
        return Signature.builder().input("r", rec).output("b", ss.imageBytes(ftf, rec)).build();
      })) {
        ds = tf.data.mapDataset(ds, List.of(), fn, List.of(TString.class), List.of(Shape.scalar()));
      }
      var it = tf.data.iterator("", "", List.of(TString.class), List.of(Shape.scalar()));
      var make = tf.data.makeIterator(ds, it);
      var next = tf.data.iteratorGetNext(it, List.of(TString.class), List.of(Shape.scalar()));
      s.runner().addTarget(make).run();
      while (true) {
        try (Result r = s.runner().fetch(next.components().get(0)).run()) {
          tfBytes.add(((TString) r.get(0)).asBytes().getObject());
        } catch (TFOutOfRangeException end) {
          break;
        }
      }
    }
    assertEquals(10, tfBytes.size());
    for (int i = 0; i < 5; i++) {
      assertArrayEquals(images.get(i), tfBytes.get(5 + i), "record " + (5 + i));
    }

    // Evaluation pipeline: decode + resize-37 + centre-crop-32 of solid colours, labels 1..1000 -> 0..999.
    List<PipelinesTest.Ex> got = PipelinesTest.run(src, Split.TEST, PipelineOptions.eval(3), 10);
    assertEquals(4, got.size());
    for (int i = 0; i < 4; i++) {
      assertEquals(ImageTestData.tfLabel(1, i) - 1, got.get(i).label());
      int[] rgb = ImageTestData.rgb((int) ImageTestData.tfLabel(1, i) % 5, i % 4);
      float[] px = got.get(i).pixels();
      for (int c = 0; c < 3; c++) {
        float tol = 4f / (255f * src.spec().std()[c]);
        assertEquals(PipelinesTest.norm(rgb[c], src.spec(), c), px[(16 * 32 + 16) * 3 + c], tol, "image " + i + " channel " + c);
      }
    }
  }

  @Test
  void trainingStreamIsSeededAndResumesExactly() throws Exception {
    Path dir = ImageTestData.imagenetShards(tmp.resolve("imagenet"), 2, 5, 2);
    ImageSource src = ImageNet.openDir(dir, 32);
    PipelineOptions o = PipelineOptions.train(4, 11);
    List<PipelinesTest.Ex> a = PipelinesTest.run(src, Split.TRAIN, o, 6); // 24 elements: 2.4 epochs
    List<PipelinesTest.Ex> b = PipelinesTest.run(src, Split.TRAIN, o, 6);
    for (int i = 0; i < a.size(); i++) {
      assertTrue(a.get(i).same(b.get(i)), "same seed, same stream at " + i);
    }
    List<PipelinesTest.Ex> resumed = PipelinesTest.run(src, Split.TRAIN, o.withSkipElements(12), 3);
    for (int i = 0; i < 12; i++) {
      assertTrue(a.get(12 + i).same(resumed.get(i)), "resumed stream element " + i);
    }
    // Every epoch holds each example once (labels multiset per epoch).
    int[] want = src.labels(Split.TRAIN).clone();
    java.util.Arrays.sort(want);
    int[] epoch = a.subList(0, 10).stream().mapToInt(PipelinesTest.Ex::label).sorted().toArray();
    assertArrayEquals(want, epoch);
    List<PipelinesTest.Ex> other = PipelinesTest.run(src, Split.TRAIN, PipelineOptions.train(4, 12), 3);
    boolean differs = false;
    for (int i = 0; i < 12; i++) {
      differs |= !a.get(i).same(other.get(i));
    }
    assertTrue(differs, "another seed gives another stream");
    // Label fraction: only the chosen examples appear.
    List<PipelinesTest.Ex> sub = PipelinesTest.run(src, Split.TRAIN, o.withIndices(new int[] {0, 4}).withRepeat(false).withDropRemainder(false), 5);
    assertEquals(2, sub.size());
  }

  @Test
  void badCrcAndTruncationAreClearErrors() throws Exception {
    Path dir = ImageTestData.imagenetShards(tmp.resolve("a"), 2, 3, 2);
    Path shard = dir.resolve("train-00001-of-00002");
    try (RandomAccessFile raf = new RandomAccessFile(shard.toFile(), "rw")) {
      raf.seek(40);
      int b = raf.read();
      raf.seek(40);
      raf.write(b ^ 0x55);
    }
    BadDataException e = assertThrows(BadDataException.class, () -> ImageNet.openDir(dir, 32));
    assertTrue(e.getMessage().contains("train-00001-of-00002: record 0 at byte 0: data CRC mismatch"), e.getMessage());

    Path dir2 = ImageTestData.imagenetShards(tmp.resolve("b"), 1, 3, 2);
    Path v = dir2.resolve("validation-00000-of-00001");
    try (RandomAccessFile raf = new RandomAccessFile(v.toFile(), "rw")) {
      raf.setLength(raf.length() - 10);
    }
    e = assertThrows(BadDataException.class, () -> ImageNet.openDir(dir2, 32));
    assertTrue(e.getMessage().contains("validation-00000-of-00001: record 1") && e.getMessage().contains("truncated"), e.getMessage());

    Path dir3 = Files.createDirectories(tmp.resolve("c"));
    try (TFRecords.Writer w = new TFRecords.Writer(dir3.resolve("train-00000-of-00001"))) {
      w.write(TFRecords.imageExample(ImageTestData.jpeg(8, 8, new int[] {1, 2, 3}), 1001));
    }
    ImageTestData.imagenetShards(Files.createDirectories(tmp.resolve("d")), 0, 0, 1);
    Files.copy(tmp.resolve("d").resolve("validation-00000-of-00001"), dir3.resolve("validation-00000-of-00001"));
    e = assertThrows(BadDataException.class, () -> ImageNet.openDir(dir3, 32));
    assertTrue(e.getMessage().contains("image/class/label is 1001, expected 1-1000"), e.getMessage());
  }

  @Test
  void corruptJpegRecordsAreSkippedAndCounted() throws Exception {
    Path dir = ImageTestData.imagenetShards(tmp.resolve("imagenet"), 1, 4, 2);
    byte[] good = ImageTestData.jpeg(30, 30, new int[] {10, 20, 30});
    try (TFRecords.Writer w = new TFRecords.Writer(dir.resolve("train-00001-of-00001"))) {
      w.write(TFRecords.imageExample(java.util.Arrays.copyOf(good, good.length / 2), 5)); // truncated JPEG
      w.write(TFRecords.imageExample("not an image".getBytes(), 6));
      w.write(TFRecords.imageExample(good, 7));
      w.write(TFRecords.imageExample(ImageTestData.png(12, 12, new int[] {1, 2, 3}), 8)); // PNG: the format says JPEG
    }
    ImageSource src = ImageNet.openDir(dir, 32);
    assertEquals(5, src.size(Split.TRAIN), "4 + 1 usable");
    assertEquals(8, ((StreamingSource) src).recordCount(Split.TRAIN));
    assertEquals(1, src.warnings().size());
    String w = src.warnings().get(0);
    assertTrue(w.contains("skipped 3 of 8 records") && w.contains("truncated JPEG") && w.contains("not a JPEG or PNG")
        && w.contains("not a JPEG=1"), w);
    assertEquals(6, src.labels(Split.TRAIN)[4], "label 7 -> 6, after the two skipped records");
    List<PipelinesTest.Ex> got = PipelinesTest.run(src, Split.TRAIN, PipelineOptions.eval(8), 3);
    assertEquals(5, got.size(), "the pipeline never sees the skipped records");
    // Second open: from the index cache, same answer.
    assertEquals(5, ImageNet.openDir(dir, 32).size(Split.TRAIN));
    assertTrue(Files.isDirectory(dir.resolve(".selfie-cache")));
  }
}
