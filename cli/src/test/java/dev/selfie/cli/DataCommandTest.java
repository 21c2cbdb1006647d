package dev.selfie.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.selfie.data.formats.Cifar10;
import dev.selfie.data.formats.CifarWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataCommandTest {

  @TempDir Path tmp;


  /** A small CIFAR-10 binary dataset: 25 train (labels i % 10), 7 test. */
  Path cifar() throws Exception {
    Path dir = tmp.resolve("home/cifar10/cifar-10-batches-bin");
    int[] train = new int[25];
    for (int i = 0; i < train.length; i++) {
      train[i] = i % 10;
    }
    int[] test = {0, 1, 2, 3, 4, 5, 6};
    CifarWriter.writeDataset(dir, new byte[25 * 3072], train, new byte[7 * 3072], test, Cifar10.CLASS_NAMES);
    return tmp.resolve("home");
  }

  @Test
  void inspectJsonPrintsCountsPerSplitAndClass() throws Exception {
    Path home = cifar();
    CliRun r = CliRun.run("data", "inspect", "--dataset", "cifar10", "--data-dir", home.toString(), "--json");
    assertEquals(0, r.code(), r.err());
    JsonNode j = new ObjectMapper().readTree(r.out());
    assertEquals("cifar10", j.get("dataset").asText());
    assertEquals(25, j.get("counts").get("train").asInt());
    assertEquals(7, j.get("counts").get("test").asInt());
    assertEquals(3, j.get("countsPerClass").get("train").get(0).asInt());
    assertEquals(2, j.get("countsPerClass").get("train").get(9).asInt());
    assertEquals(0, j.get("countsPerClass").get("test").get(9).asInt());
    assertEquals("[32,32,3]", j.get("nativeShape").toString());
    assertEquals("[32,32,3]", j.get("inputShape").toString());
    assertEquals("airplane", j.get("classNames").get(0).asText());

    CliRun table = CliRun.run("data", "inspect", "--dataset", "cifar10", "--data-dir", home.toString());
    assertEquals(0, table.code(), table.err());
    assertTrue(table.out().contains("automobile"), table.out());
  }

  @Test
  void badInputExitsWithCodeTwoAndNamesTheFile() throws Exception {
    Path home = cifar();
    Path batch = home.resolve("cifar10/cifar-10-batches-bin/data_batch_4.bin");
    Files.write(batch, new byte[100]);
    CliRun r = CliRun.run("data", "inspect", "--dataset", "cifar10", "--data-dir", home.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("data_batch_4.bin") && r.err().contains("3073"), r.err());

    CliRun unknown = CliRun.run("data", "inspect", "--dataset", "imagenet9", "--data-dir", home.toString());
    assertEquals(2, unknown.code());
    assertTrue(unknown.err().contains("unknown dataset 'imagenet9'"), unknown.err());
  }

  @Test
  void benchRunsThePipeline() throws Exception {
    Path home = cifar();
    CliRun r = CliRun.run("data", "bench", "--dataset", "cifar10", "--data-dir", home.toString(), "--batch-size", "4",
        "--seconds", "0.5", "--json");
    assertEquals(0, r.code(), r.err());
    JsonNode j = new ObjectMapper().readTree(r.out());
    assertTrue(j.get("images").asLong() > 0);
    assertEquals(0, j.get("images").asLong() % 4);
    assertTrue(j.get("imagesPerSecond").asDouble() > 0);
  }

  @Test
  void fetchFromAMirrorWithAWrongArchiveFailsCleanly() throws Exception {
    com.sun.net.httpserver.HttpServer server = com.sun.net.httpserver.HttpServer.create(
        new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 0);
    byte[] body = "not the CIFAR-10 tarball".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    server.createContext("/", ex -> {
      ex.sendResponseHeaders(200, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    server.start();
    try {
      Path home = tmp.resolve("fetch-home");
      CliRun r = CliRun.run("data", "fetch", "cifar10", "--data-dir", home.toString(),
          "--base-url", "http://127.0.0.1:" + server.getAddress().getPort() + "/");
      assertEquals(2, r.code(), r.out() + r.err());
      assertTrue(r.err().contains("md5") && r.err().contains(Cifar10.ARCHIVE), r.err());
      try (var s = Files.list(home)) {
        assertEquals(0, s.count(), "nothing left in the data home");
      }
    } finally {
      server.stop(0);
    }
  }

  @Test
  void helpListsDefaults() {
    CliRun r = CliRun.run("data", "bench", "--help");
    assertEquals(0, r.code());
    assertTrue(r.out().contains("--batch-size") && r.out().contains("Default: 128"), r.out());
    assertTrue(r.out().contains("cifar10") && r.out().contains("fashion-mnist"), r.out());
    CliRun f = CliRun.run("data", "fetch", "--help");
    assertEquals(0, f.code());
    assertTrue(f.out().contains("--base-url"), f.out());
  }
}
