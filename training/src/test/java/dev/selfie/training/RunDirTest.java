package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.MetricsWriter;
import dev.selfie.training.run.RunDir;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunDirTest {
  @TempDir Path tmp;

  record Cfg(String model, int steps, OptimizerConfig optimizer) {}

  @Test
  void layoutAndAtomicJsonRoundTrip() throws IOException {
    RunDir run = RunDir.create(tmp.resolve("out"));
    assertTrue(Files.isDirectory(run.checkpoints()));
    assertTrue(Files.isDirectory(run.tensorboard()));
    assertEquals(run.root().resolve("savedmodel"), run.savedModel());
    assertEquals(run.root().resolve("labels.json"), run.labelsManifest());
    Cfg cfg = new Cfg("small", 100, OptimizerConfig.sgd(0.1, 10, 100));
    run.writeConfig(cfg);
    run.writeConfig(cfg); // overwrite in place
    assertEquals(cfg, run.readConfig(Cfg.class));
    MetricsWriter.Metrics m = new MetricsWriter.Metrics(100, 100, 0.5, 0.6,
        Map.of("accuracy", 0.75), 20, 12.5, 800, "2026-01-01T00:00:00Z");
    MetricsWriter.write(run.metrics(), m);
    assertEquals(m, MetricsWriter.read(run.metrics()));
    try (Stream<Path> s = Files.list(run.root())) {
      List<String> names = s.map(p -> p.getFileName().toString()).sorted().toList();
      assertEquals(List.of("checkpoints", "config.json", "metrics.json", "tensorboard"), names);
    }
  }

  @Test
  void clearErrors() throws IOException {
    Path file = Files.writeString(tmp.resolve("f"), "x");
    var e = assertThrows(IllegalArgumentException.class, () -> RunDir.create(file));
    assertTrue(e.getMessage().contains("not a directory"), e.getMessage());
    RunDir empty = RunDir.create(tmp.resolve("empty"));
    var e2 = assertThrows(IllegalArgumentException.class, () -> empty.readConfig(Cfg.class));
    assertTrue(e2.getMessage().contains("config.json"), e2.getMessage());
    Files.writeString(empty.config(), "{not json");
    var e3 = assertThrows(UncheckedIOException.class, () -> empty.readConfig(Cfg.class));
    assertTrue(e3.getMessage().contains(empty.config().toString()), e3.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Json.tree("{bad"));
    assertEquals(3, Json.tree("{\"a\": 3}").get("a").asInt());
  }
}
