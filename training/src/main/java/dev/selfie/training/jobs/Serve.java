package dev.selfie.training.jobs;

import dev.selfie.savedmodels.serving.grpc.GrpcServer;
import dev.selfie.savedmodels.serving.ModelServer;
import dev.selfie.savedmodels.serving.rest.RestServer;
import dev.selfie.savedmodels.serving.VersionedModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves one SavedModel over TensorFlow Serving's REST and gRPC APIs ({@code selfie serve}): a
 * batching {@link ModelServer} behind a {@link RestServer} at
 * {@code http://HOST:PORT/v1/models/NAME} and a {@link GrpcServer} at {@code HOST:GRPC_PORT}
 * (both feed the same batching queues and count in the same metrics).
 */
public final class Serve {
  private static final Logger LOG = LoggerFactory.getLogger(Serve.class);

  private Serve() {}

  /** A {@code grpcPort} asking for any free port (tests; the CLI's 0 means no gRPC). */
  public static final int ANY_PORT = -1;

  /**
   * @param model a SavedModel directory or a run directory with {@code savedmodel/}
   * @param host address to bind (127.0.0.1: this machine only; 0.0.0.0: every interface)
   * @param port TCP port of the REST API (0: any free port)
   * @param grpcPort TCP port of the gRPC API, on the same host (0: no gRPC server; {@link
   *     #ANY_PORT}: any free port)
   * @param name the model's name in the URLs
   * @param maxBatch most rows one session run takes (requests are batched up to it)
   * @param maxLatency longest a request waits for others to join its batch
   * @param threads HTTP request threads (the gRPC server, which does not block while the model
   *     runs, has a quarter of them, at least 2)
   * @param maxBodyMb largest request body in MiB (larger: 413), and largest gRPC message
   * @param requestTimeout longest a client may stall while sending a request, and longest a
   *     request waits for the model (then 504)
   * @param idleTimeout keep-alive connections idle this long are closed
   * @param poll how often a base directory of versions is checked for a new version
   */
  public record Options(Path model, String host, int port, int grpcPort, String name, int maxBatch,
      Duration maxLatency, int threads, int maxBodyMb, Duration requestTimeout,
      Duration idleTimeout, Duration poll) {
    public Options {
      if (model == null) {
        throw new IllegalArgumentException("--model must be given");
      }
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("--port must be in 0..65535, got " + port);
      }
      if (grpcPort < ANY_PORT || grpcPort > 65535) {
        throw new IllegalArgumentException("--grpc-port must be in 0..65535 (0: off), got "
            + grpcPort);
      }
      if (grpcPort != 0 && grpcPort == port) {
        throw new IllegalArgumentException("--grpc-port must differ from --port, both are "
            + port);
      }
      if (name == null || !name.matches("[A-Za-z0-9._-]+")) {
        throw new IllegalArgumentException("--name must be letters, digits, '.', '_' or '-', got '"
            + name + "'");
      }
      if (maxBatch < 1) {
        throw new IllegalArgumentException("--max-batch must be >= 1, got " + maxBatch);
      }
      if (maxLatency == null || maxLatency.isNegative()) {
        throw new IllegalArgumentException("--max-latency-ms must be >= 0, got " + maxLatency);
      }
      if (threads < 1) {
        throw new IllegalArgumentException("--threads must be >= 1, got " + threads);
      }
      if (maxBodyMb < 1 || maxBodyMb > 2047) {
        throw new IllegalArgumentException("--max-body-mb must be in 1..2047, got " + maxBodyMb);
      }
      if (requestTimeout == null || requestTimeout.toMillis() < 1) {
        throw new IllegalArgumentException("--request-timeout-s must be > 0, got "
            + requestTimeout);
      }
      if (idleTimeout == null || idleTimeout.toMillis() < 1) {
        throw new IllegalArgumentException("--idle-timeout-s must be > 0, got " + idleTimeout);
      }
      if (poll == null || poll.toMillis() < 1) {
        throw new IllegalArgumentException("--poll-s must be > 0, got " + poll);
      }
    }

    /**
     * With gRPC on 8500, the default body limit (64 MiB) and timeouts (request 30 s, idle 60 s).
     */
    public Options(Path model, String host, int port, String name, int maxBatch,
        Duration maxLatency, int threads) {
      this(model, host, port, 8500, name, maxBatch, maxLatency, threads, 64,
          Duration.ofSeconds(30), Duration.ofSeconds(60), Duration.ofSeconds(1));
    }

    /**
     * 127.0.0.1:8501 (REST) and 8500 (gRPC), name {@code selfie}, batches of up to 64 rows,
     * 2 ms, 16 threads.
     */
    public static Options defaults(Path model) {
      return new Options(model, "127.0.0.1", 8501, "selfie", 64, Duration.ofMillis(2), 16);
    }

    public Options withPort(int p) {
      return new Options(model, host, p, grpcPort, name, maxBatch, maxLatency, threads,
          maxBodyMb, requestTimeout, idleTimeout, poll);
    }

    /** With the gRPC server on port {@code p} (0: none). */
    public Options withGrpcPort(int p) {
      return new Options(model, host, port, p, name, maxBatch, maxLatency, threads, maxBodyMb,
          requestTimeout, idleTimeout, poll);
    }

    public Options withPoll(Duration every) {
      return new Options(model, host, port, grpcPort, name, maxBatch, maxLatency, threads,
          maxBodyMb, requestTimeout, idleTimeout, every);
    }

    /** The HTTP server's options. */
    RestServer.Options rest() {
      return new RestServer.Options(host, port, (long) maxBodyMb << 20, threads, 1,
          Math.max(64, 16 * threads), requestTimeout, idleTimeout);
    }

    /**
     * The gRPC server's options: same host, body limit, timeouts and queue bound as REST. Its
     * threads only decode and encode (the model runs on its own workers), hence fewer of them.
     */
    GrpcServer.Options grpc() {
      return new GrpcServer.Options(host, grpcPort == ANY_PORT ? 0 : grpcPort, maxBodyMb << 20,
          Math.max(2, threads / 4), Math.max(64, 16 * threads), requestTimeout, idleTimeout);
    }
  }

  /**
   * A running server; {@link #close} stops the REST and gRPC servers (both stop accepting, then
   * let the requests in flight finish), then frees the model.
   */
  public static final class Running implements AutoCloseable {
    private final VersionedModel model;
    private final RestServer rest;
    private final GrpcServer grpc;
    private final String name;
    private boolean closed;

    private Running(VersionedModel model, RestServer rest, GrpcServer grpc, String name) {
      this.model = model;
      this.rest = rest;
      this.grpc = grpc;
      this.name = name;
    }

    /** {@code http://host:port/v1/models/NAME}. */
    public URI modelUri() {
      return URI.create(rest.baseUri() + "/v1/models/" + name);
    }

    /** The bound port. */
    public int port() {
      return rest.port();
    }

    /** The gRPC server's bound port, 0 if there is none. */
    public int grpcPort() {
      return grpc == null ? 0 : grpc.port();
    }

    /** The gRPC target {@code host:port}, null if there is no gRPC server. */
    public String grpcTarget() {
      return grpc == null ? null : grpc.target();
    }

    /** The latest version served (signatures, counters). */
    public ModelServer model() {
      return model.latest().getValue();
    }

    /** The model with its versions. */
    public VersionedModel versions() {
      return model;
    }

    @Override
    public synchronized void close() {
      if (!closed) {
        closed = true;
        if (grpc != null) {
          grpc.shutdown(); // stops accepting now; its calls in flight finish while REST drains
        }
        rest.close();
        if (grpc != null) {
          grpc.close();
        }
        model.close();
      }
    }
  }

  /**
   * Loads the model and starts serving; logs the URL and the signatures. A base directory of
   * versions (or a run directory with {@code savedmodel/<version>/}) is polled for new versions.
   */
  public static Running start(Options o) {
    ModelDir.Located at = ModelDir.locate(o.model(), "--model");
    ModelServer.Options batching = new ModelServer.Options(o.maxBatch(), o.maxLatency(), 4096, 1);
    VersionedModel model = at.base() == null
        ? VersionedModel.fixed(o.name(), at.dir(), at.version(), batching)
        : VersionedModel.watch(o.name(), at.base(), batching, o.poll(), o.requestTimeout(),
            msg -> {
              LOG.info(msg);
            });
    RestServer rest;
    try {
      rest = RestServer.start(model, o.rest());
    } catch (IOException e) {
      model.close();
      throw new UncheckedIOException("cannot listen on " + o.host() + ":" + o.port() + ": "
          + e.getMessage(), e);
    } catch (RuntimeException e) {
      model.close();
      throw e;
    }
    GrpcServer grpc = null;
    if (o.grpcPort() != 0) {
      try {
        grpc = GrpcServer.start(model, o.grpc(), rest.metrics());
      } catch (IOException e) {
        rest.close();
        model.close();
        throw new UncheckedIOException("cannot listen on " + o.host() + ":" + o.grpcPort()
            + " (--grpc-port; 0 turns gRPC off): " + e.getMessage(), e);
      } catch (RuntimeException e) {
        rest.close();
        model.close();
        throw e;
      }
    }
    Running r = new Running(model, rest, grpc, o.name());
    StringBuilder sigs = new StringBuilder();
    r.model().signatures().forEach((k, s) -> sigs.append(sigs.length() == 0 ? "" : ", ")
        .append(k).append(' ').append(s.inputs().keySet()).append(" -> ")
        .append(s.outputs().keySet()));
    LOG.info(String.format(
        "serving %s as '%s' version %d: %s", at.dir(), o.name(), at.version(), sigs));
    if (at.base() != null) {
      LOG.info(String.format(
          "watching %s for new versions (every %d ms)", at.base(), o.poll().toMillis()));
    }
    LOG.info(String.format(
        "listening on %s (batches of up to %d rows, %d ms)", r.modelUri(), o.maxBatch(),
        o.maxLatency().toMillis()));
    LOG.info(String.format("  curl -d '{\"instances\": [...]}' %s:predict", r.modelUri()));
    if (grpc != null) {
      LOG.info(String.format(
          "gRPC on %s (tensorflow.serving.PredictionService: Predict, GetModelMetadata;"
          + " ModelService: GetModelStatus)", r.grpcTarget()));
    }
    return r;
  }
}
