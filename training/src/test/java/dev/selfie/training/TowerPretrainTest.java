package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.parallel.DataParallel;
import dev.selfie.training.run.CheckpointManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code selfie pretrain --replicas 2} without GPUs: two towers on two virtual CPU devices through
 * the whole pretraining job (pipeline, summaries, checkpoints, metrics.json), then resumed from
 * its checkpoint with the same flags; the resumed run restores global_step through the rebuilt
 * graph (and the other tower's copies are synced from it); the 2-tower checkpoint has one copy of
 * each variable under its usual name and resumes a single-device run.
 */
class TowerPretrainTest {

  @Test
  void pretrainsWithTwoLocalTowersAndResumes(@TempDir Path tmp) throws Exception {
    PretrainFixtures.assumeFashionMnist("TowerPretrainTest");
    Path home = PretrainFixtures.writeCifarFromFashionMnist(tmp.resolve("data"), 300, 20);
    Path out = tmp.resolve("run");
    DataParallel.Options two = new DataParallel.Options(2, null, 0, Duration.ofSeconds(1));
    LogCapture log = new LogCapture();
    Pretrain.Result r;
    Pretrain.Options o = Pretrain.Options.defaults(out)
        .withPreset("tiny")
        .withData(DataOptions.of("cifar10", home).withBatchSize(8))
        .withSchedule(ScheduleOptions.defaults().withSteps(6).withWarmup(0))
        .withCheckpoints(CheckpointOptions.defaults().withCheckpointEvery(3).withKeep(5)
            .withLogEvery(1000).withSummaryEvery(2))
        .withRuntime(PretrainFixtures.float32(1))
        .withExport(false);
    try (log) {
      r = Pretrain.run(o, two);
    }
    String text = log.consoleAndClose();
    assertEquals(6, r.steps(), text);
    assertTrue(Double.isFinite(r.finalLoss()), text);
    assertTrue(text.contains("data-parallel: 2 towers [/device:CPU:0, /device:CPU:1], 4 images"
        + " each"), text);
    assertTrue(text.contains("gradient kernels per tower ran on {tower_0_gradients=["
        + "/job:localhost/replica:0/task:0/device:CPU:0], tower_1_gradients=["
        + "/job:localhost/replica:0/task:0/device:CPU:1]}"), text);
    assertTrue(Files.isRegularFile(PretrainFixtures.checkpoint(out, 6).resolveSibling(
        "model.index")), "final checkpoint");
    Map<String, double[]> ckpt = PretrainFixtures.readCheckpoint(PretrainFixtures.checkpoint(out, 6));
    assertEquals(6, (long) ckpt.get(GlobalStep.NAME)[0]);
    assertTrue(ckpt.keySet().stream().anyMatch(n -> n.endsWith("/moving_mean")), ckpt.keySet()
        .toString());

    // Resume from ckpt-3 (delete the later one): steps 4..6 again, global_step restored.
    CheckpointManager cm = new CheckpointManager(out.resolve("checkpoints"), 5);
    assertTrue(cm.latest().isPresent());
    deleteRecursively(PretrainFixtures.checkpoint(out, 6).getParent());
    LogCapture log2 = new LogCapture();
    Pretrain.Options resume = o.withCheckpoints(o.checkpoints().withResume(true));
    try (log2) {
      r = Pretrain.run(resume, two);
    }
    String text2 = log2.consoleAndClose();
    assertTrue(text2.contains("from step 3 of 6"), text2);
    assertEquals(6, r.steps(), text2);
    Map<String, double[]> again = PretrainFixtures.readCheckpoint(PretrainFixtures.checkpoint(out, 6));
    double worst = 0;
    for (String n : ckpt.keySet()) {
      worst = Math.max(worst, PretrainFixtures.maxAbsDiff(ckpt.get(n), again.get(n)));
    }
    System.out.printf("TowerPretrainTest: 2 towers, loss %.4f; resumed run vs straight run max"
        + " |diff| %.3g%n", r.finalLoss(), worst);
    assertTrue(worst < 1e-4, "resumed 2-tower run differs from the straight one by " + worst);
    // Replicated variables: the checkpoint holds one copy of each, under the canonical names.
    assertTrue(ckpt.keySet().stream().noneMatch(n -> n.startsWith("replica_")),
        ckpt.keySet().toString());

    // The 2-tower checkpoint resumes a single-device run (same variable names): steps 4..6 on
    // one tower, whose checkpoint has exactly the same variables.
    deleteRecursively(PretrainFixtures.checkpoint(out, 6).getParent());
    LogCapture log3 = new LogCapture();
    try (log3) {
      r = Pretrain.run(resume, DataParallel.Options.single());
    }
    String text3 = log3.consoleAndClose();
    assertTrue(text3.contains("from step 3 of 6"), text3);
    assertEquals(6, r.steps(), text3);
    Map<String, double[]> single = PretrainFixtures.readCheckpoint(
        PretrainFixtures.checkpoint(out, 6));
    assertEquals(new java.util.TreeSet<>(ckpt.keySet()), new java.util.TreeSet<>(single.keySet()),
        "a single-device checkpoint has the variables of the 2-tower one");
    assertTrue(Double.isFinite(r.finalLoss()), text3);
  }

  private static void deleteRecursively(Path p) throws java.io.IOException {
    try (var s = Files.walk(p)) {
      for (Path q : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(q);
      }
    }
  }
}
