package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.selfie.cli.Main;
import dev.selfie.savedmodels.SavedModelExporter;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.jobs.RunData;
import dev.selfie.training.loop.EventFiles;
import dev.selfie.training.run.CheckpointManager;
import dev.selfie.training.run.RunDir;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The training commands as a newcomer meets them: bad arguments are refused before anything is
 * written, naming the flag; a Fashion-MNIST that is nowhere and cannot be downloaded stops the run
 * in one line giving both remedies; pretrain and finetune end with a SavedModel unless
 * {@code --no-export}.
 */
class RunArgumentsTest {
  @TempDir Path tmp;

  /** Exit code and what the command line printed on its error stream. */
  record Run(int code, String err) {}

  /** {@code selfie ARGS} in this JVM. */
  static Run selfie(String... args) {
    StringWriter err = new StringWriter();
    CommandLine cl = Main.commandLine();
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute(args);
    return new Run(code, err.toString());
  }

  /** Runs {@code args} plus {@code --out DIR}: exit 2, an error naming {@code flag}, no DIR. */
  private void assertRefused(String flag, String... args) {
    Path out = tmp.resolve("run-" + flag.replace("-", "") + "-" + System.nanoTime());
    List<String> all = new ArrayList<>(List.of(args));
    all.addAll(List.of("--out", out.toString()));
    Run r = selfie(all.toArray(String[]::new));
    assertEquals(2, r.code(), String.join(" ", all) + ": " + r.err());
    assertTrue(r.err().contains(flag), "the error names " + flag + ": " + r.err());
    assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
    assertFalse(Files.exists(out), String.join(" ", all) + " left " + out + " behind");
  }

  @Test
  void badArgumentsLeaveNoRunDirectory() throws Exception {
    String home = ExportTestRuns.home().toString();
    assertRefused("--steps", "pretrain", "--data-dir", home, "--steps", "-5");
    assertRefused("--batch-size", "pretrain", "--data-dir", home, "--batch-size", "0");
    assertRefused("--preset", "pretrain", "--data-dir", home, "--preset", "bogus");
    // Found only once the data is open (the preset's 224x224 vs the dataset's 32x32).
    assertRefused("--preset paper224", "pretrain", "--data-dir", home, "--preset", "paper224");
    assertRefused("--label-fraction", "finetune", "--data-dir", home, "--label-fraction", "0");
    assertRefused("--label-fraction", "finetune", "--data-dir", home, "--label-fraction", "1.5");
    assertRefused("--steps", "finetune", "--data-dir", home, "--steps", "-5");
    assertRefused("--preset", "finetune", "--data-dir", home, "--preset", "bogus");
    assertRefused("--preset", "quickstart", "--data-dir", home, "--preset", "bogus");
    assertRefused("--label-fraction", "quickstart", "--data-dir", home, "--label-fraction", "0");
    assertRefused("--pretrain-steps", "quickstart", "--data-dir", home, "--pretrain-steps", "-5");
    assertRefused("--pretrain-lr", "quickstart", "--data-dir", home, "--pretrain-lr", "0");
    assertRefused("--clip-norm", "quickstart", "--data-dir", home, "--clip-norm", "-1");
    assertRefused("--finetune-steps", "quickstart", "--data-dir", home, "--finetune-steps", "0");
    assertRefused("--clip-norm", "pretrain", "--data-dir", home, "--clip-norm", "-1");
    assertRefused("--epochs", "pretrain", "--data-dir", home, "--steps", "5", "--epochs", "1");
    assertRefused("--epochs", "finetune", "--data-dir", home, "--epochs", "0");
    assertRefused("--epochs", "pretrain", "--data-dir", home, "--epochs", "-1");
  }

  @Test
  void epochsSetTheStepsFromTheImagesTrainedOn() throws Exception {
    String home = ExportTestRuns.home().toString();
    Path pre = tmp.resolve("pretrain-epochs");
    Run r = selfie("pretrain", "--dataset", "fashion-mnist", "--data-dir", home, "--preset",
        "tiny", "--epochs", "0.25", "--batch-size", "8", "--warmup", "1", "--threads", "1",
        "--precision", "float32", "--no-export", "--out", pre.toString());
    assertEquals(0, r.code(), r.err());
    // 0.25 passes over the 80 training images at 8 per step.
    assertEquals(3, new RunDir(pre).readConfig(Pretrain.Config.class).steps());
    assertEquals(3, new CheckpointManager(new RunDir(pre).checkpoints(), 2).latest().get().step());

    Path fine = tmp.resolve("finetune-epochs");
    Run f = selfie("finetune", "--dataset", "fashion-mnist", "--data-dir", home, "--pretrained",
        pre.toString(), "--label-fraction", "0.5", "--epochs", "0.5", "--batch-size", "8",
        "--warmup", "1", "--threads", "1", "--precision", "float32", "--eval-batch-size", "20",
        "--no-export", "--out", fine.toString());
    assertEquals(0, f.code(), f.err());
    Finetune.Config c = new RunDir(fine).readConfig(Finetune.Config.class);
    // Finetuning passes over the labeled subset only (about half of the 80 images), half a pass.
    assertTrue(c.labeledExamples() >= 30 && c.labeledExamples() <= 50, "" + c.labeledExamples());
    assertEquals((long) Math.ceil(0.5 * c.labeledExamples() / 8), c.steps());
  }

