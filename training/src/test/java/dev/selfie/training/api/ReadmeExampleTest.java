package dev.selfie.training.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * README.md's Java API example is {@link ReadmeExample}'s source, verbatim, and it runs: tiny
 * preset, a few steps, on a generated folder of PNGs; the SavedModel exists at the end.
 */
class ReadmeExampleTest {

  @TempDir Path tmp;

  static String between(String text, String start, String end) {
    int a = text.indexOf(start);
    int b = text.indexOf(end, a + 1);
    assertTrue(a >= 0 && b > a, "markers " + start + " .. " + end + " missing");
    return text.substring(text.indexOf('\n', a) + 1, b);
  }

  /** Strips the common indentation of the lines (the example sits in a class in Java). */
  static String dedent(String block) {
    List<String> lines = block.lines().toList();
    int indent = lines.stream().filter(l -> !l.isBlank())
        .mapToInt(l -> l.length() - l.stripLeading().length()).min().orElse(0);
    StringBuilder out = new StringBuilder();
    for (String l : lines) {
      out.append(l.isBlank() ? "" : l.substring(indent).stripTrailing()).append('\n');
    }
    return out.toString().stripTrailing() + "\n";
  }

  @Test
  void readmeShowsTheExampleVerbatim() throws Exception {
    Path root = Path.of(System.getProperty("user.dir")).getParent();
    String readme = Files.readString(root.resolve("README.md"));
    String source = Files.readString(root.resolve(
        "training/src/test/java/dev/selfie/training/api/ReadmeExample.java"));
    String example = dedent(between(source, "// readme:start", "// readme:end"));
    String shown = dedent(between(readme, "```java", "```"));
    assertTrue(example.contains("Selfie.pretrain(images)"), example);
    assertEquals(example, shown, "README.md's Java API example differs from ReadmeExample.java");
  }

  static void writeFolder(Path root, int perClassTrain, int perClassTest) throws Exception {
    Random rnd = new Random(7);
    String[] classes = {"red", "green", "blue"};
    for (String split : List.of("train", "test")) {
      for (int k = 0; k < classes.length; k++) {
        Path dir = Files.createDirectories(root.resolve(split).resolve(classes[k]));
        int n = split.equals("train") ? perClassTrain : perClassTest;
        for (int i = 0; i < n; i++) {
          BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
          for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
              int v = 96 + rnd.nextInt(64);
              img.setRGB(x, y, v << (16 - 8 * k));
            }
          }
          assertTrue(ImageIO.write(img, "png", dir.resolve("i" + i + ".png").toFile()));
        }
      }
    }
  }

  @Test
  void exampleTrainsFinetunesAndExports() throws Exception {
    Path images = tmp.resolve("images");
    writeFolder(images, 20, 4);
    Path runs = tmp.resolve("runs");
    PrintStream console = System.out;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    Path savedModel;
    System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
    try {
      savedModel = ReadmeExample.trainAndExport(images, runs, "tiny", 3);
    } finally {
      System.setOut(console);
    }
    String out = captured.toString(StandardCharsets.UTF_8);
    console.print(out);
    assertEquals(runs.resolve("finetune/savedmodel"), savedModel);
    assertTrue(Files.isRegularFile(savedModel.resolve("1/saved_model.pb")), "no SavedModel");
    assertTrue(Files.isRegularFile(runs.resolve("pretrain/savedmodel/1/saved_model.pb")));
    for (String line : List.of("pretrain 1/3 loss", "pretrain 3/3 loss", "test accuracy ")) {
      assertTrue(out.contains(line), "missing \"" + line + "\" in:\n" + out);
    }
  }

  @Test
  void progressReportsEveryStepAndBadSettingsWriteNothing() throws Exception {
    Path images = tmp.resolve("images");
    writeFolder(images, 20, 4);
    List<Selfie.Progress> seen = new ArrayList<>();
    Selfie.Pretrained p = Selfie.pretrain(images).preset("tiny").steps(4).batchSize(8)
        .threads(1).precision("float32").onProgress(seen::add)
        .out(tmp.resolve("pre")).run();
    assertEquals(List.of(1L, 2L, 3L, 4L), seen.stream().map(Selfie.Progress::step).toList());
    assertTrue(seen.stream().allMatch(s -> s.endStep() == 4 && s.task().equals("pretrain")
        && Double.isFinite(s.loss())), seen.toString());
    assertTrue(p.patchAccuracy() >= 0 && p.patchAccuracy() <= 1, "" + p.patchAccuracy());

    Path bad = tmp.resolve("bad");
    assertThrows(IllegalArgumentException.class,
        () -> Selfie.finetune(images, p).labelFraction(1.5).out(bad).run());
    assertThrows(IllegalArgumentException.class,
        () -> Selfie.pretrain(images).preset("huge").out(bad).run());
    assertThrows(IllegalArgumentException.class, () -> Selfie.pretrain(images).run());
    assertTrue(!Files.exists(bad), "a refused run wrote " + bad);
  }
}
