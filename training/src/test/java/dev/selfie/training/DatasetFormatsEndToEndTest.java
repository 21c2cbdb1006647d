package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.*;

import dev.selfie.data.DatasetSpec;
import dev.selfie.data.formats.NpzWriter;
import dev.selfie.training.jobs.Evaluate;
import dev.selfie.training.jobs.Export;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.Predict;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.jobs.RunData;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.run.Json;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 8 end to end, one test per format: pretrain a few steps, finetune a few steps from it,
 * export, predict image files with the SavedModel. ImageNet 32x32 (npz) and a folder of PNG/JPEG
 * files run the tiny preset here; ImageNet TFRecords with the paper224 preset are in {@link
 * Paper224EndToEndTest} (a class of their own: about a minute on 2 cores).
 */
class DatasetFormatsEndToEndTest {

  @TempDir Path tmp;


  static Pretrain.Options pretrain(String dataset, Path dataDir, String preset, int batch, Path out, Path unlabeled) {
    return Pretrain.Options.defaults(out)
        .withPreset(preset)
        .withData(DataOptions.of(dataset, dataDir).withUnlabeledDir(unlabeled).withBatchSize(batch))
        .withSchedule(ScheduleOptions.defaults().withSteps(2).withLr(0.01).withWarmup(0))
        .withCheckpoints(CheckpointOptions.defaults().withCheckpointEvery(2).withKeep(1)
            .withLogEvery(1).withSummaryEvery(1000))
        .withRuntime(PretrainFixtures.float32(2))
        .withExport(false);
  }

  static Finetune.Options finetune(String dataset, Path dataDir, String preset, int batch, Path out, Path pretrained) {
    return Finetune.Options.defaults(out)
        .withPretrained(pretrained)
        .withPreset(preset)
        .withLabels(Finetune.Labels.fraction(1.0))
        .withData(DataOptions.of(dataset, dataDir).withBatchSize(batch))
        .withSchedule(ScheduleOptions.defaults().withSteps(2).withLr(0.01).withWarmup(0))
        .withCheckpoints(CheckpointOptions.defaults().withCheckpointEvery(2).withKeep(1)
            .withLogEvery(1).withSummaryEvery(1000))
        .withRuntime(PretrainFixtures.float32(2))
        .withEvalBatchSize(4)
        .withExport(false);
  }

  static int[] rgb(int k) {
    return new int[] {(30 + 80 * k) % 256, (220 - 50 * k) % 256, (100 + 40 * k) % 256};
  }

  static byte[] encode(int w, int h, int[] rgb, String format) throws IOException {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, (rgb[0] << 16) | (rgb[1] << 8) | (rgb[2] ^ (x * 3 + y) & 0x1f));
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    assertTrue(ImageIO.write(img, format, out));
    return out.toByteArray();
  }

  /** Runs the four steps; returns the predictions for {@code images}. */
  static List<Predict.Result> pipeline(String dataset, Path dataDir, String preset, int batch, Path root,
      Path unlabeled, List<Path> images) throws IOException {
    Pretrain.Result p = Pretrain.run(pretrain(dataset, dataDir, preset, batch, root.resolve("pre"), unlabeled));
    assertEquals(2, p.steps());
    assertTrue(Double.isFinite(p.finalLoss()), "pretraining loss " + p.finalLoss());
    assertTrue(Files.isRegularFile(root.resolve("pre").resolve(RunData.FILE)), "dataset spec saved with the run");
    Finetune.Result f = Finetune.run(finetune(dataset, dataDir, preset, batch, root.resolve("fine"), root.resolve("pre")));
    assertEquals(2, f.steps());
    assertFalse(f.restored().isEmpty(), "stem + stages 1-3 restored from pretraining");
    assertTrue(f.testAccuracy() >= 0 && f.testAccuracy() <= 1);
    Path saved = Export.run(root.resolve("fine"));
    DatasetSpec spec = Json.read(saved.resolve("assets.extra").resolve(RunData.FILE), DatasetSpec.class);
    List<String> names = Files.readAllLines(saved.resolve("assets.extra").resolve(Export.CLASS_NAMES_FILE), StandardCharsets.UTF_8);
    assertEquals(spec.classNames(), names);
    List<Predict.Result> r = Predict.run(new Predict.Options(root.resolve("fine"), images, 2, 4));
    assertEquals(images.size(), r.size());
    for (Predict.Result x : r) {
      assertEquals(2, x.top().size());
      assertTrue(names.contains(x.top().get(0).className()), x.top().get(0).className());
      assertTrue(x.top().get(0).probability() >= x.top().get(1).probability());
    }
    return r;
  }

  @Test
  void imagenet32Npz() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("home").resolve("imagenet32"));
    for (int b = 0; b <= 10; b++) {
      int n = b == 10 ? 6 : 4;
      byte[] data = new byte[n * 3072];
      long[] labels = new long[n];
      for (int i = 0; i < n; i++) {
        labels[i] = 1 + (i % 3) * 100;
        for (int p = 0; p < 3072; p++) {
          data[i * 3072 + p] = (byte) (rgb(i % 3)[p / 1024] + (p % 7));
        }
      }
      Map<String, NpzWriter.Array> arrays = new LinkedHashMap<>();
      arrays.put("data", NpzWriter.uint8(data, n, 3072));
      arrays.put("labels", NpzWriter.int64(labels));
      NpzWriter.write(dir.resolve(b == 10 ? "val_data.npz" : "train_data_batch_" + (b + 1) + ".npz"), arrays, b % 2 == 0);
    }
    Path img = Files.write(tmp.resolve("x.png"), encode(32, 32, rgb(1), "png"));
    List<Predict.Result> r = pipeline("imagenet32", tmp.resolve("home"), "tiny", 8, tmp.resolve("runs"), null, List.of(img));
    assertTrue(r.get(0).top().get(0).className().startsWith("class_"), "generic ImageNet names without class_names.txt");
  }

  @Test
  void folderOfPngAndJpegWithUnlabeledImages() throws Exception {
    Path root = tmp.resolve("pets");
    String[] classes = {"cat", "dog", "eel"};
    for (String split : new String[] {"train", "test"}) {
      for (int k = 0; k < 3; k++) {
        Path c = Files.createDirectories(root.resolve(split).resolve(classes[k]));
        for (int i = 0; i < (split.equals("train") ? 4 : 2); i++) {
          boolean png = i % 2 == 0;
          Files.write(c.resolve("i" + i + (png ? ".png" : ".jpg")), encode(30 + 11 * i, 40 + 5 * k, rgb(k), png ? "png" : "jpg"));
        }
      }
    }
    Files.writeString(root.resolve("train").resolve("cat").resolve("notes.txt"), "not an image: skipped, counted");
    Path unlabeled = Files.createDirectories(tmp.resolve("unlabeled").resolve("deep").resolve("er"));
    for (int i = 0; i < 6; i++) {
      Files.write(unlabeled.resolve("u" + i + ".jpg"), encode(64 + i, 48, rgb(i % 3), "jpg"));
    }
    Path img = root.resolve("test").resolve("dog").resolve("i1.jpg");
    pipeline("folder", root, "tiny", 4, tmp.resolve("runs"), tmp.resolve("unlabeled"), List.of(img));
    DatasetSpec spec = Json.read(tmp.resolve("runs").resolve("fine").resolve(RunData.FILE), DatasetSpec.class);
    assertEquals(List.of("cat", "dog", "eel"), spec.classNames(), "class names from the folders, saved with the run");
    Evaluate.Result e = Evaluate.run(tmp.resolve("runs").resolve("fine"), null, root, 4);
    assertEquals(6, e.total());
  }
}
