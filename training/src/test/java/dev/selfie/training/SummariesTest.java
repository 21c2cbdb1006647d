package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.loop.EventFiles;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.loop.Summaries;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.optim.Schedules;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.types.TInt64;

class SummariesTest {
  @TempDir Path tmp;

  @Test
  void scalarsAreWrittenEveryNStepsAndParseBack() {
    Path logDir = tmp.resolve("tensorboard");
    try (Graph g = new Graph()) {
      TinyModel m = new TinyModel(g);
      GlobalStep step = GlobalStep.create(m.tf);
      Optimizers.TrainOp op = Optimizers.minimize(
          m.tf, g, m.loss, m.vars, OptimizerConfig.sgd(0.1, 2, 10), step);
      Summaries sums = Summaries.create(m.tf, logDir, 2)
          .scalar("loss", m.loss)
          .scalar("lr", op.learningRate())
          .fedScalar("images_per_second");
      try (Session s = new Session(g)) {
        s.initialize();
        for (long t = 1; t <= 4; t++) {
          try (TInt64 st = TInt64.scalarOf(t)) {
            var r = s.runner().addTarget(op.trainOp());
            if (sums.due(t)) {
              sums.addTo(r, st);
            }
            r.run().close();
          }
          if (sums.due(t)) {
            sums.writeFed(s, t, Map.of("images_per_second", 100.0 * t));
          }
        }
        sums.flush(s);
        assertThrows(IllegalArgumentException.class,
            () -> sums.writeFed(s, 5, Map.of("other", 1.0)));
      }
    }
    List<EventFiles.Scalar> scalars = EventFiles.scalars(logDir);
    List<EventFiles.Scalar> lr = scalars.stream().filter(x -> x.tag().equals("lr")).toList();
    assertEquals(List.of(2L, 4L), lr.stream().map(EventFiles.Scalar::step).toList());
    // The lr written at step t is the one that step used: schedule at t-1.
    assertEquals(Schedules.warmupCosine(1, 0.1, 2, 10), lr.get(0).value(), 1e-6);
    assertEquals(Schedules.warmupCosine(3, 0.1, 2, 10), lr.get(1).value(), 1e-6);
    List<EventFiles.Scalar> ips =
        scalars.stream().filter(x -> x.tag().equals("images_per_second")).toList();
    assertEquals(2, ips.size());
    assertEquals(400f, ips.get(1).value());
    List<EventFiles.Scalar> loss = scalars.stream().filter(x -> x.tag().equals("loss")).toList();
    assertEquals(2, loss.size());
    assertTrue(loss.get(0).value() > 0 && loss.get(1).value() < loss.get(0).value());
  }
}
