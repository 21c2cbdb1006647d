package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.selfie.cli.Main;
import dev.selfie.training.loop.Listeners;
import dev.selfie.training.run.CheckpointManager;
import dev.selfie.training.run.Json;
import dev.selfie.training.runtime.Relauncher;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ctrl-C / SIGTERM during training, with real signals to a child JVM ({@code selfie pretrain}
 * and {@code selfie finetune} processes): the run saves a checkpoint of the step it reached (not
 * a multiple of {@code --checkpoint-every}: the only periodic checkpoint would be at the end),
 * prints the exact {@code --resume} command (also into train.log), exits with 128 + the signal,
 * and the resumed run ends bit-identical to an uninterrupted one (every tensor of the final
 * checkpoint, and every loss of metrics.jsonl, whose steps appear once each).
 */
class SignalResumeTest {

  static final int STEPS = 40;

  @Test
  void sigtermSavesTheCurrentStepAndResumeEqualsAStraightPretrainRun(@TempDir Path tmp)
      throws Exception {
    PretrainFixtures.assumeFashionMnist("SignalResumeTest");
    Path home = PretrainFixtures.writeCifarFromFashionMnist(tmp.resolve("data"), 600, 50);
    List<String> flags = List.of("pretrain", "--dataset", "cifar10", "--data-dir",
        home.toString(), "--preset", "tiny", "--steps", Integer.toString(STEPS),
        "--batch-size", "32", "--warmup", "4", "--seed", "7", "--threads", "1",
        "--checkpoint-every", "1000", "--keep", "100", "--summary-every", "5",
        "--log-every", "1", "--no-export");
    checkInterruptedRun(tmp, flags, "TERM", 143, "pretrain");
  }

  @Test
  void sigintStopsFinetuningWithItsValidationAndResumeEqualsAStraightRun(@TempDir Path tmp)
      throws Exception {
    PretrainFixtures.assumeFashionMnist("SignalResumeTest");
    Path home = PretrainFixtures.writeCifarFromFashionMnist(tmp.resolve("data"), 600, 50);
    List<String> flags = List.of("finetune", "--dataset", "cifar10", "--data-dir",
        home.toString(), "--preset", "tiny", "--label-fraction", "0.5", "--steps",
        Integer.toString(STEPS), "--batch-size", "16", "--warmup", "4", "--seed", "3",
        "--threads", "1", "--checkpoint-every", "1000", "--keep", "100", "--summary-every",
        "5", "--log-every", "1", "--validation", "40", "--eval-every", "5", "--no-export");
    checkInterruptedRun(tmp, flags, "INT", 130, "finetune");
  }

