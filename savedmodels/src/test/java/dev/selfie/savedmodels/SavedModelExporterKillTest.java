package dev.selfie.savedmodels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.graph.Endpoints;
import dev.selfie.savedmodels.serving.HostTensor;
import dev.selfie.savedmodels.serving.ModelServer;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Session;

/**
 * A child process exporting in a loop is killed (SIGKILL) in the middle of an export: afterwards
 * the target holds a complete SavedModel, one of those that were being written, never a mix.
 */
class SavedModelExporterKillTest {

  @TempDir Path tmp;

  @Test
  void killedExportLeavesACompleteModel() throws Exception {
    byte[][][][] images = TinyNet.images(3, 9);
    Path dir = tmp.resolve("model");
    List<Long> delaysMs = List.of(5L, 80L);
    for (long delay : delaysMs) {
      Process p =
          new ProcessBuilder(
                  Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                  "-cp", System.getProperty("java.class.path"),
                  ExportLoop.class.getName(), dir.toString())
              .redirectErrorStream(true)
              .start();
      int lastDone = 0;
      int lastBegin = 0;
      try (BufferedReader out =
          new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        List<String> log = new ArrayList<>();
        while ((line = out.readLine()) != null) {
          log.add(line);
          if (line.startsWith("done ")) {
            lastDone = Integer.parseInt(line.substring(5));
          }
          if (line.startsWith("begin ")) {
            lastBegin = Integer.parseInt(line.substring(6));
          }
          if (line.equals("begin 3")) {
            Thread.sleep(delay);
            p.toHandle().destroyForcibly(); // SIGKILL; unlike Process.destroy keeps stdout open
            // Keep reading what the child printed before it died.
          }
        }
        assertTrue(lastDone >= 2, "child did not export: " + log);
      } finally {
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
      }
      SavedModelExporter.recover(dir);
      assertTrue(SavedModelExporter.isSavedModel(dir));
      Map<String, HostTensor> got;
      try (ModelServer s = ModelServer.load(dir, ModelServer.Options.defaults())) {
        got = s.predict(Endpoints.SERVING_DEFAULT, Map.of(Endpoints.IMAGES, Fixtures.uint8(images)));
      }
      // The model is the last export begun (it finished before the kill) or the one before it.
      float best = Float.POSITIVE_INFINITY;
      for (int seed : new int[] {lastBegin - 1, lastBegin}) {
        best = Math.min(best, Fixtures.maxAbsDiff(logits(seed, images), got.get(Endpoints.LOGITS)));
      }
      assertEquals(0f, best, 1e-6, "after a kill " + delay + " ms after export 3 began (last begun: " + lastBegin + ")");
    }
  }

  private static HostTensor logits(int seed, byte[][][][] images) {
    try (Graph g = new Graph()) {
      TinyNet net = new TinyNet(g, seed);
      try (Session s = new Session(g)) {
        s.initialize();
        return Fixtures.run(s, net, images).get("logits");
      }
    }
  }
}
