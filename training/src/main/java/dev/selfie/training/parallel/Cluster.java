package dev.selfie.training.parallel;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.DeviceSpec;
import org.tensorflow.Server;
import org.tensorflow.proto.ClusterDef;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.JobDef;
import org.tensorflow.proto.ServerDef;

/**
 * A TensorFlow cluster of one job, {@value #JOB}, with one task per machine (or process): the
 * {@code --cluster host1:port,host2:port} flag. Task 0 is the chief: its process runs the training
 * loop against its own in-process server; every task (the chief included) serves graph fragments
 * over gRPC with TensorFlow's distributed runtime.
 *
 * @param tasks {@code host:port} of each task, in task order
 */
public record Cluster(List<String> tasks) {
  private static final Logger LOG = LoggerFactory.getLogger(Cluster.class);

  /** The one job name. */
  public static final String JOB = "worker";

  public Cluster {
    if (tasks == null || tasks.isEmpty()) {
      throw new IllegalArgumentException("--cluster: no tasks given; expected host:port,host:port");
    }
    tasks = List.copyOf(tasks);
    for (int i = 0; i < tasks.size(); i++) {
      checkAddress(tasks.get(i), i);
      if (tasks.indexOf(tasks.get(i)) != i) {
        throw new IllegalArgumentException("--cluster: task " + i + " repeats the address "
            + tasks.get(i) + " of task " + tasks.indexOf(tasks.get(i)));
      }
    }
  }

  /**
   * Parses {@code host1:port,host2:port,...} (whitespace around entries ignored).
   *
   * @throws IllegalArgumentException naming the bad entry when the spec is malformed
   */
  public static Cluster parse(String spec) {
    if (spec == null || spec.isBlank()) {
      throw new IllegalArgumentException(
          "--cluster is empty; expected a comma-separated list of host:port, e.g."
              + " host1:2222,host2:2222 (task 0 first: the chief)");
    }
    List<String> tasks = new ArrayList<>();
    for (String part : spec.split(",", -1)) {
      tasks.add(part.strip());
    }
    return new Cluster(tasks);
  }

  private static void checkAddress(String a, int task) {
    String where = "--cluster: task " + task + " \"" + a + "\"";
    int colon = a.lastIndexOf(':');
    if (a.isEmpty() || colon <= 0 || colon == a.length() - 1) {
      throw new IllegalArgumentException(where + " is not host:port (e.g. 10.0.0.2:2222)");
    }
    String host = a.substring(0, colon);
    if (host.chars().anyMatch(Character::isWhitespace) || host.contains(",")) {
      throw new IllegalArgumentException(where + ": bad host \"" + host + "\"");
    }
    int port;
    try {
      port = Integer.parseInt(a.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(where + ": port \"" + a.substring(colon + 1)
          + "\" is not a number");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException(where + ": port " + port + " is not in 1..65535");
    }
  }

  /** Number of tasks. */
  public int size() {
    return tasks.size();
  }

  /** Checks {@code --task}. */
  public void checkTask(int task) {
    if (task < 0 || task >= tasks.size()) {
      throw new IllegalArgumentException("--task " + task + " is not a task of --cluster "
          + String.join(",", tasks) + " (expected 0.." + (tasks.size() - 1) + ")");
    }
  }

  /** Host of a task. */
  public String host(int task) {
    String a = tasks.get(task);
    return a.substring(0, a.lastIndexOf(':'));
  }

  /** Port of a task. */
  public int port(int task) {
    String a = tasks.get(task);
    return Integer.parseInt(a.substring(a.lastIndexOf(':') + 1));
  }

  /** The session target of a task's server: {@code grpc://localhost:port} (used in-process). */
  public String localTarget(int task) {
    return "grpc://localhost:" + port(task);
  }

  /** {@code /job:worker/replica:0/task:i}: device type left to the placer (GPU when present). */
  public DeviceSpec device(int task) {
    return DeviceSpec.newBuilder().job(JOB).replica(0).task(task).build();
  }

  /** {@code /job:worker/replica:0/task:i/device:CPU:0}. */
  public DeviceSpec cpu(int task) {
    return DeviceSpec.newBuilder().job(JOB).replica(0).task(task)
        .deviceType(DeviceSpec.DeviceType.CPU).deviceIndex(0).build();
  }

  /** The ServerDef of task {@code task}: this cluster, gRPC, and the session defaults. */
  public ServerDef serverDef(int task, ConfigProto sessionConfig) {
    checkTask(task);
    JobDef.Builder job = JobDef.newBuilder().setName(JOB);
    for (int i = 0; i < tasks.size(); i++) {
      job.putTasks(i, tasks.get(i));
    }
    ServerDef.Builder b = ServerDef.newBuilder()
        .setCluster(ClusterDef.newBuilder().addJob(job))
        .setJobName(JOB)
        .setTaskIndex(task)
        .setProtocol("grpc");
    if (sessionConfig != null) {
      b.setDefaultSessionConfig(sessionConfig);
    }
    return b.build();
  }

  /**
   * Starts the in-process server of {@code task} (it binds {@code 0.0.0.0:port}). TensorFlow Java
   * cannot stop a server: it serves until the process exits.
   *
   * @throws IllegalStateException naming the address when the server cannot start (port in use)
   */
  public Server startServer(int task, ConfigProto sessionConfig) {
    Server server;
    try {
      server = new Server(serverDef(task, sessionConfig));
      server.start();
    } catch (RuntimeException e) {
      throw new IllegalStateException("cannot start the TensorFlow server of task " + task
          + " on " + tasks.get(task) + " (port in use? wrong --task?): " + e.getMessage(), e);
    }
    return server;
  }

  /**
   * Waits until every task other than {@code self} accepts TCP connections on its port, retrying
   * every 200 ms, so that a missing worker is reported instead of TensorFlow's master waiting for
   * it forever.
   *
   * @throws IllegalStateException naming each unreachable task once {@code timeout} has passed
   */
  public void awaitTasks(int self, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    List<Integer> pending = new ArrayList<>();
    for (int i = 0; i < tasks.size(); i++) {
      if (i != self) {
        pending.add(i);
      }
    }
    boolean announced = false;
    while (true) {
      pending.removeIf(this::reachable);
      if (pending.isEmpty()) {
        return;
      }
      if (System.nanoTime() > deadline) {
        StringBuilder sb = new StringBuilder("cluster task(s) unreachable after "
            + timeout.toSeconds() + " s:");
        for (int i : pending) {
          sb.append(" task ").append(i).append(" (").append(tasks.get(i)).append(")");
        }
        sb.append(". Start `selfie worker --cluster ").append(String.join(",", tasks))
            .append(" --task N` on each of them first, and check the host names and firewall.");
        throw new IllegalStateException(sb.toString());
      }
      if (!announced) {
        LOG.info("waiting for cluster task(s) " + pending + " (up to " + timeout.toSeconds()
            + " s)...");
        announced = true;
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for cluster tasks", e);
      }
    }
  }

  private boolean reachable(int task) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(host(task), port(task)), 1000);
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
