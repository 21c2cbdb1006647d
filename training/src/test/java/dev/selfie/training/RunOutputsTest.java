package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.loop.GracefulStop;
import dev.selfie.training.loop.Listeners;
import dev.selfie.training.loop.Progress;
import dev.selfie.training.loop.StepResult;
import dev.selfie.training.loop.TrainingLoop;
import dev.selfie.training.run.Logs;
import dev.selfie.training.run.RunDir;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The run outputs that explain a run, without TensorFlow: the metrics history
 * ({@code metrics.jsonl}) and how a resume continues it, progress lines with a validation
 * accuracy, the loop's stop at a step boundary, the train.log tee, and the --eval-every check.
 */
class RunOutputsTest {

  static StepResult step(long s) {
    return new StepResult(s, 1.0 / s, Map.of("learning_rate", 0.1 * s), 100 + s);
  }

  static List<Long> steps(Path file) {
    return Listeners.History.read(file).stream().map(n -> n.get("step").asLong()).toList();
  }

  @Test
  void historyHasALinePerLoggedStepAndAResumeNeverDuplicatesOne(@TempDir Path tmp)
      throws Exception {
    Path file = tmp.resolve("metrics.jsonl");
    // A first process: steps 1..7 of 10, lines every 2 steps and at the evaluated step 3.
    Listeners.History h = new Listeners.History(file, 2);
    h.onStart(0, 10);
    for (long s = 1; s <= 7; s++) {
      StepResult r = step(s);
      h.onStep(s == 3 ? new StepResult(s, r.loss(), r.metrics(), r.imagesPerSecond(),
          Map.of("validation_accuracy", 0.5)) : r);
    }
    h.close();
    assertEquals(List.of(2L, 3L, 4L, 6L), steps(file));
    JsonNode three = Listeners.History.read(file).get(1);
    assertEquals(0.5, three.get("validation_accuracy").asDouble());
    assertEquals(1.0 / 3, three.get("loss").asDouble(), 1e-15);
    assertEquals(0.3, three.get("learning_rate").asDouble(), 1e-15);
    assertEquals(103, three.get("images_per_second").asDouble());
    assertTrue(three.has("time"));
    assertFalse(Listeners.History.read(file).get(0).has("validation_accuracy"));
    // ... then killed while writing a line (a partial last line), its newest checkpoint at 4.
    Files.writeString(file, "{\"step\":8,\"lo", StandardOpenOption.APPEND);

    // The resume from step 4 drops the lines after 4 (and the partial one), then appends.
    Listeners.History resumed = new Listeners.History(file, 2);
    resumed.onStart(4, 10);
    for (long s = 5; s <= 10; s++) {
      resumed.onStep(step(s));
    }
    resumed.close();
    assertEquals(List.of(2L, 3L, 4L, 6L, 8L, 10L), steps(file));

    // A stopped run writes the step it saved even when it is not a logged one.
    Listeners.History stopped = new Listeners.History(tmp.resolve("stopped.jsonl"), 4);
    stopped.onStart(0, 10);
    for (long s = 1; s <= 5; s++) {
      stopped.onStep(step(s));
    }
    stopped.onStop(step(5));
    stopped.close();
    assertEquals(List.of(4L, 5L), steps(tmp.resolve("stopped.jsonl")));
  }

  @Test
  void progressLinesShowTheValidationAccuracyFromTheEvaluatedStepOn() {
    List<String> out = new ArrayList<>();
    try (Progress p = new Progress.LogLines("finetune", 0, 8, 4, out::add)) {
      for (int s = 1; s <= 8; s++) {
        if (s == 3) {
          p.evaluated(s, Map.of("validation_accuracy", 0.8125));
        }
        p.update(s, 1.0 / s, 250);
      }
    }
    String[] lines = out.toArray(new String[0]);
    assertEquals(3, lines.length, String.join("|", lines));
    assertTrue(lines[0].startsWith("finetune step 3/8 (37.5%) loss 0.3333 250 img/s"
        + " val acc 81.25% eta "), lines[0]);
    assertTrue(lines[1].startsWith("finetune step 4/8 (50.0%) loss 0.2500 250 img/s"
        + " val acc 81.25% eta "), lines[1]);
    assertTrue(lines[2].startsWith("finetune step 8/8"), lines[2]);
  }

