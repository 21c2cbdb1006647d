package dev.selfie.savedmodels.serving.grpc;

import dev.selfie.savedmodels.serving.ModelServer;
import dev.selfie.savedmodels.serving.Servables;
import dev.selfie.savedmodels.serving.ServingMetrics;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * TensorFlow Serving's gRPC API for {@link ModelServer}s, so TF Serving's gRPC clients (e.g.
 * {@code tensorflow_serving.apis.prediction_service_pb2_grpc.PredictionServiceStub}) work
 * unchanged:
 *
 * <ul>
 *   <li>{@code tensorflow.serving.PredictionService/Predict}: {@code model_spec} (name, optional
 *       version, signature_name, default {@code serving_default}), {@code inputs} by alias,
 *       optional {@code output_filter}; answered with the outputs and the model spec that ran.
 *   <li>{@code PredictionService/GetModelMetadata}: {@code metadata_field: "signature_def"} gives
 *       a packed {@code SignatureDefMap} of every serving signature.
 *   <li>{@code tensorflow.serving.ModelService/GetModelStatus}: the loaded version(s), AVAILABLE.
 * </ul>
 *
 * <p>Messages are generated from {@code src/main/proto} (TF Serving's packages, names and field
 * numbers); tensors are TensorFlow Java's {@code TensorProto} ({@link TensorProtoCodec}). This
 * class is the server's lifecycle (threads, listener, timeouts, metrics); the services are
 * {@link GrpcServices}, the message conversions {@link GrpcMessages}.
 *
 * <p>The REST server's semantics: the same model lookup ({@link Servables}), version handling,
 * signatures, batching (requests go to the same {@link ModelServer} queues, so REST and gRPC
 * requests batch together) and limits. Errors are gRPC status codes: {@code INVALID_ARGUMENT}
 * for a request that does not match the signature (naming the input), {@code NOT_FOUND} for an
 * unknown model, version or signature, {@code UNAVAILABLE} when the server is full or stopping,
 * {@code DEADLINE_EXCEEDED} when the model did not answer within the request timeout,
 * {@code INTERNAL} otherwise; the server keeps serving after any of them. Every call is counted
 * in the {@link ServingMetrics} given.
 *
 * <p>Calls are handled without blocking a thread while the model runs: a call is decoded and
 * queued for the model on one of {@code threads} threads, and answered when the model is done.
 * At most {@code threads + queueCapacity} calls are in flight; beyond that a call is answered
 * {@code UNAVAILABLE} at once. Messages larger than {@code maxMessageBytes} are refused
 * ({@code RESOURCE_EXHAUSTED}, by gRPC). A call whose request has not fully arrived within the
 * request timeout (a client that stalls mid-message) is answered {@code DEADLINE_EXCEEDED}; its
 * bytes are read by Netty's IO threads meanwhile, so it holds no gRPC thread. Binds 127.0.0.1
 * by default; port 0 picks a free port.
 */
public final class GrpcServer implements AutoCloseable {

  /**
   * @param host address to bind (127.0.0.1: local only)
   * @param port TCP port, 0 for any free port
   * @param maxMessageBytes largest request message accepted
   * @param threads threads decoding calls and encoding answers
   * @param queueCapacity calls in flight beyond {@code threads}; beyond it: UNAVAILABLE
   * @param requestTimeout longest a client may take to send a call's request, longest a call
   *     waits for the model (both then DEADLINE_EXCEEDED) and longest a graceful stop waits for
   *     calls in flight
   * @param idleTimeout a connection with no call for this long is closed
   */
  public record Options(String host, int port, int maxMessageBytes, int threads,
      int queueCapacity, Duration requestTimeout, Duration idleTimeout) {
    /**
     * @throws IllegalArgumentException for a port outside 0-65535, or a size, count or timeout
     *     below 1 (or a null timeout)
     */
    public Options {
      if (port < 0 || port > 65535 || maxMessageBytes < 1 || threads < 1 || queueCapacity < 1
          || requestTimeout == null || requestTimeout.toMillis() < 1 || idleTimeout == null
          || idleTimeout.toMillis() < 1) {
        throw new IllegalArgumentException("bad gRPC server options: " + this);
      }
    }

    /**
     * 127.0.0.1:8500 (TF Serving's gRPC port), 64 MiB messages, 4 threads, 256 calls waiting,
     * 30 s request timeout, 60 s idle timeout.
     */
    public static Options defaults() {
      return new Options("127.0.0.1", 8500, 64 << 20, 4, 256, Duration.ofSeconds(30),
          Duration.ofSeconds(60));
    }

    /** These options on port {@code p} (0: any free port). */
    public Options withPort(int p) {
      return new Options(host, p, maxMessageBytes, threads, queueCapacity, requestTimeout,
          idleTimeout);
    }

    /** These options accepting request messages of up to {@code n} bytes. */
    public Options withMaxMessageBytes(int n) {
      return new Options(host, port, n, threads, queueCapacity, requestTimeout, idleTimeout);
    }

    /** These options with request timeout {@code t} (see {@link Options}). */
    public Options withRequestTimeout(Duration t) {
      return new Options(host, port, maxMessageBytes, threads, queueCapacity, t, idleTimeout);
    }
  }

  private final Options options;
  private final ServingMetrics metrics;
  private final ThreadPoolExecutor pool;
  private final ScheduledThreadPoolExecutor timers;
  private final Server server;

