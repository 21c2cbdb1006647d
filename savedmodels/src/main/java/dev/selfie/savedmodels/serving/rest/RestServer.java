package dev.selfie.savedmodels.serving.rest;

import dev.selfie.savedmodels.serving.ModelServer;
import dev.selfie.savedmodels.serving.Servables;
import dev.selfie.savedmodels.serving.ServingMetrics;
import io.undertow.Undertow;
import io.undertow.UndertowOptions;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.handlers.GracefulShutdownHandler;
import io.undertow.util.Headers;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.tensorflow.exceptions.TFInvalidArgumentException;

/**
 * An HTTP server speaking TensorFlow Serving's REST API for {@link ModelServer}s, so clients
 * written for TF Serving work unchanged:
 *
 * <ul>
 *   <li>{@code GET /v1/models/NAME[/versions/V]}: model status
 *       ({@code {"model_version_status":[{"version":"1","state":"AVAILABLE",...}]}}).
 *   <li>{@code GET /v1/models/NAME[/versions/V]/metadata}: the signature defs (dtypes, shapes).
 *   <li>{@code POST /v1/models/NAME[/versions/V]:predict}: body {@code {"signature_name": ...,
 *       "instances": [...]}} (row format, answered with {@code {"predictions": [...]}}) or
 *       {@code {"inputs": ...}} (columnar, answered with {@code {"outputs": ...}}). With one
 *       input, an instance (or {@code inputs}) is the value itself; with several, an object by
 *       input name. With one output, a prediction is the value itself; with several, an object.
 *   <li>{@code POST .../NAME:classify}: {@code {"results": [[[label, score], ...], ...]}}; {@code
 *       GET /monitoring/prometheus/metrics}: {@link ServingMetrics}.
 * </ul>
 *
 * <p>Errors are {@code {"error": "..."}}: 400 for a malformed or mismatching request (bad JSON,
 * wrong shape or dtype, unknown signature), 404 for an unknown model, version or path, 405 for a
 * wrong method, 413 for a body over the limit, 503 when a queue is full or the server is stopping,
 * 504 when the model did not answer within the request timeout. The server keeps serving after
 * any of them.
 *
 * <p>HTTP is Undertow's: requests are parsed and bodies read on its non-blocking IO threads (a
 * client that stalls mid-request holds no worker thread and is cut off after the request
 * timeout), keep-alive connections idle longer than the idle timeout are closed. Complete requests
 * go to a fixed pool of worker threads through a bounded queue; when it is full the request is
 * answered 503 at once. This class is the HTTP side and the server's lifecycle; routing is
 * {@link RestRoute}, the answers {@link RestService}, bodies {@link RestMessages}, tensors
 * {@link JsonTensorCodec}.
 *
 * <p>Binds 127.0.0.1 by default; port 0 picks a free port ({@link #port()}).
 */
public final class RestServer implements AutoCloseable {

  /**
   * @param host address to bind (127.0.0.1: local only)
   * @param port TCP port, 0 for any free port
   * @param maxBodyBytes largest request body accepted (larger: 413)
   * @param threads request-handling (worker) threads
   * @param version the model version reported and accepted in {@code /versions/V} when serving a
   *     fixed map of models ({@link #start(Map, Options)})
   * @param queueCapacity complete requests waiting for a worker; beyond it: 503
   * @param requestTimeout longest a client may take to send a request (headers, or a pause in
   *     the body) and longest a request waits for the model (then 504)
   * @param idleTimeout a keep-alive connection with no request for this long is closed
   */
  public record Options(String host, int port, long maxBodyBytes, int threads, long version,
      int queueCapacity, Duration requestTimeout, Duration idleTimeout) {
    /**
     * @throws IllegalArgumentException for a port outside 0-65535, a negative version, or a
     *     size, count or timeout below 1 (or a null timeout)
     */
    public Options {
      if (port < 0 || port > 65535 || maxBodyBytes < 1 || threads < 1 || version < 0
          || queueCapacity < 1 || requestTimeout == null || requestTimeout.toMillis() < 1
          || idleTimeout == null || idleTimeout.toMillis() < 1) {
        throw new IllegalArgumentException("bad REST server options: " + this);
      }
    }

    /**
     * 127.0.0.1:8501 (TF Serving's REST port), 64 MiB bodies, 16 threads, version 1, 256 queued
     * requests, 30 s request timeout, 60 s idle timeout.
     */
    public static Options defaults() {
      return new Options("127.0.0.1", 8501, 64L << 20, 16, 1, 256, Duration.ofSeconds(30),
          Duration.ofSeconds(60));
    }

    /** These options on port {@code p} (0: any free port). */
    public Options withPort(int p) {
      return new Options(host, p, maxBodyBytes, threads, version, queueCapacity, requestTimeout,
          idleTimeout);
    }

    /** These options accepting request bodies of up to {@code n} bytes (larger: 413). */
    public Options withMaxBodyBytes(long n) {
      return new Options(host, port, n, threads, version, queueCapacity, requestTimeout,
          idleTimeout);
    }

    /** These options with {@code n} worker threads and {@code queue} requests waiting. */
    public Options withThreads(int n, int queue) {
      return new Options(host, port, maxBodyBytes, n, version, queue, requestTimeout,
          idleTimeout);
    }

    /** These options with the given request and idle timeouts (see {@link Options}). */
    public Options withTimeouts(Duration request, Duration idle) {
      return new Options(host, port, maxBodyBytes, threads, version, queueCapacity, request,
          idle);
    }
  }

