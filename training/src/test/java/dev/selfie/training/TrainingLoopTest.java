package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.loop.Listeners;
import dev.selfie.training.loop.NonFiniteLossException;
import dev.selfie.training.loop.Progress;
import dev.selfie.training.loop.StepResult;
import dev.selfie.training.loop.TrainingLoop;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.optim.Schedules;
import dev.selfie.training.run.CheckpointManager;
import dev.selfie.training.run.MetricsWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

class TrainingLoopTest {
  @TempDir Path tmp;

  /** TinyModel whose loss is multiplied by a fed scale (NaN injects a non-finite loss). */
  private static final class Run implements AutoCloseable {
    final Graph g = new Graph();
    final TinyModel m = new TinyModel(g);
    final Placeholder<TFloat32> scale = m.tf.placeholder(TFloat32.class);
    final org.tensorflow.Operand<TFloat32> loss = m.tf.math.mul(m.loss, scale);
    final GlobalStep step = GlobalStep.create(m.tf);
    final Optimizers.TrainOp op = Optimizers.minimize(
        m.tf, g, loss, m.vars, OptimizerConfig.sgd(0.1, 1, 20), step);
    final Session s = new Session(g);

    Run() {
      s.initialize();
    }

    TrainingLoop.Step step(long nanAtStep) {
      return t -> {
        float sc = t + 1 == nanAtStep ? Float.NaN : 1f;
        try (TFloat32 scT = TFloat32.scalarOf(sc);
            Result r = s.runner().feed(scale, scT).fetch(loss).fetch(op.learningRate())
                .addTarget(op.trainOp()).run()) {
          return new StepResult(t + 1, ((TFloat32) r.get(0)).getFloat(),
              Map.of("lr", (double) ((TFloat32) r.get(1)).getFloat()), 4.0 * 1000);
        }
      };
    }

    @Override
    public void close() {
      s.close();
      g.close();
    }
  }

