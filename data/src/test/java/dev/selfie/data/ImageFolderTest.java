package dev.selfie.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.selfie.data.formats.ImageFolder;
import dev.selfie.data.pipeline.PipelineOptions;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFolderTest {

  @TempDir Path tmp;

  @Test
  void folderTreeOfPngAndJpegRoundTrips() throws Exception {
    Path root = ImageTestData.folder(tmp.resolve("pets"), 4);
    ImageSource src = Datasets.open("folder", root, new OpenOptions(32, null));
    assertEquals(List.of("cat", "dog", "eel"), src.spec().classNames(), "class names from the folder names, sorted");
    assertEquals(12, src.size(Split.TRAIN));
    assertEquals(6, src.size(Split.TEST));
    assertArrayEquals(new int[] {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}, src.labels(Split.TRAIN));
    assertTrue(src.warnings().isEmpty(), src.warnings().toString());
    // Evaluation: any size -> resize + centre crop to 32x32; solid colours survive exactly (PNG) or
    // within JPEG error. Files are in path order: img0.png, img1.jpg, img2.png, nested/img3.jpg ...
    List<PipelinesTest.Ex> got = PipelinesTest.run(src, Split.TRAIN, PipelineOptions.eval(5), 10);
    assertEquals(12, got.size());
    String[] order = {"img0", "img1", "img2", "nested/img3"};
    for (int j = 0; j < 12; j++) {
      int k = j / 4;
      int i = Integer.parseInt(order[j % 4].replaceAll("\\D", ""));
      assertEquals(k, got.get(j).label());
      int[] rgb = ImageTestData.rgb(k, i);
      boolean png = i % 2 == 0;
      for (int c = 0; c < 3; c++) {
        float tol = png ? 1e-4f : 4f / (255f * src.spec().std()[c]);
        for (int p : new int[] {0, 31 * 32 + 31, 16 * 32 + 5}) {
          assertEquals(PipelinesTest.norm(rgb[c], src.spec(), c), got.get(j).pixels()[p * 3 + c], tol,
              "example " + j + " pixel " + p + " channel " + c);
        }
      }
    }
    // Training: random-resized-crop + flip of solid images keeps the colour; labels from the folders.
    List<PipelinesTest.Ex> train = PipelinesTest.run(src, Split.TRAIN, PipelineOptions.train(4, 3), 6);
    assertEquals(24, train.size());
    assertArrayEquals(new int[] {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2},
        train.subList(0, 12).stream().mapToInt(PipelinesTest.Ex::label).sorted().toArray(), "one epoch = every image once");
    // At 224 (the paper224 preset) the same folder gives 224x224 inputs.
    ImageSource big = Datasets.open("folder", root, new OpenOptions(224, null));
    assertEquals(224, big.spec().imageSize());
    assertEquals(224 * 224 * 3, PipelinesTest.run(big, Split.TEST, PipelineOptions.eval(2), 1).get(0).pixels().length);
  }

  @Test
  void unreadableFilesAreSkippedWithACountingWarning() throws Exception {
    Path root = ImageTestData.folder(tmp.resolve("pets"), 4);
    Path cat = root.resolve("train").resolve("cat");
    Files.writeString(cat.resolve("notes.txt"), "not an image");
    byte[] jpg = ImageTestData.jpeg(40, 40, new int[] {1, 2, 3});
    Files.write(cat.resolve("half.jpg"), java.util.Arrays.copyOf(jpg, jpg.length / 2));
    byte[] png = ImageTestData.png(20, 20, new int[] {9, 9, 9});
    png[png.length - 20] ^= 0x40; // inside the last data chunk: CRC mismatch
    Files.write(cat.resolve("bad.png"), png);
    Files.write(cat.resolve("empty.jpg"), new byte[0]);
    Files.writeString(root.resolve("train").resolve("README"), "loose file");
    Files.writeString(cat.resolve(".DS_Store"), "hidden: ignored silently");
    // JPEG markers at both ends but broken headers: caught on open.
    byte[] fake = new byte[200];
    fake[0] = (byte) 0xFF; fake[1] = (byte) 0xD8; fake[2] = (byte) 0xFF; fake[3] = (byte) 0xE0;
    fake[198] = (byte) 0xFF; fake[199] = (byte) 0xD9;
    Files.write(cat.resolve("fake.jpg"), fake);
    // Well-formed markers, but a frame of height 0: passes the open-time checks, TensorFlow cannot
    // decode it: dropped in-graph, never a crash.
    Files.write(root.resolve("train").resolve("dog").resolve("zz-height0.jpg"), withZeroHeight(jpg));

    ImageSource src = Datasets.open("folder", root);
    assertEquals(13, src.size(Split.TRAIN), "12 good + the undecodable one that passes the checks");
    assertEquals(1, src.warnings().size(), src.warnings().toString());
    String w = src.warnings().get(0);
    assertTrue(w.contains("skipped 6 of 19 files"), w);
    for (String reason : List.of("not a JPEG or PNG image", "truncated JPEG", "corrupt JPEG", "bad CRC", "empty file",
        "not in a class folder")) {
      assertTrue(w.contains(reason), reason + " in " + w);
    }
    // Never a crash mid-epoch: the undecodable file is dropped by the pipeline.
    List<PipelinesTest.Ex> got = PipelinesTest.run(src, Split.TRAIN, PipelineOptions.eval(4), 10);
    assertEquals(12, got.size());
    List<PipelinesTest.Ex> train = PipelinesTest.run(src, Split.TRAIN, PipelineOptions.train(5, 1), 6);
    assertEquals(30, train.size(), "training keeps streaming across epochs");
  }

  @Test
  void emptyOrMalformedFoldersAreClearErrors() throws Exception {
    Path root = tmp.resolve("empty");
    Files.createDirectories(root.resolve("train").resolve("cat"));
    Files.writeString(root.resolve("train").resolve("cat").resolve("x.txt"), "no");
    BadDataException e = assertThrows(BadDataException.class, () -> Datasets.open("folder", root));
    assertTrue(e.getMessage().contains("no usable images") && e.getMessage().contains("x.txt"), e.getMessage());

    Path noClasses = Files.createDirectories(tmp.resolve("flat").resolve("train"));
    e = assertThrows(BadDataException.class, () -> Datasets.open("folder", noClasses.getParent()));
    assertTrue(e.getMessage().contains("no class folders"), e.getMessage());

    assertThrows(NoSuchFileException.class, () -> Datasets.open("folder", tmp.resolve("missing")));
    IllegalArgumentException a = assertThrows(IllegalArgumentException.class, () -> Datasets.open("folder", null));
    assertTrue(a.getMessage().contains("--data-dir"), a.getMessage());

    Path pets = ImageTestData.folder(tmp.resolve("pets"), 2);
    Files.createDirectories(pets.resolve("test").resolve("fox"));
    e = assertThrows(BadDataException.class, () -> Datasets.open("folder", pets));
    assertTrue(e.getMessage().contains("class 'fox'"), e.getMessage());

    Path emptyUnlabeled = Files.createDirectories(tmp.resolve("u"));
    e = assertThrows(BadDataException.class, () -> Datasets.open("folder", null, new OpenOptions(0, emptyUnlabeled)));
    assertTrue(e.getMessage().contains("--unlabeled-dir") && e.getMessage().contains("no usable images"), e.getMessage());
  }

  @Test
  void unlabeledImagesJoinTheTrainingSplitForPretraining() throws Exception {
    Path root = ImageTestData.folder(tmp.resolve("pets"), 2);
    Path u = Files.createDirectories(tmp.resolve("unlabeled").resolve("a").resolve("b"));
    Files.write(u.resolve("x.png"), ImageTestData.png(50, 20, new int[] {1, 2, 3}));
    Files.write(u.getParent().resolve("y.jpg"), ImageTestData.jpeg(64, 64, new int[] {1, 2, 3}));
    BufferedImage grey = new BufferedImage(10, 12, BufferedImage.TYPE_BYTE_GRAY);
    Files.write(tmp.resolve("unlabeled").resolve("grey.png"), ImageTestData.encode(grey, "png"));
    ImageSource src = Datasets.open("folder", root, new OpenOptions(32, tmp.resolve("unlabeled")));
    assertEquals(9, src.size(Split.TRAIN));
    assertArrayEquals(new int[] {0, 0, 1, 1, 2, 2, -1, -1, -1}, src.labels(Split.TRAIN));
    assertEquals(9, PipelinesTest.run(src, Split.TRAIN, PipelineOptions.eval(4), 5).size(), "grey PNG becomes RGB");

    ImageSource only = Datasets.open("folder", null, new OpenOptions(32, tmp.resolve("unlabeled")));
    assertEquals(List.of(ImageFolder.UNLABELED_CLASS), only.spec().classNames());
    assertEquals(3, only.size(Split.TRAIN));
    assertEquals(0, only.size(Split.TEST));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> PipelinesTest.run(only, Split.TEST, PipelineOptions.eval(4), 1));
    assertTrue(e.getMessage().contains("no usable images"), e.getMessage());
  }

  /** A baseline JPEG whose frame header says height 0: valid markers, undecodable ("empty image"). */
  static byte[] withZeroHeight(byte[] jpg) {
    byte[] b = jpg.clone();
    int pos = 2;
    while ((b[pos + 1] & 0xff) != 0xC0) {
      pos += 2 + (((b[pos + 2] & 0xff) << 8) | (b[pos + 3] & 0xff));
    }
    b[pos + 5] = 0; // SOF0: length(2), precision(1), height(2), width(2), ...
    b[pos + 6] = 0;
    assertNull(ImageChecks.problem(b), "passes the open-time checks");
    return b;
  }
}
