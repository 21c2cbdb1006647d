package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.selfie.training.optim.Schedules;
import dev.selfie.training.options.ScheduleOptions;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

class SchedulesTest {
  @Test
  void epochsBecomeStepsOverTheImagesTrainedOn() {
    ScheduleOptions s = ScheduleOptions.defaults().withSteps(500);
    assertEquals(500, s.forExamples(60_000, 64).steps(), "without --epochs the steps stand");
    ScheduleOptions e = s.withEpochs(2);
    assertEquals(1875, e.forExamples(60_000, 64).steps());
    assertEquals(19, e.forExamples(600, 64).steps(), "ceil(1200 / 64): the last batch counts");
    assertEquals(1, s.withEpochs(0.001).forExamples(10, 64).steps(), "at least one step");
    // The warmup is capped at a tenth of the resolved steps, not of the placeholder's.
    assertEquals(1, e.withWarmup(200).forExamples(600, 64).optimizerConfig().warmupSteps());
    assertThrows(IllegalArgumentException.class, () -> s.withEpochs(-1));
    assertThrows(IllegalArgumentException.class, () -> s.withEpochs(Double.NaN));
  }

  @Test
  void javaValuesAtKeySteps() {
    // base 1, warmup 4, total 12
    assertEquals(0.25, Schedules.warmupCosine(0, 1, 4, 12), 1e-12);
    assertEquals(0.75, Schedules.warmupCosine(2, 1, 4, 12), 1e-12);
    assertEquals(1.0, Schedules.warmupCosine(3, 1, 4, 12), 1e-12);
    assertEquals(1.0, Schedules.warmupCosine(4, 1, 4, 12), 1e-12);
    assertEquals(0.5, Schedules.warmupCosine(8, 1, 4, 12), 1e-12);
    assertEquals(0.0, Schedules.warmupCosine(12, 1, 4, 12), 1e-12);
    assertEquals(0.0, Schedules.warmupCosine(100, 1, 4, 12), 1e-12);
    assertEquals(0.5 * (1 + Math.cos(Math.PI / 4)), Schedules.warmupCosine(2, 1, 0, 8), 1e-12);
  }

  @Test
  void graphMatchesJava() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TInt64> step = tf.placeholder(TInt64.class);
      var lr = Schedules.warmupCosine(tf, step, 0.4, 5, 25);
      var lrNoWarm = Schedules.warmupCosine(tf, step, 0.4, 0, 25);
      try (Session s = new Session(g)) {
        for (long t : new long[] {0, 1, 4, 5, 6, 10, 15, 24, 25, 30}) {
          try (TInt64 st = TInt64.scalarOf(t);
              Result r = s.runner().feed(step, st).fetch(lr).fetch(lrNoWarm).run()) {
            assertEquals(Schedules.warmupCosine(t, 0.4, 5, 25),
                ((TFloat32) r.get(0)).getFloat(), 1e-6, "step " + t);
            assertEquals(Schedules.warmupCosine(t, 0.4, 0, 25),
                ((TFloat32) r.get(1)).getFloat(), 1e-6, "step " + t);
          }
        }
      }
    }
  }

  @Test
  void rejectsBadArguments() {
    assertThrows(IllegalArgumentException.class, () -> Schedules.warmupCosine(0, 1, 10, 10));
    assertThrows(IllegalArgumentException.class, () -> Schedules.warmupCosine(0, 0, 0, 10));
  }
}
