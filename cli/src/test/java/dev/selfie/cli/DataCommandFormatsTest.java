package dev.selfie.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.selfie.data.formats.NpzWriter;
import dev.selfie.data.formats.TFRecords;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code selfie data inspect|bench} on the issue 8 formats: imagenet32 (npz), imagenet (TFRecords), folder. */
class DataCommandFormatsTest {

  @TempDir Path tmp;

  static byte[] image(int w, int h, int v, String format) throws Exception {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, (v << 16) | ((x * 5) & 0xff) << 8 | (y & 0xff));
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, format, out);
    return out.toByteArray();
  }

  JsonNode inspect(String... args) throws Exception {
    CliRun r = CliRun.run(args);
    assertEquals(0, r.code(), r.err());
    return new ObjectMapper().readTree(r.out());
  }

  void bench(String... args) throws Exception {
    CliRun r = CliRun.run(args);
    assertEquals(0, r.code(), r.err());
    JsonNode j = new ObjectMapper().readTree(r.out());
    assertTrue(j.get("images").asLong() > 0, r.out());
    assertTrue(j.get("imagesPerSecond").asDouble() > 0, r.out());
  }

  @Test
  void imagenet32() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("imagenet32"));
    for (int b = 0; b <= 10; b++) {
      Map<String, NpzWriter.Array> a = new LinkedHashMap<>();
      a.put("data", NpzWriter.uint8(new byte[2 * 3072], 2, 3072));
      a.put("labels", NpzWriter.int64(new long[] {1, 1000}));
      NpzWriter.write(dir.resolve(b == 10 ? "val_data.npz" : "train_data_batch_" + (b + 1) + ".npz"), a, false);
    }
    JsonNode j = inspect("data", "inspect", "--dataset", "imagenet32", "--data-dir", tmp.toString(), "--json");
    assertEquals(20, j.get("counts").get("train").asInt());
    assertEquals(10, j.get("countsPerClass").get("train").get(0).asInt());
    assertEquals(10, j.get("countsPerClass").get("train").get(999).asInt());
    assertEquals("[32,32,3]", j.get("inputShape").toString());
    bench("data", "bench", "--dataset", "imagenet32", "--data-dir", tmp.toString(), "--batch-size", "4", "--seconds", "0.3", "--json");
  }

  @Test
  void imagenetTfRecords() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("imagenet"));
    for (String shard : new String[] {"train-00000-of-00001", "validation-00000-of-00001"}) {
      try (TFRecords.Writer w = new TFRecords.Writer(dir.resolve(shard))) {
        for (int i = 0; i < 3; i++) {
          w.write(TFRecords.imageExample(image(60, 50, 40 * i, "jpg"), 5 + i));
        }
      }
    }
    JsonNode j = inspect("data", "inspect", "--dataset", "imagenet", "--data-dir", tmp.toString(), "--json");
    assertEquals(3, j.get("counts").get("test").asInt());
    assertEquals(1, j.get("countsPerClass").get("train").get(4).asInt(), "label 5 -> class 4");
    assertEquals("[224,224,3]", j.get("inputShape").toString());
    j = inspect("data", "inspect", "--dataset", "imagenet", "--data-dir", tmp.toString(), "--image-size", "64", "--json");
    assertEquals("[64,64,3]", j.get("inputShape").toString());
    bench("data", "bench", "--dataset", "imagenet", "--data-dir", tmp.toString(), "--image-size", "64",
        "--batch-size", "2", "--seconds", "0.3", "--json");
  }

  @Test
  void folderWithUnlabeledImages() throws Exception {
    Path root = tmp.resolve("photos");
    for (String split : new String[] {"train", "test"}) {
      for (String c : new String[] {"apple", "pear"}) {
        Path d = Files.createDirectories(root.resolve(split).resolve(c));
        Files.write(d.resolve("a.png"), image(33, 21, 10, "png"));
        Files.write(d.resolve("b.jpg"), image(40, 40, 200, "jpg"));
      }
    }
    Files.writeString(root.resolve("train").resolve("pear").resolve("notes.md"), "skipped");
    Path u = Files.createDirectories(tmp.resolve("more").resolve("x"));
    Files.write(u.resolve("c.jpg"), image(50, 30, 99, "jpg"));
    JsonNode j = inspect("data", "inspect", "--dataset", "folder", "--data-dir", root.toString(),
        "--unlabeled-dir", tmp.resolve("more").toString(), "--json");
    assertEquals("[\"apple\",\"pear\"]", j.get("classNames").toString());
    assertEquals(5, j.get("counts").get("train").asInt());
    assertEquals(1, j.get("unlabeled").get("train").asInt());
    assertEquals(2, j.get("countsPerClass").get("train").get(1).asInt());
    assertTrue(j.get("warnings").get(0).asText().contains("skipped 1 of 5 files"), j.toString());

    CliRun table = CliRun.run("data", "inspect", "--dataset", "folder", "--data-dir", root.toString());
    assertEquals(0, table.code(), table.err());
    assertTrue(table.out().contains("warning: folder train") && table.out().contains("pear"), table.out());

    bench("data", "bench", "--dataset", "folder", "--data-dir", root.toString(), "--batch-size", "2", "--seconds", "0.3", "--json");

    CliRun empty = CliRun.run("data", "inspect", "--dataset", "folder", "--data-dir",
        Files.createDirectories(tmp.resolve("empty").resolve("train").resolve("x")).getParent().getParent().toString());
    assertNotEquals(0, empty.code());
    assertTrue(empty.err().contains("no usable images"), empty.err());
  }

  @Test
  void pretrainTakesAnUnlabeledDirectory() {
    PretrainCommand c = new PretrainCommand();
    new CommandLine(c).parseArgs("--dataset", "folder", "--unlabeled-dir", "/data/raw", "--out", "/tmp/run");
    assertEquals(Path.of("/data/raw"), c.options().data().unlabeledDir());
    assertEquals("folder", c.options().data().dataset());
  }
}