  /** Most bytes of an over-limit body read and discarded so that the 413 reaches the client. */
  private static final long DRAIN_CAP = 16L << 20;

  /** Undertow, XNIO and JBoss Threads log their versions at INFO on start: warnings only. */
  private static final java.util.List<java.util.logging.Logger> QUIET =
      java.util.stream.Stream.of("io.undertow", "org.xnio", "org.jboss.threads")
          .map(java.util.logging.Logger::getLogger).toList();

  static {
    QUIET.forEach(l -> l.setLevel(java.util.logging.Level.WARNING));
  }

  private final RestService service;
  private final Options options;
  private final Undertow http;
  private final GracefulShutdownHandler graceful;
  private final ThreadPoolExecutor pool;
  private final int port;
  private final ServingMetrics metrics;

  private RestServer(Servables models, Options options) {
    this.options = options;
    this.pool = new ThreadPoolExecutor(options.threads(), options.threads(), 60, TimeUnit.SECONDS,
        new ArrayBlockingQueue<>(options.queueCapacity()),
        r -> {
          Thread t = new Thread(r, "rest-worker");
          t.setDaemon(true);
          return t;
        },
        new ThreadPoolExecutor.AbortPolicy());
    this.metrics = new ServingMetrics(() -> pool.getQueue().size());
    this.service = new RestService(models, metrics, options.requestTimeout());
    this.graceful = new GracefulShutdownHandler(this::accept);
    int requestMs = (int) Math.min(Integer.MAX_VALUE, options.requestTimeout().toMillis());
    int idleMs = (int) Math.min(Integer.MAX_VALUE, options.idleTimeout().toMillis());
    this.http = Undertow.builder()
        .addHttpListener(options.port(), options.host())
        .setIoThreads(2)
        .setWorkerThreads(2) // Undertow's own pool is unused: requests go to `pool`
        .setServerOption(UndertowOptions.REQUEST_PARSE_TIMEOUT, requestMs)
        .setServerOption(UndertowOptions.NO_REQUEST_TIMEOUT, idleMs)
        .setServerOption(UndertowOptions.ALWAYS_SET_KEEP_ALIVE, true)
        .setServerOption(UndertowOptions.ALWAYS_SET_DATE, false)
        .setServerOption(UndertowOptions.RECORD_REQUEST_START_TIME, true)
        .setSocketOption(org.xnio.Options.READ_TIMEOUT, requestMs)
        .setSocketOption(org.xnio.Options.WRITE_TIMEOUT, requestMs)
        .setSocketOption(org.xnio.Options.TCP_NODELAY, true)
        .setHandler(graceful)
        .build();
    http.start();
    this.port = ((InetSocketAddress) http.getListenerInfo().get(0).getAddress()).getPort();
  }

  /**
   * Starts serving {@code models} by name, each as version {@code options.version()}. The caller
   * keeps ownership of the model servers (close them after this server).
   */
  public static RestServer start(Map<String, ModelServer> models, Options options)
      throws IOException {
    if (models.isEmpty()) {
      throw new IllegalArgumentException("no model to serve");
    }
    return start(Servables.of(models, options.version()), options);
  }

  /** Starts serving {@code models} (the caller keeps ownership of them). */
  public static RestServer start(Servables models, Options options) throws IOException {
    try {
      return new RestServer(models, options);
    } catch (RuntimeException e) {
      if (e.getCause() instanceof IOException io) {
        throw io; // port in use, unknown host
      }
      throw e;
    }
  }

  /** The bound port. */
  public int port() {
    return port;
  }

  /**
   * The metrics this server exposes, for a {@link dev.selfie.savedmodels.serving.grpc.GrpcServer}
   * to count its calls in.
   */
  public ServingMetrics metrics() {
    return metrics;
  }

