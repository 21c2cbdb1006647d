package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.loop.EventFiles;
import dev.selfie.training.loop.Listeners;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --eval-every}: a finetuning run evaluating its validation split every 2 steps reports it
 * (progress line, TensorBoard, metrics.jsonl) and trains exactly as the same run without it:
 * every tensor of the final checkpoint, the losses and the accuracies are bit-identical.
 */
class EvalEveryTest {

  static final int STEPS = 6;

  @Test
  void evaluatingDuringTrainingLeavesTheTrainingUnchanged(@TempDir Path tmp) throws Exception {
    PretrainFixtures.assumeFashionMnist("EvalEveryTest");
    Path home = PretrainFixtures.writeCifarFromFashionMnist(tmp.resolve("data"), 600, 100);
    Finetune.Recipe recipe = Finetune.Recipe.defaults().withValidation(60, true);
    Path plain = tmp.resolve("plain");
    Path evaluated = tmp.resolve("evaluated");
    Finetune.Result a = Finetune.run(PretrainFixtures.finetune(home, plain, null, 0.2, STEPS, 16,
        0.05, 1e-4).withRecipe(recipe).withEvalEvery(0));
    LogCapture console = new LogCapture();
    Finetune.Result b = Finetune.run(PretrainFixtures.finetune(home, evaluated, null, 0.2, STEPS,
        16, 0.05, 1e-4).withRecipe(recipe).withEvalEvery(2));

    // The same training: every tensor of the final checkpoint, the loss and the accuracies.
    Map<String, double[]> wa = PretrainFixtures.readCheckpoint(
        PretrainFixtures.checkpoint(plain, STEPS));
    Map<String, double[]> wb = PretrainFixtures.readCheckpoint(
        PretrainFixtures.checkpoint(evaluated, STEPS));
    assertEquals(wa.keySet(), wb.keySet());
    List<String> differ = new ArrayList<>();
    for (String n : wa.keySet()) {
      if (PretrainFixtures.maxAbsDiff(wa.get(n), wb.get(n)) != 0) {
        differ.add(n);
      }
    }
    assertTrue(differ.isEmpty(), "evaluation changed the training: " + differ);
    assertEquals(a.finalLoss(), b.finalLoss(), 0.0);
    assertEquals(a.trainAccuracy(), b.trainAccuracy(), 0.0);
    assertEquals(a.validationAccuracy(), b.validationAccuracy(), 0.0);
    assertEquals(a.testAccuracy(), b.testAccuracy(), 0.0);

    // Reported: metrics.jsonl lines at the evaluated steps 2, 4, 6 with validation_accuracy.
    List<JsonNode> hb = Listeners.History.read(evaluated.resolve("metrics.jsonl"));
    assertEquals(List.of(2L, 4L, 6L), hb.stream().map(n -> n.get("step").asLong()).toList());
    for (JsonNode n : hb) {
      double v = n.get("validation_accuracy").asDouble(-1);
      assertTrue(v >= 0 && v <= 1, n.toString());
      assertTrue(n.has("loss") && n.has("train_accuracy") && n.has("learning_rate")
          && n.has("images_per_second"), n.toString());
    }
    // The step-6 evaluation is the final one, and the plain run logged step 6 alone, same loss.
    assertEquals(b.validationAccuracy(), hb.get(2).get("validation_accuracy").asDouble(), 1e-12);
    List<JsonNode> ha = Listeners.History.read(plain.resolve("metrics.jsonl"));
    assertEquals(1, ha.size());
    assertFalse(ha.get(0).has("validation_accuracy"));
    assertEquals(ha.get(0).get("loss").asDouble(), hb.get(2).get("loss").asDouble(), 0.0);

    // TensorBoard: validation_accuracy at steps 2 and 4 during training, and at the end.
    List<Long> tb = EventFiles.scalars(evaluated.resolve("tensorboard")).stream()
        .filter(s -> s.tag().equals("validation_accuracy")).map(EventFiles.Scalar::step)
        .distinct().sorted().toList();
    assertEquals(List.of(2L, 4L, 6L), tb);

    // The progress lines show it, and train.log holds what the console got.
    String out = console.consoleAndClose();
    assertTrue(out.contains("finetune step 2/6 (33.3%) loss "), out);
    assertTrue(out.lines().filter(l -> l.startsWith("finetune step ")).allMatch(
        l -> l.contains(" val acc ")), out);
    String log = Files.readString(evaluated.resolve("train.log"));
    assertTrue(log.startsWith("==== "), log);
    assertTrue(log.contains(out.strip()), "train.log:\n" + log + "\nconsole:\n" + out);
  }
}
