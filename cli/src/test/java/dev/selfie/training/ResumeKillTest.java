package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.selfie.cli.Main;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.loop.Listeners;
import dev.selfie.training.run.CheckpointManager;
import dev.selfie.training.run.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Resume equivalence under a real crash: a pretraining run of {@value #STEPS} steps done straight
 * through, against the same run SIGKILLed in a child JVM ({@code Process.destroyForcibly()},
 * which is {@code kill(pid, SIGKILL)} on Linux; exit code 137 asserted) as soon as its checkpoint
 * {@code ckpt-}{@value #HALF} is complete, then continued with {@code --resume}. (Spawning
 * {@code kill -9} was tried first: forking it from the test JVM took long enough that the child
 * sometimes finished its 40 steps before the signal.)
 * Both are {@code selfie pretrain} processes with identical flags (tiny preset, fixed
 * {@code --threads}, augmentation and dropout on); every variable of the two final checkpoints
 * (weights, BN moving statistics, momentum slots, global step) must match.
 *
 * <p>Measured: the two final checkpoints are bit-identical (max |diff| = 0 over all 157
 * tensors) without {@code TF_DETERMINISTIC_OPS}: masking and dropout are stateless ops seeded by
 * {@code [seed, step]}, the pipeline's order and augmentation are functions of (seed, position),
 * and the CPU kernels used are deterministic for a fixed thread count (also across 1 vs 2
 * threads). The children run without {@code TF_DETERMINISTIC_OPS}.
 */
class ResumeKillTest {

  static final int STEPS = 40;
  static final int HALF = STEPS / 2;
  static final int EVERY = 4;

  @Test
  void killedAndResumedRunEqualsStraightRun(@TempDir Path tmp) throws Exception {
    PretrainFixtures.assumeFashionMnist("ResumeKillTest");
    Path home = PretrainFixtures.writeCifarFromFashionMnist(tmp.resolve("data"), 600, 50);
    Path straight = tmp.resolve("straight");
    Path killed = tmp.resolve("killed");

    // Both children start together (one intra-op thread each on the 2 cores).
    Json.MAPPER.readTree("{\"warm\": 1}"); // loads the JSON classes before the race starts
    Process straightRun = start(home, straight, false, tmp.resolve("straight.log"));
    Process victim = start(home, killed, false, tmp.resolve("killed.log"));

    Path halfCkpt = killed.resolve("checkpoints").resolve("ckpt-" + HALF);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
    while (!Files.isRegularFile(halfCkpt.resolve(CheckpointManager.STATE_FILE))
        || CheckpointManager.validate(halfCkpt, HALF).isEmpty()) {
      if (!victim.isAlive()) {
        fail("the run exited (" + victim.exitValue() + ") before ckpt-" + HALF + ":\n"
            + Files.readString(tmp.resolve("killed.log")));
      }
      if (System.nanoTime() > deadline) {
        victim.destroyForcibly();
        fail("no valid ckpt-" + HALF + " within 240 s:\n" + Files.readString(tmp.resolve("killed.log")));
      }
      Thread.sleep(2);
    }
    // Process.destroyForcibly() is kill(pid, SIGKILL) on Linux: no JVM shutdown hooks, no
    // finally blocks, files half-written wherever the run was.
    victim.destroyForcibly();
    assertEquals(137, victim.waitFor(), "a SIGKILLed JVM exits with 128 + 9");

    // The crash left a run that is not complete: no final checkpoint, no metrics.json.
    CheckpointManager killedCkpts = new CheckpointManager(killed.resolve("checkpoints"), 1000);
    long resumeStep = killedCkpts.latest().orElseThrow().step();
    assertTrue(resumeStep >= HALF && resumeStep < STEPS,
        "SIGKILL landed after ckpt-" + HALF + " and before the end, newest checkpoint: "
            + resumeStep);
    assertFalse(Files.exists(killed.resolve("metrics.json")), "metrics.json of a killed run");

    Process resumed = start(home, killed, true, tmp.resolve("resumed.log"));
    assertEquals(0, waitFor(resumed, tmp.resolve("resumed.log")), "resumed run");
    assertEquals(0, waitFor(straightRun, tmp.resolve("straight.log")), "straight run");
    String resumedLog = Files.readString(tmp.resolve("resumed.log"));
    assertTrue(resumedLog.contains("from step " + resumeStep + " of " + STEPS), resumedLog);

    Map<String, double[]> a = PretrainFixtures.readCheckpoint(PretrainFixtures.checkpoint(straight, STEPS));
    Map<String, double[]> b = PretrainFixtures.readCheckpoint(PretrainFixtures.checkpoint(killed, STEPS));
    assertEquals(a.keySet(), b.keySet(), "same tensors in both final checkpoints");
    assertEquals(STEPS, (long) a.get(GlobalStep.NAME)[0]);
    assertEquals(STEPS, (long) b.get(GlobalStep.NAME)[0]);
    assertTrue(a.keySet().stream().anyMatch(n -> n.endsWith("/momentum")), "momentum slots saved");
    assertTrue(a.keySet().stream().anyMatch(n -> n.endsWith("/moving_mean")), "BN statistics saved");
    double worst = 0;
    String worstName = null;
    List<String> bad = new ArrayList<>();
    for (String n : a.keySet()) {
      double d = PretrainFixtures.maxAbsDiff(a.get(n), b.get(n));
      if (d > worst) {
        worst = d;
        worstName = n;
      }
      if (d > 1e-6) {
        bad.add(n + " (max |diff| " + d + ")");
      }
    }
    // Not vacuous: the second half of the run moved the weights.
    Map<String, double[]> half = PretrainFixtures.readCheckpoint(PretrainFixtures.checkpoint(straight, HALF));
    long moved = a.keySet().stream().filter(n -> n.endsWith("/kernel"))
        .filter(n -> PretrainFixtures.maxAbsDiff(a.get(n), half.get(n)) > 1e-5).count();
    System.out.printf("ResumeKillTest: killed after ckpt-%d, resumed from step %d; %d tensors,"
        + " max |straight - resumed| = %g (%s); %d kernels moved in steps %d-%d%n",
        HALF, resumeStep, a.size(), worst, worstName == null ? "all identical" : worstName,
        moved, HALF + 1, STEPS);
    assertTrue(moved > 10, "only " + moved + " kernels changed between ckpt-" + HALF + " and the end");
    assertTrue(bad.isEmpty(), "resumed run differs from the straight run in " + bad.size()
        + " tensors: " + bad);

    // metrics.jsonl: the lines the killed run wrote after its newest checkpoint are dropped on
    // resume, so each logged step appears once, with the straight run's loss.
    List<com.fasterxml.jackson.databind.JsonNode> hs =
        Listeners.History.read(straight.resolve("metrics.jsonl"));
    List<com.fasterxml.jackson.databind.JsonNode> hr =
        Listeners.History.read(killed.resolve("metrics.jsonl"));
    assertEquals(List.of(10L, 20L, 30L, 40L), hs.stream().map(n -> n.get("step").asLong())
        .toList());
    assertEquals(List.of(10L, 20L, 30L, 40L), hr.stream().map(n -> n.get("step").asLong())
        .toList());
    for (int i = 0; i < hs.size(); i++) {
      assertEquals(hs.get(i).get("loss").asDouble(), hr.get(i).get("loss").asDouble(), 0.0,
          "loss at step " + hs.get(i).get("step"));
    }
  }

  /** {@code java -cp <test class path> ...Main pretrain <flags>} writing to {@code log}. */
  static Process start(Path home, Path out, boolean resume, Path log) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"),
        Main.class.getName(), "pretrain",
        "--dataset", "cifar10", "--data-dir", home.toString(),
        "--preset", "tiny", "--steps", Integer.toString(STEPS), "--batch-size", "32",
        "--warmup", "4", "--seed", "7", "--threads", "1",
        "--checkpoint-every", Integer.toString(EVERY), "--keep", "100",
        "--summary-every", "5", "--log-every", "10",
        "--out", out.toString()));
    if (resume) {
      cmd.add("--resume");
    }
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "2");
    pb.environment().remove("TF_DETERMINISTIC_OPS");
    return pb.start();
  }

  static int waitFor(Process p, Path log) throws Exception {
    if (!p.waitFor(300, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail("child did not finish within 300 s:\n" + Files.readString(log, StandardCharsets.UTF_8));
    }
    int code = p.exitValue();
    if (code != 0) {
      fail("child exited " + code + ":\n" + Files.readString(log, StandardCharsets.UTF_8));
    }
    return code;
  }
}
