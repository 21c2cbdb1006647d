package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.parallel.Cluster;
import dev.selfie.training.parallel.DataParallel;
import dev.selfie.training.parallel.Towers;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.proto.ServerDef;

/** Cluster specs: parsing, clear errors, the ServerDef, and the start-up timeout. */
class ClusterTest {

  @Test
  void parsesTasksInOrder() {
    Cluster c = Cluster.parse("host1:2222, 10.0.0.2:2223");
    assertEquals(List.of("host1:2222", "10.0.0.2:2223"), c.tasks());
    assertEquals("10.0.0.2", c.host(1));
    assertEquals(2223, c.port(1));
    assertEquals("grpc://localhost:2222", c.localTarget(0));
    assertEquals("/job:worker/replica:0/task:1", c.device(1).toString());
    assertEquals("/job:worker/replica:0/task:0/device:CPU:0", c.cpu(0).toString());
  }

  @Test
  void serverDefHasOneWorkerJobWithEveryTask() {
    ServerDef d = Cluster.parse("a:1,b:2").serverDef(1, null);
    assertEquals("worker", d.getJobName());
    assertEquals(1, d.getTaskIndex());
    assertEquals("grpc", d.getProtocol());
    assertEquals(1, d.getCluster().getJobCount());
    assertEquals("a:1", d.getCluster().getJob(0).getTasksMap().get(0));
    assertEquals("b:2", d.getCluster().getJob(0).getTasksMap().get(1));
  }

  @Test
  void malformedSpecsNameTheBadEntry() {
    assertMessage("--cluster is empty", () -> Cluster.parse(" "));
    assertMessage("task 1 \"\" is not host:port", () -> Cluster.parse("a:1,"));
    assertMessage("task 0 \"host\" is not host:port", () -> Cluster.parse("host"));
    assertMessage("port \"x\" is not a number", () -> Cluster.parse("a:1,b:x"));
    assertMessage("port 70000 is not in 1..65535", () -> Cluster.parse("a:70000"));
    assertMessage("task 1 repeats the address a:1 of task 0", () -> Cluster.parse("a:1,a:1"));
    assertMessage("--task 2 is not a task of --cluster a:1,b:2",
        () -> Cluster.parse("a:1,b:2").checkTask(2));
    assertMessage("--replicas 3 with --cluster of 2 tasks",
        () -> new DataParallel.Options(3, Cluster.parse("a:1,b:2"), 0, Duration.ofSeconds(1)));
    assertMessage("--task 1 needs --cluster",
        () -> new DataParallel.Options(1, null, 1, Duration.ofSeconds(1)));
    assertMessage("a --cluster keeps the variables on the chief",
        () -> new DataParallel.Options(1, Cluster.parse("a:1,b:2"), 0, Duration.ofSeconds(1),
            Towers.Layout.REPLICATED));
    assertMessage("--batch-size 5 must be divisible by the number of towers (2)",
        () -> new DataParallel.Options(2, null, 0, Duration.ofSeconds(1)).checkBatch(5));
  }

  @Test
  void unreachableTaskFailsAfterTheTimeout() throws Exception {
    int port = freePorts(1)[0];
    Cluster c = Cluster.parse("127.0.0.1:1,127.0.0.1:" + port);
    long t0 = System.nanoTime();
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> c.awaitTasks(0, Duration.ofMillis(800)));
    double s = (System.nanoTime() - t0) / 1e9;
    assertTrue(e.getMessage().contains("task 1 (127.0.0.1:" + port + ")"), e.getMessage());
    assertTrue(e.getMessage().contains("selfie worker --cluster"), e.getMessage());
    assertTrue(s >= 0.8 && s < 10, "waited " + s + " s");
  }

  private static void assertMessage(String part, org.junit.jupiter.api.function.Executable ex) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, ex);
    assertTrue(e.getMessage().contains(part), "message \"" + e.getMessage() + "\" lacks " + part);
  }

  /** Ports free on 127.0.0.1 right now (the OS hands out distinct ephemeral ports). */
  static int[] freePorts(int n) throws IOException {
    int[] ports = new int[n];
    List<ServerSocket> open = new ArrayList<>();
    try {
      for (int i = 0; i < n; i++) {
        ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        open.add(s);
        ports[i] = s.getLocalPort();
      }
    } finally {
      for (ServerSocket s : open) {
        s.close();
      }
    }
    return ports;
  }
}
