package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.selfie.cli.Main;
import dev.selfie.data.formats.FashionMnist;
import dev.selfie.graph.Endpoints;
import dev.selfie.training.jobs.Predict;
import dev.selfie.training.run.Json;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code selfie predict} on a REAL finetuned export (28x28 grey Fashion-MNIST-format model):
 * image files of other sizes and channels are brought to the model's native input, and the
 * probabilities are the SavedModel's for the same pixels.
 */
class PredictTest {

  @TempDir static Path tmp;
  static Path run;
  static byte[] images;
  static Path greyPng;
  static Path rgbPng;
  static Path jpeg;

  @BeforeAll
  static void files() throws Exception {
    run = ExportTestRuns.finetuneRun();
    images = ExportTestRuns.fixedImages(2);
    // Image 0 as a native 28x28 grey PNG.
    BufferedImage g = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < 28; y++) {
      for (int x = 0; x < 28; x++) {
        g.getRaster().setSample(x, y, 0, images[y * 28 + x] & 0xff);
      }
    }
    greyPng = tmp.resolve("zero.png");
    ImageIO.write(g, "png", greyPng.toFile());
    // Image 1 as a 56x56 RGB PNG, each pixel a 2x2 block of (v, v, v): shrinking by area
    // averages and the luminance of grey give back exactly image 1.
    BufferedImage c = new BufferedImage(56, 56, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 56; y++) {
      for (int x = 0; x < 56; x++) {
        int v = images[28 * 28 + (y / 2) * 28 + x / 2] & 0xff;
        c.setRGB(x, y, (v << 16) | (v << 8) | v);
      }
    }
    rgbPng = tmp.resolve("one big.png");
    ImageIO.write(c, "png", rgbPng.toFile());
    jpeg = tmp.resolve("one.jpg");
    ImageIO.write(c, "jpeg", jpeg.toFile());
  }

  @Test
  void probabilitiesAreTheSavedModelsForTheSamePixels() {
    float[] want = ExportRoundTripTest.runSavedModel(run.resolve("savedmodel/1"), images, 2,
        Set.of(Endpoints.SERVING_DEFAULT)).get(Endpoints.SERVING_DEFAULT).get("probabilities");
    List<Predict.Result> results = Predict.run(
        new Predict.Options(run, List.of(greyPng, rgbPng, jpeg), 10, 2));
    assertEquals(3, results.size());
    for (int i = 0; i < 2; i++) {
      Predict.Result r = results.get(i);
      assertEquals(10, r.top().size());
      for (Predict.Prediction p : r.top()) {
        assertEquals(want[i * 10 + p.index()], p.probability(), 1e-6, r.file() + " " + p);
        assertEquals(FashionMnist.CLASS_NAMES.get(p.index()), p.className());
      }
    }
    for (Predict.Result r : results) {
      double sum = 0;
      for (int k = 0; k < r.top().size(); k++) {
        sum += r.top().get(k).probability();
        if (k > 0) {
          assertTrue(r.top().get(k - 1).probability() >= r.top().get(k).probability(),
              "top-k must be sorted: " + r.top());
        }
      }
      assertEquals(1.0, sum, 1e-4, "all 10 classes: " + r.top());
    }
  }

  @Test
  void modelReportsItsNativeInput() {
    try (Predict.Model m = Predict.Model.load(run.resolve("savedmodel/1"))) {
      assertEquals(List.of(28, 28, 1), List.of(m.height(), m.width(), m.channels()));
      assertEquals("Ankle boot", m.className(9));
    }
  }

  static String[] runCli(String... args) {
    PrintStream old = System.out;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    StringWriter err = new StringWriter();
    int code;
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      var cl = Main.commandLine();
      cl.setErr(new PrintWriter(err, true));
      code = cl.execute(args);
    } finally {
      System.setOut(old);
    }
    return new String[] {String.valueOf(code), out.toString(StandardCharsets.UTF_8),
        err.toString()};
  }

  @Test
  void cliPrintsTopKAsTextAndJson() throws Exception {
    String[] text = runCli("predict", "--model", run.toString(), "--top", "3",
        greyPng.toString(), rgbPng.toString());
    assertEquals("0", text[0], text[2]);
    List<String> lines = text[1].lines().toList();
    assertEquals(6, lines.size(), text[1]);
    for (int i = 0; i < 6; i++) {
      Path file = i < 3 ? greyPng : rgbPng;
      assertTrue(lines.get(i).startsWith(file + "  "), lines.get(i));
      String rest = lines.get(i).substring(file.toString().length() + 2);
      int cut = rest.lastIndexOf("  ");
      assertTrue(FashionMnist.CLASS_NAMES.contains(rest.substring(0, cut)), lines.get(i));
      double p = Double.parseDouble(rest.substring(cut + 2));
      assertTrue(p >= 0 && p <= 1, lines.get(i));
    }

    String[] json = runCli("predict", "--model", run.resolve("savedmodel").toString(), "--json",
        "--top", "2", greyPng.toString());
    assertEquals("0", json[0], json[2]);
    JsonNode arr = Json.MAPPER.readTree(json[1]);
    assertEquals(1, arr.size());
    assertEquals(greyPng.toString(), arr.get(0).path("file").asText());
    JsonNode preds = arr.get(0).path("predictions");
    assertEquals(2, preds.size());
    int k = preds.get(0).path("index").asInt();
    assertEquals(FashionMnist.CLASS_NAMES.get(k), preds.get(0).path("class").asText());
    assertTrue(preds.get(0).path("probability").asDouble()
        >= preds.get(1).path("probability").asDouble());
  }

  @Test
  void clearErrors() throws Exception {
    Path text = Files.writeString(tmp.resolve("readme.png"), "hello");
    Path missing = tmp.resolve("nope.jpg");
    String[] r = runCli("predict", "--model", run.toString(), greyPng.toString(),
        text.toString(), missing.toString());
    assertEquals("2", r[0], r[1] + r[2]);
    assertTrue(r[2].contains(text.toString()) && r[2].contains(missing.toString())
        && r[2].contains("2 unreadable image files"), r[2]);
    assertEquals("", r[1]);

    // A pretraining export has no classifier.
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Predict.run(new Predict.Options(ExportTestRuns.pretrainRun(), List.of(greyPng), 1,
            8)));
    assertTrue(e.getMessage().contains("probabilities") && e.getMessage().contains("pretraining"),
        e.getMessage());
    // A run directory without an export, and not a model at all.
    Path noExport = Files.createDirectories(tmp.resolve("run-without-export"));
    Files.writeString(noExport.resolve("config.json"), "{}");
    e = assertThrows(IllegalArgumentException.class,
        () -> Predict.run(new Predict.Options(noExport, List.of(greyPng), 1, 8)));
    assertTrue(e.getMessage().contains("selfie export --run"), e.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> new Predict.Options(run, List.of(greyPng), 0, 8));
  }
}