  @Test
  void nanGuardStopsAtTheStepAndLeavesThePreviousCheckpoint() {
    CheckpointManager cm = new CheckpointManager(tmp.resolve("checkpoints"), 3);
    List<Long> seen = new ArrayList<>();
    boolean[] closed = {false};
    TrainingLoop.Listener spy = new TrainingLoop.Listener() {
      @Override
      public void onStep(StepResult r) {
        seen.add(r.step());
      }

      @Override
      public void close() {
        closed[0] = true;
      }
    };
    Path metrics = tmp.resolve("metrics.json");
    try (Run run = new Run()) {
      var ckpts = new Listeners.Checkpoints(cm, run.s, 5,
          st -> new CheckpointManager.RunState(1, st * 4, Map.of()));
      NonFiniteLossException e = assertThrows(NonFiniteLossException.class,
          () -> TrainingLoop.run(0, 20, run.step(7),
              List.of(spy, ckpts, new Listeners.Metrics(metrics, 3))));
      assertEquals(7, e.step());
      assertTrue(Double.isNaN(e.loss()));
      assertTrue(e.getMessage().contains("at step 7"), e.getMessage());
      assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L), seen);
      assertTrue(closed[0]);
      assertEquals(5, ckpts.lastSaved().step());
      assertEquals(5, cm.latest().orElseThrow().step());
      assertEquals(List.of(5L), cm.all().stream().map(CheckpointManager.Checkpoint::step).toList());
      assertFalse(Files.exists(metrics));
      // The weights in the session are NaN now; the checkpoint's are finite.
      assertTrue(Float.isNaN(TestTensors.read(run.s, run.m.vars.get("dense/kernel").value())[0]));
      CheckpointManager.restore(run.s, cm.latest().orElseThrow());
      for (float w : TestTensors.read(run.s, run.m.vars.get("dense/kernel").value())) {
        assertTrue(Float.isFinite(w));
      }
      assertEquals(5, run.step.read(run.s));
    }
  }

  @Test
  void completedRunCallsListenersSavesAtIntervalsAndEndWritesMetrics() {
    CheckpointManager cm = new CheckpointManager(tmp.resolve("checkpoints"), 5);
    List<String> calls = new ArrayList<>();
    TrainingLoop.Listener spy = new TrainingLoop.Listener() {
      @Override
      public void onStart(long a, long b) {
        calls.add("start " + a + " " + b);
      }

      @Override
      public void onStep(StepResult r) {
        calls.add("step " + r.step());
      }

      @Override
      public void onEnd(StepResult last) {
        calls.add("end " + last.step());
      }

      @Override
      public void close() {
        calls.add("close");
      }
    };
    List<String> progressLines = new ArrayList<>();
    Path metricsFile = tmp.resolve("metrics.json");
    try (Run run = new Run()) {
      var metrics = new Listeners.Metrics(metricsFile, 2);
      StepResult last = TrainingLoop.run(2, 6, run.step(-1), List.of(
          spy,
          Listeners.progress(new Progress.LogLines("pretrain", 2, 6, 2, progressLines::add)),
          new Listeners.Checkpoints(cm, run.s, 4,
              st -> new CheckpointManager.RunState(7, st, Map.of("k", 1))),
          metrics));
      assertEquals(6, last.step());
      assertEquals(List.of("start 2 6", "step 3", "step 4", "step 5", "step 6", "end 6", "close"),
          calls);
      assertEquals(List.of(4L, 6L), cm.all().stream().map(CheckpointManager.Checkpoint::step)
          .toList());
      MetricsWriter.Metrics written = MetricsWriter.read(metricsFile);
      assertEquals(metrics.result(), written);
      assertEquals(6, written.steps());
      assertEquals(4, written.stepsRun());
      assertEquals(last.loss(), written.finalLoss(), 1e-9);
      assertEquals(4000.0, written.imagesPerSecond(), 1e-9);
      // The graph's own step started at 0 (the loop's range is 2..6): its steps 2 and 3 are last.
      assertEquals((Schedules.warmupCosine(2, 0.1, 1, 20) + Schedules.warmupCosine(3, 0.1, 1, 20))
          / 2, written.metrics().get("lr"), 1e-6);
    }
    String[] lines = progressLines.toArray(new String[0]);
    assertEquals(2, lines.length, String.join("|", lines));
    assertTrue(lines[0].startsWith("pretrain step 4/6 (66.7%) loss "), lines[0]);
    assertTrue(lines[1].startsWith("pretrain step 6/6 (100.0%)"), lines[1]);
  }

  @Test
  void whatIsMeasuredAtTheEndGoesIntoTheOneMetricsFileAfterTheStepMetrics() throws Exception {
    Path metricsFile = tmp.resolve("metrics-at-end.json");
    List<Long> measuredAfter = new ArrayList<>();
    try (Run run = new Run()) {
      var metrics = new Listeners.Metrics(metricsFile, 2, "float32", () -> {
        // Measured once, after the last step, before the file exists.
        measuredAfter.add((long) measuredAfter.size());
        assertFalse(Files.exists(metricsFile), "metrics.json written before the end's figures");
        Map<String, Double> m = new java.util.LinkedHashMap<>();
        m.put("test_accuracy", 0.75);
        m.put("test_examples", 20.0);
        return m;
      });
      TrainingLoop.run(0, 3, run.step(-1), List.of(metrics));
      MetricsWriter.Metrics written = MetricsWriter.read(metricsFile);
      assertEquals(List.of(0L), measuredAfter);
      assertEquals(List.of("lr", "test_accuracy", "test_examples"),
          List.copyOf(written.metrics().keySet()));
      assertEquals(0.75, written.metrics().get("test_accuracy"));
      assertEquals("float32", written.precision());
    }
  }

  @Test
  void rejectsBadRange() {
    assertThrows(IllegalArgumentException.class,
        () -> TrainingLoop.run(5, 4, t -> null, List.of()));
  }
}
