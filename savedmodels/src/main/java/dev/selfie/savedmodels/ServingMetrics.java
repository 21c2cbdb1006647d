package dev.selfie.savedmodels;

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
 * The REST server's Prometheus metrics, served at TF Serving's path
 * {@code /monitoring/prometheus/metrics} (text format 0.0.4): requests by kind and status code,
 * request latency, rows per session run (batch sizes), and queue depths.
 */
final class RestMetrics {

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final Counter requests;
  private final Histogram latency;
  private final Histogram batchRows;
  private final Set<ModelServer> watched = Collections.newSetFromMap(new WeakHashMap<>());
  private final PrometheusTextFormatWriter writer = new PrometheusTextFormatWriter(false);

  /** @param waiting requests queued for a worker thread */
  RestMetrics(IntSupplier waiting) {
    requests = Counter.builder().name("selfie_serving_requests_total")
        .help("HTTP requests answered, by kind (predict, classify, status, metadata, metrics,"
            + " other) and status code")
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
        .help("Requests waiting: for an HTTP worker (queue=http) or inside the model for a batch"
            + " (queue=model)")
        .labelNames("queue")
        .callback(cb -> {
          cb.call(waiting.getAsInt(), "http");
          cb.call(modelQueued(), "model");
        })
        .register(registry);
  }

  /** Counts one answered request. */
  void observe(String kind, int code, long nanos) {
    requests.labelValues(kind, Integer.toString(code)).inc();
    latency.labelValues(kind).observe(nanos / 1e9);
  }

  /** Records the batch sizes of {@code model} from now on (once per model). */
  void watch(ModelServer model) {
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
  byte[] scrape() throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    writer.write(out, registry.scrape());
    return out.toByteArray();
  }

  static final String CONTENT_TYPE = PrometheusTextFormatWriter.CONTENT_TYPE;

  /** The kind label of a request path. */
  static String kind(String path) {
    if (path.endsWith(":predict")) {
      return "predict";
    }
    if (path.endsWith(":classify")) {
      return "classify";
    }
    if (path.equals(RestRoute.METRICS)) {
      return "metrics";
    }
    if (path.endsWith("/metadata")) {
      return "metadata";
    }
    return path.startsWith(RestRoute.PREFIX) && path.indexOf(':') < 0 ? "status" : "other";
  }
}
