package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.jobs.Export;
import dev.selfie.training.jobs.ModelDir;
import dev.selfie.training.jobs.PretrainedRun;
import dev.selfie.training.jobs.Serve;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TF Serving's layout {@code RUN/savedmodel/<version>/}: export writes version 1 unless told,
 * {@code --model} takes a run, a base or a version directory, a running {@code selfie serve}
 * picks up a new version, and an old unversioned export is still read but not overwritten.
 */
class VersionedExportTest {

  @TempDir Path tmp;

  /** A copy of the shared finetuning run (its savedmodel/1 included) that this test may change. */
  Path runCopy() throws Exception {
    Path copy = tmp.resolve("run");
    InteropCasesTest.copyTree(ExportTestRuns.finetuneRun(), copy);
    return copy;
  }

  @Test
  void exportWritesVersionDirectoriesAndModelDirFindsTheHighest() throws Exception {
    Path run = runCopy();
    assertTrue(Files.isRegularFile(run.resolve("savedmodel/1/saved_model.pb")));
    ModelDir.Located one = ModelDir.locate(run, "--model");
    assertEquals(1, one.version());
    assertEquals(run.resolve("savedmodel").toAbsolutePath(), one.base());
    Path two = Export.run(run, 2);
    assertEquals(run.resolve("savedmodel/2").toAbsolutePath().normalize(), two.toAbsolutePath()
        .normalize());
    for (Path p : new Path[] {run, run.resolve("savedmodel")}) {
      ModelDir.Located at = ModelDir.locate(p, "--model");
      assertEquals(2, at.version(), p.toString());
      assertEquals(two.toAbsolutePath().normalize(), at.dir());
    }
    ModelDir.Located fixed = ModelDir.locate(run.resolve("savedmodel/1"), "--model");
    assertEquals(1, fixed.version());
    assertNull(fixed.base());
    assertEquals(run.resolve("savedmodel/2").toAbsolutePath().normalize(),
        PretrainedRun.highestVersion(run.resolve("savedmodel")).toAbsolutePath().normalize());
    assertThrows(IllegalArgumentException.class, () -> Export.run(run, 0));
  }

  @Test
  void anOldUnversionedExportIsReadButNotOverwritten() throws Exception {
    Path run = runCopy();
    Path flat = run.resolve("savedmodel");
    Path v1 = flat.resolve("1");
    // The layout of older builds: the SavedModel directly in savedmodel/.
    Path moved = tmp.resolve("moved");
    Files.move(v1, moved);
    ExportTestRuns.deleteQuietly(flat);
    Files.move(moved, flat);
    ModelDir.Located at = ModelDir.locate(run, "--model");
    assertEquals(flat.toAbsolutePath().normalize(), at.dir());
    assertNull(at.base());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Export.run(run, 1));
    assertTrue(e.getMessage().contains("unversioned") && e.getMessage().contains("savedmodel/1"),
        e.getMessage());
  }

  @Test
  void aRunningServerPicksUpANewVersion() throws Exception {
    Path run = runCopy();
    try (LogCapture log = new LogCapture();
        Serve.Running server = Serve.start(Serve.Options.defaults(run).withPort(0).withGrpcPort(0)
        .withPoll(Duration.ofMillis(200)))) {
      assertTrue(log.console().contains("version 1"), log.console());
      Export.run(run, 3);
      long deadline = System.nanoTime() + 60_000_000_000L;
      while (server.versions().latest().getKey() != 3 && System.nanoTime() < deadline) {
        Thread.sleep(100);
      }
      assertEquals(3L, server.versions().latest().getKey(), log.console());
      HttpResponse<String> v3 = ServeTest.get(URI.create(server.modelUri() + "/versions/3"));
      assertEquals(200, v3.statusCode(), v3.body());
      assertTrue(v3.body().contains("AVAILABLE"), v3.body());
      assertEquals(404, ServeTest.get(URI.create(server.modelUri() + "/versions/1"))
          .statusCode());
      HttpResponse<String> p = ServeTest.post(URI.create(server.modelUri() + ":predict"),
          "{\"instances\": " + ServeTest.batchJson(ExportTestRuns.fixedImages(1), 1) + "}");
      assertEquals(200, p.statusCode(), p.body());
    }
  }
}