  @Test
  void aStopRequestEndsTheLoopAtAStepBoundaryAfterOnStop() {
    List<String> calls = new ArrayList<>();
    GracefulStop stop = GracefulStop.manual();
    TrainingLoop.Listener spy = new TrainingLoop.Listener() {
      @Override
      public void onStep(StepResult r) {
        calls.add("step " + r.step());
        if (r.step() == 3) {
          stop.request(); // as the shutdown hook does, here during step 3's listeners
        }
      }

      @Override
      public void onEnd(StepResult last) {
        calls.add("end");
      }

      @Override
      public void onStop(StepResult last) {
        calls.add("stop " + last.step());
      }

      @Override
      public void close() {
        calls.add("close");
      }
    };
    TrainingLoop.Stopped e = assertThrows(TrainingLoop.Stopped.class,
        () -> TrainingLoop.run(0, 10, RunOutputsTest::step1, List.of(spy), stop::requested));
    assertEquals(3, e.step());
    assertEquals(List.of("step 1", "step 2", "step 3", "stop 3", "close"), calls);
  }

  static StepResult step1(long before) {
    return step(before + 1);
  }

  @Test
  void aRunsLogEventsGoToItsTrainLogAndAppend(@TempDir Path tmp) throws Exception {
    RunDir dir = RunDir.create(tmp.resolve("run"));
    RunDir inner = RunDir.create(tmp.resolve("inner"));
    org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger("test");
    try (LogCapture console = new LogCapture()) {
      try (Logs.RunScope scope = Logs.openRun(dir, "./selfie pretrain --out run")) {
        log.info("first process");
        log.info("loss {}", String.format("%.2f", 0.5));
        log.info(Logs.FILE_ONLY, "file only");
        try (Logs.RunScope nested = Logs.openRun(inner, null)) {
          log.info("in the inner run");
        }
        // Another thread logs into the run once it adopts the run's context.
        var context = Logs.context();
        Thread t = new Thread(() -> {
          Logs.adopt(context);
          log.info("from another thread");
        });
        t.start();
        t.join();
      }
      try (Logs.RunScope scope = Logs.openRun(dir, null)) {
        log.info("resumed process");
      }
      log.info("outside any run");
      assertEquals("first process\nloss 0.50\nin the inner run\nfrom another thread\n"
          + "resumed process\noutside any run\n", console.console());
    }
    List<String> lines = List.of(readString(dir.trainLog()).split("\n"));
    assertEquals(9, lines.size(), lines.toString());
    assertTrue(lines.get(0).startsWith("==== ") && lines.get(0).endsWith(" ./selfie pretrain --out run"),
        lines.get(0));
    assertEquals(List.of("first process", "loss 0.50", "file only", "from another thread"),
        lines.subList(1, 5));
    assertTrue(lines.get(5).startsWith("---- ") && lines.get(5).endsWith(" end"), lines.get(5));
    assertTrue(lines.get(6).startsWith("==== "), lines.get(6));
    assertEquals("resumed process", lines.get(7));
    assertTrue(lines.get(8).startsWith("---- ") && lines.get(8).endsWith(" end"), lines.get(8));
    List<String> innerLines = List.of(readString(inner.trainLog()).split("\n"));
    assertEquals("in the inner run", innerLines.get(1), innerLines.toString());
  }

  static String readString(Path p) {
    try {
      return Files.readString(p);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Test
  void evalEveryNeedsAValidationSplitAndIsNeverNegative(@TempDir Path tmp) {
    Finetune.Options o = PretrainFixtures.finetune(tmp, tmp.resolve("run"), null, 0.1, 10, 8,
        0.1, 0);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> o.withEvalEvery(5));
    assertTrue(e.getMessage().contains("--eval-every 5") && e.getMessage().contains("--validation"),
        e.getMessage());
    Finetune.Options v = o.withRecipe(Finetune.Recipe.defaults().withValidation(20, true));
    e = assertThrows(IllegalArgumentException.class, () -> v.withEvalEvery(-2));
    assertTrue(e.getMessage().startsWith("--eval-every must be >= 0"), e.getMessage());
    assertEquals(Finetune.Options.DEFAULT_EVAL_EVERY, v.evalEvery(true), "default with --validation");
    assertEquals(0, o.evalEvery(false), "default without");
    assertEquals(7, v.withEvalEvery(7).evalEvery(true));
    assertEquals(0, v.withEvalEvery(0).evalEvery(true));
  }

  @Test
  void resumeCommandAddsResumeOnceAndQuotes() {
    GracefulStop.setCommand(new String[] {"pretrain", "--out", "runs/a b", "--steps", "10"});
    assertEquals("./selfie pretrain --out 'runs/a b' --steps 10 --resume",
        GracefulStop.resumeCommand());
    GracefulStop.setCommand(new String[] {"finetune", "--resume", "--out", "r"});
    assertEquals("./selfie finetune --resume --out r", GracefulStop.resumeCommand());
    // experiment and quickstart have no --resume: rerunning them continues their runs.
    GracefulStop.setCommand(new String[] {"experiment", "--out", "e", "--seeds", "2"});
    assertEquals("./selfie experiment --out e --seeds 2", GracefulStop.resumeCommand());
  }
}
