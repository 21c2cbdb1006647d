package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.run.MetricsWriter;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * XLA on the CPU, in-process (no {@code TF_XLA_FLAGS}: the session config's {@code
 * cpu_global_jit} alone compiles): one tiny pretraining step with {@code xla = true} compiles at
 * least one cluster (the trainer traces the first step and logs {@code XLA: compiled N
 * cluster(s)}), and its loss (computed before the update, same seed, data and init) equals the
 * loss of the same step without XLA.
 *
 * <p>Measured: 13 clusters; loss 1.924995 without, 1.924986 with XLA (|diff| 1e-5: fused
 * kernels reorder float sums); tolerance 1e-4 relative. About 12 s (XLA compiles ~5 s).
 */
class XlaPretrainTest {

  static final Pattern COMPILED = Pattern.compile("XLA: compiled (\\d+) cluster\\(s\\)");

  @Test
  void oneStepCompilesClustersAndGivesTheSameLoss(@TempDir Path tmp) throws Exception {
    PretrainFixtures.assumeFashionMnist("XlaPretrainTest");
    Path home = PretrainFixtures.writeCifarFromFashionMnist(tmp.resolve("data"), 64, 10);

    String plainLog = runOneStep(home, tmp.resolve("plain"), false);
    double plain = MetricsWriter.read(tmp.resolve("plain").resolve("metrics.json")).finalLoss();
    String xlaLog = runOneStep(home, tmp.resolve("xla"), true);
    double xla = MetricsWriter.read(tmp.resolve("xla").resolve("metrics.json")).finalLoss();

    assertFalse(COMPILED.matcher(plainLog).find(), "no XLA trace without --xla:\n" + plainLog);
    Matcher m = COMPILED.matcher(xlaLog);
    assertTrue(m.find(), "the first step with XLA reports compiled clusters:\n" + xlaLog);
    int clusters = Integer.parseInt(m.group(1));
    System.out.printf("XlaPretrainTest: %d XLA cluster(s); first-step loss %.6f without,"
        + " %.6f with XLA (|diff| %.2g)%n", clusters, plain, xla, Math.abs(plain - xla));
    assertTrue(clusters >= 1, xlaLog);
    assertTrue(Double.isFinite(plain) && plain > 0, "loss " + plain);
    assertEquals(plain, xla, 1e-4 * Math.max(1, Math.abs(plain)),
        "first-step loss with XLA must match the loss without");
  }

  private static String runOneStep(Path home, Path out, boolean xla) throws Exception {
    LogCapture buf = new LogCapture();
    try (buf) {
      Pretrain.Result r = Pretrain.run(PretrainFixtures.pretrainXla(home, out, 1, 8, xla));
      assertEquals(1, r.steps());
    }
    return buf.consoleAndClose();
  }
}