  /**
   * Outside ./selfie (TF_ENABLE_ONEDNN_OPTS unset) the CLI re-launches itself in a child JVM: a
   * SIGTERM to the parent reaches the training child, which saves its checkpoint before both
   * exit with 143, leaving no process behind.
   */
  @Test
  void sigtermToTheRelaunchingParentStopsItsChildGracefully(@TempDir Path tmp) throws Exception {
    PretrainFixtures.assumeFashionMnist("SignalResumeTest");
    Path home = PretrainFixtures.writeCifarFromFashionMnist(tmp.resolve("data"), 600, 50);
    Path out = tmp.resolve("run");
    Path log = tmp.resolve("run.log");
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Main.class.getName(), "pretrain",
        "--dataset", "cifar10", "--data-dir", home.toString(), "--preset", "tiny", "--steps",
        Integer.toString(STEPS), "--batch-size", "32", "--threads", "1", "--checkpoint-every",
        "1000", "--log-every", "1", "--no-export", "--out", out.toString()));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "2");
    pb.environment().put("CI", "true");
    pb.environment().remove("TF_ENABLE_ONEDNN_OPTS");
    pb.environment().remove(Relauncher.MARKER);
    Process parent = pb.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
    while (!Files.readString(log).contains("pretrain step 5/" + STEPS + " ")) {
      if (!parent.isAlive() || System.nanoTime() > deadline) {
        parent.destroyForcibly();
        fail("no step 5 (exit " + (parent.isAlive() ? "-" : parent.exitValue()) + "):\n"
            + Files.readString(log));
      }
      Thread.sleep(5);
    }
    List<ProcessHandle> children = parent.toHandle().children().toList();
    assertEquals(1, children.size(), "the relaunched JVM");
    parent.destroy();
    if (!parent.waitFor(120, TimeUnit.SECONDS)) {
      parent.destroyForcibly();
      children.forEach(ProcessHandle::destroyForcibly);
      fail("the parent did not exit within 120 s of SIGTERM:\n" + Files.readString(log));
    }
    String text = Files.readString(log);
    assertEquals(143, parent.exitValue(), text);
    assertFalse(children.get(0).isAlive(), "the child JVM is gone");
    long at = new CheckpointManager(out.resolve("checkpoints"), 1000).latest().orElseThrow()
        .step();
    assertTrue(at >= 5 && at < STEPS, "checkpoint at " + at + ":\n" + text);
    assertTrue(text.contains("pretrain: stopped at step " + at + " of " + STEPS)
        && text.contains(" --resume\n"), text);
  }

  static void checkInterruptedRun(Path tmp, List<String> flags, String signal, int exitCode,
      String task) throws Exception {
    Path straight = tmp.resolve("straight");
    Path stopped = tmp.resolve("stopped");
    Json.MAPPER.readTree("{\"warm\": 1}");
    Process straightRun = start(flags, straight, false, tmp.resolve("straight.log"));
    Process victim = start(flags, stopped, false, tmp.resolve("stopped.log"));

    // Signal once the run is past step 10 (its log has a line per step).
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
    while (!Files.readString(tmp.resolve("stopped.log")).contains(
        task + " step 10/" + STEPS + " ")) {
      if (!victim.isAlive()) {
        fail("the run exited (" + victim.exitValue() + ") before step 10:\n"
            + Files.readString(tmp.resolve("stopped.log")));
      }
      if (System.nanoTime() > deadline) {
        victim.destroyForcibly();
        fail("no step 10 within 240 s:\n" + Files.readString(tmp.resolve("stopped.log")));
      }
      Thread.sleep(5);
    }
    if (signal.equals("TERM")) {
      victim.destroy(); // kill(pid, SIGTERM) on Linux
    } else {
      Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(victim.pid()))
          .inheritIO().start();
      assertEquals(0, kill.waitFor(), "kill -" + signal);
    }
    if (!victim.waitFor(120, TimeUnit.SECONDS)) {
      victim.destroyForcibly();
      fail("the run did not stop within 120 s of SIG" + signal + ":\n"
          + Files.readString(tmp.resolve("stopped.log")));
    }
    String log = Files.readString(tmp.resolve("stopped.log"));
    assertEquals(exitCode, victim.exitValue(), "exit code after SIG" + signal + ":\n" + log);

    // One checkpoint: the step the run reached (the periodic one would be at step 1000).
    List<CheckpointManager.Checkpoint> ckpts =
        new CheckpointManager(stopped.resolve("checkpoints"), 1000).all();
    assertEquals(1, ckpts.size(), log);
    long at = ckpts.get(0).step();
    assertTrue(at >= 10 && at < STEPS, "stopped at " + at + ":\n" + log);
    assertTrue(log.contains(task + ": stopped at step " + at + " of " + STEPS), log);
    String command = "./selfie " + String.join(" ", flags) + " --out " + stopped + " --resume";
    assertTrue(log.contains("resume with:\n  " + command + "\n"), "no '" + command + "' in:\n"
        + log);
    String trainLog = Files.readString(stopped.resolve("train.log"));
    assertTrue(trainLog.contains("resume with:\n  " + command + "\n"), trainLog);
    assertFalse(Files.exists(stopped.resolve("metrics.json")), "metrics.json of a stopped run");

    Process resumed = start(flags, stopped, true, tmp.resolve("resumed.log"));
    ResumeKillTest.waitFor(resumed, tmp.resolve("resumed.log"));
    ResumeKillTest.waitFor(straightRun, tmp.resolve("straight.log"));
    assertTrue(Files.readString(tmp.resolve("resumed.log")).contains(
        "from step " + at + " of " + STEPS));

    Map<String, double[]> a = PretrainFixtures.readCheckpoint(
        PretrainFixtures.checkpoint(straight, STEPS));
    Map<String, double[]> b = PretrainFixtures.readCheckpoint(
        PretrainFixtures.checkpoint(stopped, STEPS));
    assertEquals(a.keySet(), b.keySet());
    List<String> bad = new ArrayList<>();
    for (String n : a.keySet()) {
      if (PretrainFixtures.maxAbsDiff(a.get(n), b.get(n)) != 0) {
        bad.add(n);
      }
    }
    assertTrue(bad.isEmpty(), "resumed run differs from the straight run in " + bad);
    Map<String, double[]> mid = PretrainFixtures.readCheckpoint(
        PretrainFixtures.checkpoint(stopped, at));
    assertTrue(a.keySet().stream().filter(n -> n.endsWith("/kernel"))
        .anyMatch(n -> PretrainFixtures.maxAbsDiff(a.get(n), mid.get(n)) > 1e-5),
        "the steps after the stop moved the weights");

    // metrics.jsonl: every step once, in order, with the straight run's losses (and
    // validation accuracies where evaluated).
    List<JsonNode> hs = Listeners.History.read(straight.resolve("metrics.jsonl"));
    List<JsonNode> hr = Listeners.History.read(stopped.resolve("metrics.jsonl"));
    List<Long> all = java.util.stream.LongStream.rangeClosed(1, STEPS).boxed().toList();
    assertEquals(all, hs.stream().map(n -> n.get("step").asLong()).toList());
    assertEquals(all, hr.stream().map(n -> n.get("step").asLong()).toList());
    for (int i = 0; i < STEPS; i++) {
      assertEquals(hs.get(i).get("loss").asDouble(), hr.get(i).get("loss").asDouble(), 0.0,
          "loss at step " + (i + 1));
      assertEquals(hs.get(i).path("validation_accuracy").asDouble(-1),
          hr.get(i).path("validation_accuracy").asDouble(-1), 0.0, "validation at " + (i + 1));
    }
    String trainLogAfter = Files.readString(stopped.resolve("train.log"));
    assertEquals(2, trainLogAfter.lines().filter(l -> l.startsWith("==== ")).count(),
        "one header per process:\n" + trainLogAfter);
    assertTrue(trainLogAfter.startsWith(trainLog), "resume appends to train.log");
    System.out.printf("SignalResumeTest: %s SIG%s at step %d, exit %d; resumed run equals the"
        + " straight one (%d tensors, %d losses)%n", task, signal, at, exitCode, a.size(),
        hr.size());
  }

  /**
   * A prefix that gives the child JVM the default SIGINT disposition. A test run started in the
   * background by a shell without job control (`cmd &` in a script, nohup) inherits SIGINT as
   * ignored, and a JVM does not install its handler for an ignored signal, so the child would
   * never see the test's `kill -INT`. GNU env's --default-signal (coreutils >= 8.31) resets it.
   */
  static List<String> defaultSignals() {
    try {
      Process p = new ProcessBuilder("env", "--default-signal=INT", "true").start();
      if (p.waitFor() == 0) {
        return List.of("env", "--default-signal=INT");
      }
    } catch (IOException e) {
      // no GNU env: the child inherits this process's disposition
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return List.of();
  }

  static Process start(List<String> flags, Path out, boolean resume, Path log)
      throws IOException {
    List<String> cmd = new ArrayList<>(defaultSignals());
    cmd.addAll(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Main.class.getName()));
    cmd.addAll(flags);
    cmd.addAll(List.of("--out", out.toString()));
    if (resume) {
      cmd.add("--resume");
    }
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "2");
    pb.environment().put("CI", "true"); // plain progress lines, whatever the terminal
    pb.environment().remove("TF_DETERMINISTIC_OPS");
    return pb.start();
  }
}