  /** {@code http://host:port}. */
  public URI baseUri() {
    return URI.create("http://" + options.host() + ":" + port());
  }

  /**
   * Graceful stop: new requests are answered 503, requests in flight finish (up to the request
   * timeout), then the listener and the threads stop.
   */
  @Override
  public void close() {
    graceful.shutdown();
    try {
      graceful.awaitShutdown(options.requestTimeout().toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    http.stop();
    pool.shutdownNow();
  }

  /** On an IO thread: route, then read the body without blocking, then queue for a worker. */
  private void accept(HttpServerExchange ex) {
    RestRoute route;
    try {
      route = RestRoute.parse(ex.getRequestMethod().toString(), rawPath(ex));
    } catch (HttpError e) {
      reply(ex, e.status, RestMessages.error(e.getMessage()));
      return;
    }
    if (route.verb() == null) {
      dispatch(ex, route, null);
      return;
    }
    long limit = options.maxBodyBytes();
    long declared = ex.getRequestContentLength();
    if (declared > limit + DRAIN_CAP) {
      ex.setPersistent(false);
      reply(ex, 413, tooBig(declared));
      return;
    }
    ByteArrayOutputStream body = new ByteArrayOutputStream(declared > 0 && declared <= limit
        ? (int) declared : 1024);
    long[] seen = {0};
    ex.getRequestReceiver().receivePartialBytes(
        (e, chunk, last) -> {
          seen[0] += chunk.length;
          if (seen[0] <= limit && declared <= limit) {
            body.write(chunk, 0, chunk.length);
          } else if (seen[0] > limit + DRAIN_CAP) {
            e.getRequestReceiver().pause();
            e.setPersistent(false);
            reply(e, 413, tooBig(declared));
            return;
          }
          if (last) {
            if (seen[0] > limit || declared > limit) {
              e.setPersistent(false);
              reply(e, 413, tooBig(Math.max(declared, seen[0])));
            } else {
              dispatch(e, route, body.toByteArray());
            }
          }
        },
        (e, error) -> {
          e.setPersistent(false);
          if (!e.isResponseStarted()) {
            reply(e, 400, RestMessages.error("could not read the request body: " + error));
          } else {
            e.endExchange();
          }
        });
  }

  private byte[] tooBig(long bytes) {
    return RestMessages.error("request body of " + bytes + " bytes exceeds the limit of "
        + options.maxBodyBytes() + " bytes (--max-body-mb)");
  }

  private static String rawPath(HttpServerExchange ex) {
    String uri = ex.getRequestURI();
    if (uri.startsWith("http://") || uri.startsWith("https://")) {
      int slash = uri.indexOf('/', uri.indexOf("//") + 2);
      uri = slash < 0 ? "/" : uri.substring(slash);
    }
    return uri;
  }

  /** Queues the request for a worker; a full queue is answered 503 on this thread. */
  private void dispatch(HttpServerExchange ex, RestRoute route, byte[] body) {
    ex.dispatch(
        task -> {
          try {
            pool.execute(task);
          } catch (RejectedExecutionException e) {
            reply(ex, 503, RestMessages.error("server busy: " + options.queueCapacity()
                + " requests already waiting; retry later"));
          }
        },
        e -> respond(e, route, body));
  }

  /** On a worker thread: the answer, or {@code {"error": ...}} with its status. */
  private void respond(HttpServerExchange ex, RestRoute route, byte[] body) {
    int status = 200;
    byte[] out;
    try {
      out = service.answer(route, body);
    } catch (HttpError e) {
      status = e.status;
      out = RestMessages.error(e.getMessage());
    } catch (ModelServer.BadRequestException | TFInvalidArgumentException e) {
      status = 400;
      out = RestMessages.error(e.getMessage());
    } catch (RejectedExecutionException e) {
      status = 503;
      out = RestMessages.error(e.getMessage());
    } catch (IOException | RuntimeException e) {
      status = 500;
      out = RestMessages.error("internal error: " + e);
    }
    reply(ex, status, out);
  }

  private void reply(HttpServerExchange ex, int status, byte[] body) {
    String path = rawPath(ex);
    ex.setStatusCode(status);
    ex.getResponseHeaders().put(Headers.CONTENT_TYPE,
        status == 200 && path.equals(RestRoute.METRICS) ? ServingMetrics.CONTENT_TYPE
            : "application/json");
    ex.getResponseSender().send(ByteBuffer.wrap(body));
    long start = ex.getRequestStartTime();
    metrics.observe(RestRoute.kind(path), status, start < 0 ? 0 : System.nanoTime() - start);
  }
}
