package dev.selfie.savedmodels.serving.rest;

import dev.selfie.savedmodels.serving.ModelServer;
import dev.selfie.savedmodels.serving.VersionedModel;
import dev.selfie.savedmodels.serving.HostTensor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.selfie.savedmodels.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TF Serving's model base path: numeric version directories, the highest served, a new version
 * picked up while serving, {@code /versions/N} answering for the loaded version only.
 */
class VersionedModelTest {

  @TempDir Path tmp;

  static final ModelServer.Options BATCH = new ModelServer.Options(8, Duration.ZERO, 64, 1);

  @Test
  void versionsAreNumericDirectoriesWithASavedModel() throws Exception {
    Fixtures.exportTiny(tmp.resolve("3"), 1, RestServerTest.images);
    Fixtures.exportTiny(tmp.resolve("12"), 1, RestServerTest.images);
    Files.createDirectories(tmp.resolve("20")); // empty: an export not yet renamed in
    Files.createDirectories(tmp.resolve(".13.tmp-1-2"));
    Files.createDirectories(tmp.resolve("latest"));
    assertEquals(List.of(3L, 12L), List.copyOf(VersionedModel.versions(tmp).keySet()));
    assertTrue(VersionedModel.versions(tmp.resolve("missing")).isEmpty());
    assertThrows(IllegalArgumentException.class,
        () -> VersionedModel.watch("m", tmp.resolve("latest"), BATCH, Duration.ofSeconds(1),
            Duration.ZERO, s -> { }));
  }

  @Test
  void aNewVersionIsPickedUpWhileServingAndAnsweredForByNumber() throws Exception {
    Path base = tmp.resolve("base");
    Map<String, HostTensor> v1 = Fixtures.exportTiny(base.resolve("1"), 1, RestServerTest.images);
    List<String> log = new CopyOnWriteArrayList<>();
    try (VersionedModel model = VersionedModel.watch("m", base, BATCH, Duration.ofMillis(100),
            Duration.ofMillis(200), log::add);
        RestServer rest = RestServer.start(model, RestServer.Options.defaults().withPort(0))) {
      RestServerTest.server = rest; // RestServerTest's client helpers talk to this server
      if (RestServerTest.client == null) {
        RestServerTest.client = java.net.http.HttpClient.newBuilder()
            .version(java.net.http.HttpClient.Version.HTTP_1_1).build();
      }
      String body = "{\"instances\": " + RestServerTest.imagesJson(0, 1) + "}";
      assertEquals("1", RestServerTest.get("/v1/models/m").body()
          .at("/model_version_status/0/version").asText());
      RestServerTest.Answer a = RestServerTest.post("/v1/models/m:predict", body);
      RestServerTest.assertClose(RestServerTest.row(v1.get("logits"), 0),
          RestServerTest.floats(a.body().at("/predictions/0/logits")));

      Map<String, HostTensor> v2 = Fixtures.exportTiny(base.resolve("2"), 2, RestServerTest.images);
      long deadline = System.nanoTime() + 30_000_000_000L;
      while (model.latest().getKey() != 2 && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      assertEquals(2L, model.latest().getKey(), "version 2 not picked up; log: " + log);
      assertTrue(log.stream().anyMatch(l -> l.contains("serving version 2")), log.toString());
      JsonNode status = RestServerTest.get("/v1/models/m").body();
      assertEquals("2", status.at("/model_version_status/0/version").asText());
      assertEquals(200, RestServerTest.get("/v1/models/m/versions/2").status());
      assertEquals("2", RestServerTest.get("/v1/models/m/versions/2").body()
          .at("/model_version_status/0/version").asText());
      assertEquals(404, RestServerTest.get("/v1/models/m/versions/1").status());
      assertEquals(404, RestServerTest.post("/v1/models/m/versions/1:predict", body).status());
      assertEquals("2", RestServerTest.get("/v1/models/m/versions/2/metadata").body()
          .at("/model_spec/version").asText());
      float[] got = RestServerTest.floats(
          RestServerTest.post("/v1/models/m:predict", body).body().at("/predictions/0/logits"));
      RestServerTest.assertClose(RestServerTest.row(v2.get("logits"), 0), got);
      float[] old = RestServerTest.row(v1.get("logits"), 0);
      assertTrue(Math.abs(old[0] - got[0]) > 1e-4, "versions 1 and 2 give the same logits");

      // A broken higher version is reported once and skipped: version 2 stays.
      Files.createDirectories(base.resolve("3").resolve("variables"));
      Files.write(base.resolve("3").resolve("saved_model.pb"), new byte[] {1, 2, 3});
      Files.write(base.resolve("3").resolve("variables").resolve("variables.index"), new byte[1]);
      model.poll();
      model.poll();
      assertEquals(2L, model.latest().getKey());
      assertEquals(1, log.stream().filter(l -> l.contains("cannot load version 3")).count(),
          log.toString());
      assertEquals(200, RestServerTest.post("/v1/models/m:predict", body).status());
    } finally {
      RestServerTest.server = null;
    }
  }
}