  @Test
  void clipNormIsRecordedAndTheGradientNormLogged() throws Exception {
    Path run = tmp.resolve("clipped");
    Run r = selfie("pretrain", "--dataset", "fashion-mnist", "--data-dir",
        ExportTestRuns.home().toString(), "--preset", "tiny", "--steps", "3", "--batch-size", "8",
        "--warmup", "1", "--threads", "1", "--precision", "float32", "--summary-every", "1",
        "--clip-norm", "0.5", "--no-export", "--out", run.toString());
    assertEquals(0, r.code(), r.err());
    assertEquals(0.5,
        new RunDir(run).readConfig(Pretrain.Config.class).optimizer().clipGlobalNorm());
    List<Float> norms = EventFiles.scalars(run.resolve("tensorboard")).stream()
        .filter(v -> v.tag().endsWith("gradient_norm")).map(EventFiles.Scalar::value).toList();
    assertTrue(norms.size() >= 2, "a gradient_norm per summary step: " + norms);
    assertTrue(norms.stream().allMatch(n -> n > 0 && Float.isFinite(n)), norms.toString());
  }

  @Test
  void fashionMnistThatCannotBeDownloadedStopsInOneLineWithBothRemedies() throws Exception {
    HttpServer server = HttpServer.create(
        new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", ex -> {
      ex.sendResponseHeaders(404, -1);
      ex.close();
    });
    server.start();
    String before = System.getProperty(RunData.BASE_URL_PROPERTY);
    System.setProperty(RunData.BASE_URL_PROPERTY,
        "http://127.0.0.1:" + server.getAddress().getPort() + "/");
    try {
      Path empty = Files.createDirectories(tmp.resolve("empty-home"));
      Path out = tmp.resolve("run");
      Run r = selfie("pretrain", "--dataset", "fashion-mnist", "--data-dir", empty.toString(),
          "--preset", "tiny", "--steps", "2", "--out", out.toString());
      assertEquals(2, r.code(), r.err());
      assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
      assertTrue(r.err().contains("apt-get install dataset-fashion-mnist"), r.err());
      assertTrue(r.err().contains("selfie data fetch fashion-mnist"), r.err());
      assertTrue(r.err().contains("HTTP 404"), r.err());
      assertFalse(Files.exists(out), "left " + out);
      assertFalse(Files.exists(empty.resolve("fashion-mnist")), "published a partial download");
    } finally {
      if (before == null) {
        System.clearProperty(RunData.BASE_URL_PROPERTY);
      } else {
        System.setProperty(RunData.BASE_URL_PROPERTY, before);
      }
      server.stop(0);
    }
  }

  @Test
  void finetuneExportsASavedModelUnlessNoExport() throws Exception {
    String home = ExportTestRuns.home().toString();
    Path pretrained = ExportTestRuns.pretrainRun();
    Path run = tmp.resolve("finetune");
    String[] common = {"finetune", "--dataset", "fashion-mnist", "--data-dir", home,
        "--pretrained", pretrained.toString(), "--label-fraction", "1", "--steps", "2",
        "--batch-size", "8", "--warmup", "1", "--threads", "1", "--precision", "float32",
        "--eval-batch-size", "20"};
    List<String> a = new ArrayList<>(List.of(common));
    a.addAll(List.of("--out", run.toString()));
    Run r = selfie(a.toArray(String[]::new));
    assertEquals(0, r.code(), r.err());
    assertTrue(SavedModelExporter.isSavedModel(run.resolve("savedmodel").resolve("1")),
        "finetune exports savedmodel/1 by default");

    Path skipped = tmp.resolve("finetune-no-export");
    List<String> b = new ArrayList<>(List.of(common));
    b.addAll(List.of("--out", skipped.toString(), "--no-export"));
    Run s = selfie(b.toArray(String[]::new));
    assertEquals(0, s.code(), s.err());
    assertTrue(Files.isRegularFile(skipped.resolve("metrics.json")));
    assertFalse(Files.exists(skipped.resolve("savedmodel")), "--no-export exported");
  }

  @Test
  void aCheckpointThatCannotBeWrittenStopsTheRunAndResumeContinues() throws Exception {
    Path run = tmp.resolve("disk-full");
    String[] args = {"pretrain", "--dataset", "fashion-mnist", "--data-dir",
        ExportTestRuns.home().toString(), "--preset", "tiny", "--steps", "4", "--batch-size", "8",
        "--warmup", "1", "--threads", "1", "--precision", "float32", "--checkpoint-every", "2",
        "--no-export", "--out", run.toString()};
    System.setProperty(CheckpointManager.INJECT_FAILURE_PROPERTY, "4");
    Run full;
    try {
      full = selfie(args);
    } finally {
      System.clearProperty(CheckpointManager.INJECT_FAILURE_PROPERTY);
    }
    assertEquals(2, full.code(), full.err());
    assertEquals(1, full.err().strip().lines().count(), "one line: " + full.err());
    Path ckpts = run.resolve("checkpoints").toAbsolutePath();
    assertTrue(full.err().contains(ckpts.resolve("ckpt-4").toString()), full.err());
    assertTrue(full.err().contains("No space left on device"), full.err());
    assertTrue(full.err().contains(ckpts.resolve("ckpt-2") + " (step 2), is intact"), full.err());
    assertFalse(Files.exists(run.resolve("metrics.json")), "a failed run wrote metrics.json");
    assertTrue(CheckpointManager.validate(ckpts.resolve("ckpt-2"), 2).isPresent());

    List<String> resume = new ArrayList<>(List.of(args));
    resume.add("--resume");
    Run r = selfie(resume.toArray(String[]::new));
    assertEquals(0, r.code(), r.err());
    assertTrue(CheckpointManager.validate(ckpts.resolve("ckpt-4"), 4).isPresent());
    assertTrue(Files.isRegularFile(run.resolve("metrics.json")));
  }
}
