package dev.selfie.cli;

import dev.selfie.training.jobs.Serve;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code selfie serve}: a SavedModel over TensorFlow Serving's REST API until killed. */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    showDefaultValues = true,
    description = {
      "Serve a SavedModel over TensorFlow Serving's REST API (GET /v1/models/NAME[/versions/N],"
          + " .../metadata, POST /v1/models/NAME:predict with \"instances\" or \"inputs\","
          + " :classify, GET /monitoring/prometheus/metrics) and its gRPC API (--grpc-port:"
          + " PredictionService Predict and GetModelMetadata, ModelService GetModelStatus),"
          + " batching concurrent requests."
          + " Runs until killed (Ctrl-C or SIGTERM: requests in flight finish).",
      "Example: curl -d '{\"instances\": [[[[0], ...]]]}' http://127.0.0.1:8501/v1/models/selfie:predict"
    })
public final class ServeCommand implements Callable<Integer> {

  @Option(names = "--model", required = true,
      description = "A SavedModel directory (served as one version), a base directory of"
          + " versions (1/, 2/, ...: the highest is served and new ones are picked up), or a"
          + " run directory with savedmodel/ inside.")
  Path model;

  @Option(names = "--port", defaultValue = "8501", description = "TCP port (0: any free port).")
  int port;

  @Option(names = "--grpc-port", defaultValue = "8500",
      description = "TCP port of TF Serving's gRPC API, on the same --host (0: no gRPC).")
  int grpcPort;

  @Option(names = "--host", defaultValue = "127.0.0.1",
      description = "Address to bind, for REST and gRPC (0.0.0.0: every interface).")
  String host;

  @Option(names = "--name", defaultValue = "selfie", description = "Model name in the URLs.")
  String name;

  @Option(names = "--max-batch", defaultValue = "64",
      description = "Most rows (images) one session run takes.")
  int maxBatch;

  @Option(names = "--max-latency-ms", defaultValue = "2",
      description = "Longest a request waits for others to join its batch.")
  long maxLatencyMs;

  @Option(names = "--threads", defaultValue = "16", description = "HTTP request threads.")
  int threads;

  @Option(names = "--max-body-mb", defaultValue = "64",
      description = "Largest request body in MiB (larger: 413).")
  int maxBodyMb;

  @Option(names = "--request-timeout-s", defaultValue = "30",
      description = "Longest a client may stall while sending a request, and longest a request"
          + " waits for the model (then 504).")
  long requestTimeoutS;

  @Option(names = "--idle-timeout-s", defaultValue = "60",
      description = "Keep-alive connections without a request for this long are closed.")
  long idleTimeoutS;

  @Option(names = "--poll-s", defaultValue = "1",
      description = "How often a base directory is checked for a new version.")
  long pollS;

  /** The options as a record (no I/O): call after parsing. */
  public Serve.Options options() {
    if (maxLatencyMs < 0) {
      throw new IllegalArgumentException("--max-latency-ms must be >= 0, got " + maxLatencyMs);
    }
    if (grpcPort < 0) {
      throw new IllegalArgumentException("--grpc-port must be in 0..65535 (0: off), got "
          + grpcPort);
    }
    return new Serve.Options(model, host, port, grpcPort, name, maxBatch,
        Duration.ofMillis(maxLatencyMs), threads, maxBodyMb, Duration.ofSeconds(requestTimeoutS),
        Duration.ofSeconds(idleTimeoutS), Duration.ofSeconds(pollS));
  }

  @Override
  public Integer call() throws Exception {
    Serve.Running running = Serve.start(options());
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      running.close();
      System.out.println("selfie serve: stopped (" + running.model().stats().requests()
          + " requests served)");
      System.out.flush();
      stopped.countDown();
      // A JVM ended by SIGTERM exits 143 even when every hook finished cleanly; the servers are
      // closed and the requests in flight answered, so this was a clean stop: exit 0.
      Runtime.getRuntime().halt(0);
    }, "selfie-serve-shutdown"));
    stopped.await();
    return 0;
  }
}
