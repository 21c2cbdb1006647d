package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.selfie.data.Datasets;
import dev.selfie.data.LabelFractions;
import dev.selfie.data.LabelManifest;
import dev.selfie.data.Split;
import dev.selfie.savedmodels.CheckpointIndex;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.jobs.PretrainedRun;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.MetricsWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Finetuning from a short tiny pretraining run: exactly the stem + stages 1-3 variables come from
 * the pretraining checkpoint (values included), stage 4, its final BN and the classifier start
 * fresh (identical to the baseline's initial values: same seed); the baseline restores nothing;
 * incompatible pretrained weights are a clear error; the test accuracy counts the whole test split.
 *
 * <p>To check values after a run, the finetuning runs use a learning rate of 1e-30 and no weight
 * decay: the weights stay at their initial values (to float precision); only the BN moving
 * statistics move (training-mode batches), so those are left out of the value comparison.
 */
class FinetuneTransferTest {

  static final int TEST_SIZE = 250; // not a multiple of the eval batch (64): the last batch is partial

  @TempDir static Path tmp;
  static Path home;
  static Path pretrained;

  @BeforeAll
  static void pretrainShortly() throws Exception {
    PretrainFixtures.assumeFashionMnist("FinetuneTransferTest");
    home = PretrainFixtures.writeCifarFromFashionMnist(tmp.resolve("data"), 600, TEST_SIZE);
    pretrained = tmp.resolve("pretrain-tiny");
    Pretrain.run(PretrainFixtures.pretrain(home, "tiny", pretrained, 20, 16));
  }

  static boolean trunk(String name) {
    return Stream.of("resnet/stem/", "resnet/stage1/", "resnet/stage2/", "resnet/stage3/")
        .anyMatch(name::startsWith);
  }

  static boolean movingStatistic(String name) {
    return name.endsWith("/moving_mean") || name.endsWith("/moving_variance");
  }

  @Test
  void pretrainedRunRestoresExactlyTheTrunkAndBaselineNothing() throws Exception {
    Path ft = tmp.resolve("finetune-pretrained");
    Path base = tmp.resolve("finetune-baseline");
    Finetune.Result r = Finetune.run(
        PretrainFixtures.finetune(home, ft, pretrained, 0.2, 2, 16, 1e-30, 0));
    Finetune.Result b = Finetune.run(
        PretrainFixtures.finetune(home, base, null, 0.2, 2, 16, 1e-30, 0));

    // Which names: every stem/stage1-3 weight of the pretraining checkpoint (not its optimizer
    // slots, not attention/position/stage3_final_bn), and nothing else.
    Path source = PretrainFixtures.checkpoint(pretrained, 20);
    List<String> expected = CheckpointIndex.read(source).keySet().stream()
        .filter(FinetuneTransferTest::trunk)
        .filter(n -> !n.endsWith("/momentum"))
        .sorted().toList();
    assertFalse(expected.isEmpty());
    assertEquals(expected, r.restored(), "restored variables");
    assertFalse(r.fresh().isEmpty());
    for (String n : r.fresh()) {
      assertTrue(n.startsWith("resnet/stage4/") || n.startsWith("resnet/stage4_final_bn/")
          || n.startsWith("classifier/"), "fresh variable " + n);
    }
    for (String group : List.of("resnet/stage4/", "resnet/stage4_final_bn/", "classifier/")) {
      assertTrue(r.fresh().stream().anyMatch(n -> n.startsWith(group)), group + " starts fresh");
    }
    JsonNode transfer = Json.MAPPER.readTree(ft.resolve("transfer.json").toFile());
    assertEquals(r.restored(), strings(transfer.get("restored")), "transfer.json restored");
    assertEquals(r.fresh(), strings(transfer.get("fresh")), "transfer.json fresh");
    assertTrue(Path.of(transfer.get("source").asText()).startsWith(pretrained),
        "transfer.json source " + transfer.get("source"));

    // Baseline: nothing restored, everything fresh, no transfer.json.
    assertEquals(List.of(), b.restored());
    assertTrue(b.fresh().containsAll(expected) && b.fresh().containsAll(r.fresh()),
        "baseline: every variable starts fresh: " + b.fresh());
    assertFalse(Files.exists(base.resolve("transfer.json")));

    // Values: restored weights are the pretraining checkpoint's; fresh ones equal the
    // baseline's initial values; the baseline's trunk is not the pretrained one.
    Map<String, double[]> pre = PretrainFixtures.readCheckpoint(source);
    Map<String, double[]> fine = PretrainFixtures.readCheckpoint(PretrainFixtures.checkpoint(ft, 2));
    Map<String, double[]> baseline =
        PretrainFixtures.readCheckpoint(PretrainFixtures.checkpoint(base, 2));
    List<String> wrong = new ArrayList<>();
    int compared = 0;
    for (String n : expected) {
      if (!movingStatistic(n)) {
        compared++;
        if (PretrainFixtures.maxAbsDiff(pre.get(n), fine.get(n)) > 1e-6) {
          wrong.add(n);
        }
      }
    }
    assertTrue(compared > 10);
    assertTrue(wrong.isEmpty(), "not the pretrained values: " + wrong);
    for (String n : r.fresh().stream().filter(n -> !movingStatistic(n)).toList()) {
      assertEquals(0, PretrainFixtures.maxAbsDiff(baseline.get(n), fine.get(n)), 1e-6,
          n + " must start from the same initial value as in the baseline");
    }
    long differs = expected.stream().filter(n -> n.endsWith("/kernel"))
        .filter(n -> PretrainFixtures.maxAbsDiff(pre.get(n), baseline.get(n)) > 1e-4).count();
    assertEquals(expected.stream().filter(n -> n.endsWith("/kernel")).count(), differs,
        "every baseline trunk kernel differs from the pretrained one");

    // Evaluation covers the whole test split (250 = 3 full batches of 64 + 58).
    int testSize = Datasets.open("cifar10", home).size(Split.TEST);
    assertEquals(TEST_SIZE, testSize);
    assertEquals(testSize, r.testExamples());
    assertEquals(testSize, b.testExamples());
    MetricsWriter.Metrics m = MetricsWriter.read(ft.resolve("metrics.json"));
    assertEquals(testSize, m.metrics().get("test_examples"), 0);
    assertEquals(r.testAccuracy(), m.metrics().get("test_accuracy"), 1e-12);
    assertTrue(r.testAccuracy() >= 0 && r.testAccuracy() <= 1);
    assertEquals(r.labeledExamples(), b.labeledExamples(), "same label manifest size");
    assertEquals(120, r.labeledExamples(), "20% of 600, class-balanced");
  }

  /**
   * Tuning mode: a validation split held out of the training set (disjoint from the labels,
   * recorded in validation.json), validation accuracy reported, the test set not read; the
   * pretrained layers frozen for the whole run (--head-steps = steps) keep their pretrained
   * values while the head trains.
   */
  @Test
  void validationSplitNoTestAndHeadFirstFreezeThePretrainedLayers() throws Exception {
    Path ft = tmp.resolve("finetune-validation");
    Finetune.Recipe recipe = Finetune.Recipe.defaults().withValidation(100, false)
        .withHeadSteps(3);
    Finetune.Result r = Finetune.run(PretrainFixtures.finetune(home, ft, pretrained, 0.2, 3, 16,
        0.05, 1e-4).withRecipe(recipe));
    LabelManifest val = LabelManifest.read(ft.resolve("validation.json"));
    LabelManifest labels = LabelManifest.read(ft.resolve("labels.json"));
    assertEquals(100, val.indices().length);
    int[] perClass = LabelFractions.countsPerClass(
        Datasets.open("cifar10", home).labels(Split.TRAIN), val.indices(), 10);
    for (int k = 0; k < 10; k++) { // 600 images, not exactly 60 per class: about 10 each
      assertTrue(perClass[k] >= 8 && perClass[k] <= 12, "class " + k + ": " + perClass[k]);
    }
    assertTrue(labels.disjointFrom(val), "labels drawn from the held-out split");
    assertEquals(120, labels.indices().length, "20% of each whole class, as without validation");
    assertTrue(r.validationAccuracy() >= 0 && r.validationAccuracy() <= 1);
    MetricsWriter.Metrics m = MetricsWriter.read(ft.resolve("metrics.json"));
    assertEquals(100, m.metrics().get("validation_examples"), 0);
    assertEquals(r.validationAccuracy(), m.metrics().get("validation_accuracy"), 1e-12);
    assertFalse(m.metrics().containsKey("test_accuracy"), "--no-test must not read the test set");
    Finetune.Config cfg = Json.read(ft.resolve("config.json"), Finetune.Config.class);
    assertEquals(recipe, cfg.recipe());

    Map<String, double[]> pre =
        PretrainFixtures.readCheckpoint(PretrainFixtures.checkpoint(pretrained, 20));
    Map<String, double[]> fine = PretrainFixtures.readCheckpoint(PretrainFixtures.checkpoint(ft, 3));
    int frozen = 0;
    for (String n : r.restored()) {
      if (!movingStatistic(n)) {
        frozen++;
        assertEquals(0, PretrainFixtures.maxAbsDiff(pre.get(n), fine.get(n)), 0.0,
            n + " moved during the head-first phase");
      }
    }
    assertTrue(frozen > 10);

    // The same run without the head-first phase trains the pretrained layers.
    Path all = tmp.resolve("finetune-validation-all");
    Finetune.Result a = Finetune.run(PretrainFixtures.finetune(home, all, pretrained, 0.2, 3, 16,
        0.05, 1e-4).withRecipe(recipe.withHeadSteps(0).withPretrainedLrScale(0.5)));
    Map<String, double[]> allW = PretrainFixtures.readCheckpoint(PretrainFixtures.checkpoint(all, 3));
    long changed = a.restored().stream().filter(n -> n.endsWith("/kernel"))
        .filter(n -> PretrainFixtures.maxAbsDiff(pre.get(n), allW.get(n)) > 0).count();
    assertEquals(a.restored().stream().filter(n -> n.endsWith("/kernel")).count(), changed);

    // --no-test without a validation split is refused before anything is written.
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Finetune.Recipe.defaults().withValidation(0, false));
    assertTrue(e.getMessage().contains("--no-test"), e.getMessage());
  }

  /** --pretrained RUN/checkpoints/ckpt-N finetunes from that checkpoint (config from RUN). */
  @Test
  void finetunesFromOneCheckpointOfARun() throws Exception {
    Path ckpt = pretrained.resolve("checkpoints").resolve("ckpt-20");
    assertTrue(PretrainedRun.isCheckpointDir(ckpt));
    assertFalse(PretrainedRun.isCheckpointDir(pretrained));
    assertEquals(PretrainedRun.config(pretrained), PretrainedRun.config(ckpt));
    assertEquals(ckpt.resolve("model"), PretrainedRun.weights(ckpt));
    Path ft = tmp.resolve("finetune-from-ckpt");
    Finetune.Result r = Finetune.run(
        PretrainFixtures.finetune(home, ft, ckpt, 0.2, 1, 16, 1e-30, 0));
    assertFalse(r.restored().isEmpty());
    JsonNode transfer = Json.MAPPER.readTree(ft.resolve("transfer.json").toFile());
    assertEquals(ckpt.resolve("model").toString(), transfer.get("source").asText());
  }

  @Test
  void anUnfinishedPretrainingRunIsReported() throws Exception {
    LogCapture bytes = new LogCapture();
    PretrainedRun.warnIfUnfinished(pretrained);
    assertEquals("", bytes.console(), "a finished run is not reported");

    // The same run, configured for 40 steps: its newest checkpoint (20) is not the last step.
    Path unfinished = tmp.resolve("pretrain-unfinished");
    Files.createDirectories(unfinished.resolve("checkpoints"));
    try (Stream<Path> files = Files.walk(pretrained.resolve("checkpoints"))) {
      for (Path f : files.toList()) {
        Path to = unfinished.resolve(pretrained.relativize(f).toString());
        if (Files.isDirectory(f)) {
          Files.createDirectories(to);
        } else {
          Files.copy(f, to);
        }
      }
    }
    com.fasterxml.jackson.databind.node.ObjectNode cfg = (com.fasterxml.jackson.databind.node.ObjectNode)
        Json.MAPPER.readTree(pretrained.resolve("config.json").toFile());
    cfg.put("steps", 40);
    Json.MAPPER.writeValue(unfinished.resolve("config.json").toFile(), cfg);
    PretrainedRun.warnIfUnfinished(unfinished);
    assertTrue(bytes.console().contains("unfinished (newest checkpoint at step 20 of 40)"),
        bytes.console());
  }

  @Test
  void weightsOfAnotherPresetAreAClearError() throws Exception {
    // A run directory whose config says tiny but whose checkpoint holds small-preset weights
    // (e.g. checkpoints copied from a run of another preset).
    Path small = tmp.resolve("pretrain-small");
    Pretrain.run(PretrainFixtures.pretrain(home, "small", small, 1, 4));
    Path mixed = tmp.resolve("pretrain-mixed");
    Files.createDirectories(mixed.resolve("checkpoints").resolve("ckpt-1"));
    Files.copy(pretrained.resolve("config.json"), mixed.resolve("config.json"));
    try (Stream<Path> files = Files.list(small.resolve("checkpoints").resolve("ckpt-1"))) {
      for (Path f : files.toList()) {
        Files.copy(f, mixed.resolve("checkpoints").resolve("ckpt-1").resolve(f.getFileName()));
      }
    }
    Path out = tmp.resolve("finetune-mixed");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Finetune.run(
        PretrainFixtures.finetune(home, out, mixed, 0.2, 2, 16, 0.01, 0)));
    String msg = e.getMessage();
    System.out.println("FinetuneTransferTest (other preset): "
        + (msg.length() > 300 ? msg.substring(0, 300) + "..." : msg));
    // Names each variable with both shapes, e.g. the stem kernel (small: 16 filters, tiny: 8).
    assertTrue(e.getMessage().contains("resnet/stem/conv/kernel")
        && e.getMessage().contains("[3, 3, 3, 16]") && e.getMessage().contains("[3, 3, 3, 8]"),
        e.getMessage());
    assertTrue(e.getMessage().contains(mixed.toString()), "names the source: " + e.getMessage());
    assertFalse(Files.exists(out.resolve("metrics.json")), "no training after the error");
  }

  @Test
  void pretrainingOnImagesOfAnotherShapeIsAClearError() throws Exception {
    // Fashion-MNIST is 1-channel; the CIFAR-format set is RGB: the stem kernels cannot transfer.
    Path grey = tmp.resolve("pretrain-fashion-mnist");
    Pretrain.Options o = PretrainFixtures.pretrain(home, "tiny", grey, 1, 4);
    Pretrain.run(o.withData(o.data().withDataset("fashion-mnist").withDataDir(null)));
    Path out = tmp.resolve("finetune-grey");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Finetune.run(
        PretrainFixtures.finetune(home, out, grey, 0.2, 2, 16, 0.01, 0)));
    System.out.println("FinetuneTransferTest (other image shape): " + e.getMessage());
    assertTrue(e.getMessage().contains("--pretrained") && e.getMessage().contains("32x32x1")
        && e.getMessage().contains("32x32x3"), e.getMessage());
  }

  private static List<String> strings(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asText()));
    return out;
  }
}
