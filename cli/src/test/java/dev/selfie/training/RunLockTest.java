package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.selfie.savedmodels.SavedModelExporter;
import dev.selfie.training.run.RunDir;
import dev.selfie.training.run.RunLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The run directory lock: a second run on a directory in use is refused before it writes
 * anything, the lock goes with its process (also when that process is killed), and a finished or
 * crashed run's stale lock file blocks nobody.
 */
class RunLockTest {
  @TempDir Path tmp;

  @Test
  void aSecondRunInThisProcessIsRefusedUntilTheFirstReleases() {
    RunDir dir = RunDir.create(tmp.resolve("run"));
    try (RunLock first = RunLock.acquire(dir)) {
      assertEquals(dir.root().resolve(RunLock.FILE), first.file());
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> RunLock.acquire(dir));
      assertTrue(e.getMessage().contains(dir.root().toString()), e.getMessage());
      assertTrue(e.getMessage().contains("in use"), e.getMessage());
      assertTrue(e.getMessage().contains("pid " + ProcessHandle.current().pid()),
          "names the holder: " + e.getMessage());
    }
    try (RunLock again = RunLock.acquire(dir)) {
      assertTrue(Files.isRegularFile(again.file()));
    }
  }

  @Test
  void anotherProcessHoldingTheDirectoryRefusesTheRunUntilItDies() throws Exception {
    Path home = ExportTestRuns.home();
    Path out = Files.createDirectories(tmp.resolve("run"));
    Path log = tmp.resolve("holder.log");
    Process holder = new ProcessBuilder(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"),
        RunLockHolder.class.getName(), out.toString())
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (!Files.readString(log, StandardCharsets.UTF_8).contains("locked")) {
        if (!holder.isAlive() || System.nanoTime() > deadline) {
          fail("the child never locked " + out + ":\n" + Files.readString(log));
        }
        Thread.sleep(50);
      }
      String[] args = {"pretrain", "--dataset", "fashion-mnist", "--data-dir", home.toString(),
          "--preset", "tiny", "--steps", "2", "--batch-size", "8", "--warmup", "1",
          "--threads", "1", "--precision", "float32", "--out", out.toString()};
      RunArgumentsTest.Run refused = RunArgumentsTest.selfie(args);
      assertEquals(2, refused.code(), refused.err());
      assertTrue(refused.err().contains("in use") && refused.err().contains(out.toString()),
          refused.err());
      assertTrue(refused.err().contains("pid " + holder.pid()), "names the holder's pid: "
          + refused.err());
      assertFalse(Files.exists(out.resolve("config.json")), "the refused run wrote config.json");
      assertEquals(List.of(), list(out.resolve("checkpoints")), "the refused run wrote checkpoints");

      // A crash (SIGKILL: no shutdown hooks) takes the OS lock with it; the file stays, stale.
      holder.destroyForcibly();
      assertTrue(holder.waitFor(60, TimeUnit.SECONDS));
      assertTrue(Files.isRegularFile(out.resolve(RunLock.FILE)));
      RunArgumentsTest.Run ran = RunArgumentsTest.selfie(args);
      assertEquals(0, ran.code(), ran.err());
      assertTrue(Files.isRegularFile(out.resolve("config.json")));
      // Released on the way out: the next run on the directory may lock it.
      try (RunLock after = RunLock.acquire(new RunDir(out))) {
        assertTrue(SavedModelExporter.isSavedModel(out.resolve("savedmodel").resolve("1")),
            "pretrain exports by default");
      }
    } finally {
      holder.destroyForcibly();
    }
  }

  private static List<Path> list(Path dir) throws java.io.IOException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.toList();
    }
  }
}
