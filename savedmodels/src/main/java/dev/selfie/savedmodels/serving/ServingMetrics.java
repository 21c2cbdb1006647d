package dev.selfie.savedmodels.serving;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Collections;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.function.IntSupplier;

/**
 * The Prometheus metrics of {@code selfie serve}, served by the REST server at TF Serving's path
 * {@code /monitoring/prometheus/metrics} (text format 0.0.4): requests by kind and status code,
 * request latency, rows per session run (batch sizes), and queue depths. The REST server owns
 * them ({@link dev.selfie.savedmodels.serving.rest.RestServer#metrics()}); a {@link dev.selfie.savedmodels.serving.grpc.GrpcServer} started with them counts its calls
 * in the same metrics (kinds {@code grpc_predict}, {@code grpc_metadata}, {@code grpc_status},
 * {@code grpc_other}, with the gRPC status code name as the code: {@code OK},
 * {@code INVALID_ARGUMENT}, ...).
 */
public final class ServingMetrics {

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final Counter requests;
  private final Histogram latency;
  private final Histogram batchRows;
  private final Set<ModelServer> watched = Collections.newSetFromMap(new WeakHashMap<>());
  private final PrometheusTextFormatWriter writer = new PrometheusTextFormatWriter(false);
  private volatile IntSupplier grpcWaiting;

  /** @param waiting requests queued for a worker thread */
  public ServingMetrics(IntSupplier waiting) {
    requests = Counter.builder().name("selfie_serving_requests_total")
        .help("Requests answered, by kind (REST: predict, classify, status, metadata, metrics,"
            + " other, with the HTTP status code; gRPC: grpc_predict, grpc_metadata, grpc_status,"
            + " grpc_other, with the gRPC status code name)")
        .labelNames("kind", "code").register(registry);
    latency = Histogram.builder().name("selfie_serving_request_duration_seconds")
        .help("Time from the request's arrival to the answer, by kind")
        .labelNames("kind")
        .classicOnly()
        .classicUpperBounds(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2,
            5, 10, 30)
        .register(registry);
    batchRows = Histogram.builder().name("selfie_serving_batch_rows")
        .help("Rows (images) per session run: the batch sizes the batching queue formed")
        .classicOnly()
        .classicUpperBounds(1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
        .register(registry);
    GaugeWithCallback.builder().name("selfie_serving_queue_depth")
        .help("Requests waiting: for an HTTP worker (queue=http), for a gRPC thread"
            + " (queue=grpc) or inside the model for a batch (queue=model)")
        .labelNames("queue")
        .callback(cb -> {
          cb.call(waiting.getAsInt(), "http");
          IntSupplier grpc = grpcWaiting;
          if (grpc != null) {
            cb.call(grpc.getAsInt(), "grpc");
          }
          cb.call(modelQueued(), "model");
        })
        .register(registry);
  }

  /** Counts one answered request. */
  public void observe(String kind, int code, long nanos) {
    observe(kind, Integer.toString(code), nanos);
  }

  /** Counts one answered request whose code is a name (gRPC status codes). */
  public void observe(String kind, String code, long nanos) {
    requests.labelValues(kind, code).inc();
    latency.labelValues(kind).observe(nanos / 1e9);
  }

  /** Reports the gRPC server's waiting calls as {@code queue="grpc"} from now on. */
  public void grpcQueue(IntSupplier waiting) {
    grpcWaiting = waiting;
  }

  /** Records the batch sizes of {@code model} from now on (once per model). */
  public void watch(ModelServer model) {
    synchronized (watched) {
      if (watched.add(model)) {
        model.onBatch(batchRows::observe);
      }
    }
  }

  private int modelQueued() {
    synchronized (watched) {
      return watched.stream().mapToInt(ModelServer::queued).sum();
    }
  }

  /** The text exposition of every metric. */
  public byte[] scrape() throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    writer.write(out, registry.scrape());
    return out.toByteArray();
  }

  /** The media type of {@link #scrape}. */
  public static final String CONTENT_TYPE = PrometheusTextFormatWriter.CONTENT_TYPE;
}