  private GrpcServer(Servables models, Options options, ServingMetrics metrics)
      throws IOException {
    this.options = options;
    this.metrics = metrics;
    this.pool = new ThreadPoolExecutor(options.threads(), options.threads(), 60, TimeUnit.SECONDS,
        new LinkedBlockingQueue<>(),
        r -> {
          Thread t = new Thread(r, "grpc-worker");
          t.setDaemon(true);
          return t;
        });
    this.timers = new ScheduledThreadPoolExecutor(1, r -> {
      Thread t = new Thread(r, "grpc-receive-timeout");
      t.setDaemon(true);
      return t;
    });
    timers.setRemoveOnCancelPolicy(true); // one timer per call: cancelled ones must not pile up
    metrics.grpcQueue(() -> pool.getQueue().size());
    GrpcServices services = new GrpcServices(models, options, metrics, pool);
    this.server = NettyServerBuilder
        .forAddress(new InetSocketAddress(options.host(), options.port()))
        .executor(pool)
        .maxInboundMessageSize(options.maxMessageBytes())
        .maxConcurrentCallsPerConnection(options.threads() + options.queueCapacity())
        .maxConnectionIdle(options.idleTimeout().toMillis(), TimeUnit.MILLISECONDS)
        .handshakeTimeout(options.requestTimeout().toMillis(), TimeUnit.MILLISECONDS)
        .addService(ServerInterceptors.intercept(services.prediction(), new ReceiveTimeout(),
            new Counting()))
        .addService(ServerInterceptors.intercept(services.modelStatus(), new ReceiveTimeout(),
            new Counting()))
        .build();
    try {
      server.start();
    } catch (IOException | RuntimeException e) {
      pool.shutdownNow();
      timers.shutdownNow();
      throw e;
    }
  }

  /**
   * Starts serving {@code models}, counting calls in {@code metrics} (those of the REST server
   * beside it: {@link dev.selfie.savedmodels.serving.rest.RestServer#metrics()}). The caller
   * keeps ownership of the models.
   *
   * @throws IOException if the address cannot be bound (port in use, unknown host)
   */
  public static GrpcServer start(Servables models, Options options, ServingMetrics metrics)
      throws IOException {
    return new GrpcServer(models, options, metrics);
  }

  /** Starts serving {@code models} by name, each as version {@code version}, with own metrics. */
  public static GrpcServer start(Map<String, ModelServer> models, long version, Options options)
      throws IOException {
    if (models.isEmpty()) {
      throw new IllegalArgumentException("no model to serve");
    }
    return start(Servables.of(models, version), options, new ServingMetrics(() -> 0));
  }

  /** The bound port. */
  public int port() {
    return server.getPort();
  }

  /** {@code host:port}, the target of a gRPC channel. */
  public String target() {
    return options.host() + ":" + port();
  }

  /** Begins a graceful stop: new calls are refused, calls in flight go on ({@link #close}). */
  public void shutdown() {
    server.shutdown();
  }

  /**
   * Graceful stop: new calls are refused, calls in flight finish (up to the request timeout),
   * then the listener and the threads stop.
   */
  @Override
  public void close() {
    server.shutdown();
    try {
      if (!server.awaitTermination(options.requestTimeout().toMillis(), TimeUnit.MILLISECONDS)) {
        server.shutdownNow();
        server.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      server.shutdownNow();
      Thread.currentThread().interrupt();
    }
    pool.shutdownNow();
    timers.shutdownNow();
  }

  /**
   * Answers DEADLINE_EXCEEDED to a call whose request (message and end of stream) has not arrived
   * within the request timeout. Either the timer or the arrival of the whole request decides, once:
   * after the timer closed the call, the method is never invoked.
   */
  private final class ReceiveTimeout implements ServerInterceptor {
    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
        ServerCallHandler<Q, A> next) {
      AtomicBoolean decided = new AtomicBoolean();
      ScheduledFuture<?> timer = timers.schedule(() -> {
        if (decided.compareAndSet(false, true)) {
          call.close(Status.DEADLINE_EXCEEDED.withDescription("the request did not arrive within "
              + options.requestTimeout() + " (--request-timeout-s)"), new Metadata());
        }
      }, options.requestTimeout().toMillis(), TimeUnit.MILLISECONDS);
      ServerCall.Listener<Q> listener = next.startCall(call, headers);
      return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
        @Override
        public void onMessage(Q message) {
          if (!decided.get()) {
            super.onMessage(message);
          }
        }

        @Override
        public void onHalfClose() {
          if (decided.compareAndSet(false, true)) {
            timer.cancel(false);
            super.onHalfClose();
          }
        }

        @Override
        public void onCancel() {
          timer.cancel(false);
          super.onCancel();
        }

        @Override
        public void onComplete() {
          timer.cancel(false);
          super.onComplete();
        }
      };
    }
  }

  /** Counts every call in the metrics, by method and status code. */
  private final class Counting implements ServerInterceptor {
    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
        ServerCallHandler<Q, A> next) {
      long start = System.nanoTime();
      String kind = kind(call.getMethodDescriptor().getBareMethodName());
      return next.startCall(new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
        @Override
        public void close(Status status, Metadata trailers) {
          metrics.observe(kind, status.getCode().name(), System.nanoTime() - start);
          super.close(status, trailers);
        }
      }, headers);
    }
  }

  /** The metrics kind of a gRPC method. */
  static String kind(String method) {
    if (method == null) {
      return "grpc_other";
    }
    return switch (method) {
      case "Predict" -> "grpc_predict";
      case "GetModelMetadata" -> "grpc_metadata";
      case "GetModelStatus" -> "grpc_status";
      default -> "grpc_other";
    };
  }
}
