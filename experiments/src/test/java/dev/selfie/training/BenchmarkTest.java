package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.selfie.graph.FlopCounter;
import dev.selfie.graph.ModelConfig;
import dev.selfie.experiments.Benchmark;
import dev.selfie.training.run.Json;
import dev.selfie.training.runtime.SessionConfigs;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code selfie benchmark} on the tiny preset with a handful of steps (XLA off: compiling takes
 * seconds): the row's arithmetic (FLOPs per step, GFLOP/s, fraction of the matmul peak), the
 * pipeline and RSS measurements on a small CIFAR-format set, and the JSON keys of the issue.
 */
class BenchmarkTest {

  @Test
  void measuresStepPipelineAndMemory(@TempDir Path tmp) throws Exception {
    PretrainFixtures.assumeFashionMnist("BenchmarkTest");
    Path home = PretrainFixtures.writeCifarFromFashionMnist(tmp.resolve("data"), 256, 32);
    Benchmark.Options o = new Benchmark.Options(List.of("tiny"), List.of(3L), 1, List.of(false),
        8, 256, "cifar10", home, 0.5, 6, 2, 5, "test");
    Benchmark.Report r = Benchmark.run(o);

    assertTrue(r.cpuPeakGflops() > 0.1, "matmul peak " + r.cpuPeakGflops());
    assertEquals(1, r.rows().size());
    Benchmark.Row row = r.rows().get(0);
    long fwd = FlopCounter.summarize(ModelConfig.preset("tiny")).flopsPerImage().pretrain();
    assertEquals(fwd, row.forwardFlopsPerImage());
    assertEquals(3.0 * fwd * 8, row.flopsPerStep(), 1e-6);
    assertTrue(row.imagesPerSecond() > 0);
    assertEquals(row.flopsPerStep() * row.imagesPerSecond() / 8 / 1e9, row.achievedGflops(),
        1e-9 * row.achievedGflops());
    assertEquals(row.achievedGflops() / r.cpuPeakGflops(), row.fractionOfPeak(), 1e-12);
    assertEquals(1000 * 8 / row.imagesPerSecond(), row.stepMs(), 1e-6 * row.stepMs());
    assertEquals(0, row.xlaClusters(), "XLA off: nothing compiled");
    assertEquals("float32", row.precision());
    assertTrue(Double.isNaN(r.cpuPeakBf16Gflops()), "no bfloat16 row, no bfloat16 peak");
    // The traced step's top op types: at most 5, a convolution among them, largest first.
    assertTrue(row.opTypeMillis().size() <= 5 && !row.opTypeMillis().isEmpty(),
        row.opTypeMillis().toString());
    assertTrue(row.opTypeMillis().keySet().stream().anyMatch(t -> t.contains("Conv2D")),
        row.opTypeMillis().toString());
    assertEquals(SessionConfigs.onednnActive(), r.onednn());

    assertTrue(r.pipelineImagesPerSecond() > 0);
    assertEquals(r.pipelineImagesPerSecond() / row.imagesPerSecond(), r.pipelineOverStep(), 1e-9);
    assertEquals(6, r.memory().steps());
    assertTrue(r.memory().rssStartMb() > 10 && r.memory().rssEndMb() > 10);
    assertEquals(100 * (r.memory().rssEndMb() - r.memory().rssStartMb())
        / r.memory().rssStartMb(), r.rssGrowthPercent(), 1e-9);
    // VmHWM can lag VmRSS by a few pages (the kernel syncs per-thread RSS counters lazily).
    assertTrue(r.peakRssMb() >= 0.95 * r.memory().rssEndMb(),
        r.peakRssMb() + " MB peak vs " + r.memory().rssEndMb() + " MB at the end");

    Path out = tmp.resolve("bench.json");
    Benchmark.write(out, r);
    JsonNode json = Json.MAPPER.readTree(out.toFile());
    for (String k : List.of("command", "cpu_peak_gflops", "rows", "pipeline_images_per_s",
        "rss_growth_percent")) {
      assertTrue(json.has(k), "benchmark JSON lacks " + k);
    }
    JsonNode jr = json.get("rows").get(0);
    for (String k : List.of("preset", "xla", "precision", "java_images_per_s", "achieved_gflops",
        "fraction_of_peak", "op_type_ms")) {
      assertTrue(jr.has(k), "row lacks " + k + ": " + jr);
    }
  }

  @Test
  void rejectsMismatchedStepsAndPresets() {
    assertThrows(IllegalArgumentException.class, () -> new Benchmark.Options(
        List.of("tiny", "small"), List.of(3L), 1, List.of(false), 8, 0, null, null, 1, 0, 0, 0, "x"));
    var e = assertThrows(IllegalArgumentException.class, () -> new Benchmark.Options(
        List.of("tiny"), List.of(3L), 1, List.of(false), 8, 0, null, null, 1, 0, 0, 0, "x",
        List.of("float32", "bf16")));
    assertTrue(e.getMessage().contains("--precision"), e.getMessage());
  }
}
