package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.selfie.cli.Main;
import dev.selfie.training.loop.EventFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Distributed training on TensorFlow's runtime with two real server processes on 127.0.0.1: a
 * child JVM {@code selfie worker --cluster a,b --task 1} and a child JVM {@code selfie pretrain
 * ... --cluster a,b --task 0} (the chief) training the tiny preset for {@value #STEPS} steps of
 * {@value #BATCH} images, one tower per task. Checked: the chief's traced forward+backward pass
 * ran kernels on both tasks (step stats device names), the loss fell, the final checkpoint was
 * written; both children are killed at the end whatever happens.
 */
class DistributedTrainingTest {
  static final int STEPS = 30;
  static final int BATCH = 16;

  @Test
  void chiefTrainsAcrossTwoServerProcesses(@TempDir Path tmp) throws Exception {
    PretrainFixtures.assumeFashionMnist("DistributedTrainingTest");
    Path home = PretrainFixtures.writeCifarFromFashionMnist(tmp.resolve("data"), 600, 50);
    Path out = tmp.resolve("run");
    int[] ports = ClusterTest.freePorts(2);
    String cluster = "127.0.0.1:" + ports[0] + ",127.0.0.1:" + ports[1];
    Path workerLog = tmp.resolve("worker.log");
    Path chiefLog = tmp.resolve("chief.log");
    List<Process> children = new ArrayList<>();
    try {
      Process worker = start(List.of("worker", "--cluster", cluster, "--task", "1",
          "--threads", "1"), workerLog);
      children.add(worker);
      Process chief = start(List.of("pretrain", "--dataset", "cifar10", "--data-dir",
          home.toString(), "--preset", "tiny", "--steps", Integer.toString(STEPS),
          "--batch-size", Integer.toString(BATCH), "--warmup", "2", "--lr", "0.1", "--seed", "1",
          "--threads", "1", "--checkpoint-every", Integer.toString(STEPS),
          "--summary-every", "1", "--log-every", "10", "--cluster", cluster, "--task", "0",
          "--cluster-timeout", "60", "--out", out.toString()), chiefLog);
      children.add(chief);
      long t0 = System.nanoTime();
      if (!chief.waitFor(240, TimeUnit.SECONDS)) {
        fail("the chief did not finish within 240 s:\n" + read(chiefLog) + "\nworker:\n"
            + read(workerLog));
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      String log = read(chiefLog);
      assertEquals(0, chief.exitValue(), "chief exit code:\n" + log + "\nworker:\n"
          + read(workerLog));
      assertTrue(worker.isAlive(), "the worker serves until killed:\n" + read(workerLog));
      assertTrue(read(workerLog).contains("serving on 127.0.0.1:" + ports[1]), read(workerLog));

      Map<String, Integer> kernels = kernelDevices(log);
      int task0 = sum(kernels, "/job:worker/replica:0/task:0/");
      int task1 = sum(kernels, "/job:worker/replica:0/task:1/");
      assertTrue(task0 > 50 && task1 > 50, "kernels must run on both tasks: " + kernels + "\n"
          + log);

      Matcher grads = Pattern.compile("gradient kernels per tower ran on \\{(.*)}").matcher(log);
      assertTrue(grads.find(), "no gradient-device line:\n" + log);
      assertEquals("tower_0_gradients=[/job:worker/replica:0/task:0/device:CPU:0],"
              + " tower_1_gradients=[/job:worker/replica:0/task:1/device:CPU:0]", grads.group(1),
          "each tower's gradient kernels run on its own task only");

      List<EventFiles.Scalar> loss = EventFiles.scalars(out.resolve("tensorboard")).stream()
          .filter(s -> s.tag().equals("loss")).toList();
      assertEquals(STEPS, loss.size(), "one loss summary per step");
      double early = mean(loss.subList(0, 5));
      double late = mean(loss.subList(STEPS - 5, STEPS));
      System.out.printf("DistributedTrainingTest: loss %.3f (steps 1-5) -> %.3f (steps %d-%d);"
              + " kernels task 0: %d, task 1: %d; chief %.1f s%n", early, late, STEPS - 4, STEPS,
          task0, task1, seconds);
      assertTrue(late < early - 0.05, "loss must fall: " + early + " -> " + late + "\n" + log);
      assertTrue(Files.isRegularFile(PretrainFixtures.checkpoint(out, STEPS)
          .resolveSibling("model.index")), "final checkpoint ckpt-" + STEPS + "\n" + log);
      assertTrue(Files.isRegularFile(out.resolve("metrics.json")), "metrics.json");
    } finally {
      for (Process p : children) {
        p.destroyForcibly();
        p.waitFor(30, TimeUnit.SECONDS);
      }
    }
  }

  /** {@code {device=count, ...}} from the chief's "kernels ... ran on" line. */
  static Map<String, Integer> kernelDevices(String log) {
    Matcher line = Pattern.compile("kernels of a traced forward\\+backward pass ran on \\{(.*)}")
        .matcher(log);
    assertTrue(line.find(), "no kernel-device line in the chief's log:\n" + log);
    Map<String, Integer> out = new TreeMap<>();
    Matcher m = Pattern.compile("([^,=\\s]+)=(\\d+)").matcher(line.group(1));
    while (m.find()) {
      out.put(m.group(1), Integer.parseInt(m.group(2)));
    }
    return out;
  }

  static int sum(Map<String, Integer> kernels, String prefix) {
    return kernels.entrySet().stream().filter(e -> e.getKey().startsWith(prefix))
        .mapToInt(Map.Entry::getValue).sum();
  }

  static double mean(List<EventFiles.Scalar> s) {
    return s.stream().mapToDouble(EventFiles.Scalar::value).average().orElseThrow();
  }


  static Process start(List<String> args, Path log) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Main.class.getName()));
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "2");
    return pb.start();
  }

  static String read(Path log) throws IOException {
    return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "(no log)";
  }
}
