package dev.selfie.savedmodels.serving.rest;

import dev.selfie.savedmodels.serving.ModelServer;
import dev.selfie.savedmodels.serving.Servables;
import dev.selfie.savedmodels.serving.ServingMetrics;
import dev.selfie.savedmodels.serving.HostTensor;
import dev.selfie.graph.Endpoints;
import dev.selfie.savedmodels.SavedModelExporter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.WeakHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The implementation of TensorFlow Serving's REST API for {@link RestServer}, without HTTP: a
 * routed request ({@link RestRoute}) and its body in, the JSON answer out ({@link
 * RestMessages}), or an {@link HttpError}. Looks the model and version up in {@link Servables},
 * answers status and metadata, runs {@code :predict} and {@code :classify} on the model's queue
 * and waits for it up to the request timeout (then 504).
 */
final class RestService {

  private final Servables models;
  private final ServingMetrics metrics;
  private final Duration requestTimeout;
  private final Map<ModelServer, List<String>> classNames =
      Collections.synchronizedMap(new WeakHashMap<>());

  RestService(Servables models, ServingMetrics metrics, Duration requestTimeout) {
    this.models = models;
    this.metrics = metrics;
    this.requestTimeout = requestTimeout;
  }

  /**
   * The answer to a request (on a worker thread: may wait for the model).
   *
   * @param body the request body of a POST, null for a GET
   * @throws HttpError 404 for an unknown model or version, 400 for a bad request or verb, 504
   *     when the model did not answer in time, 503 when interrupted
   */
  byte[] answer(RestRoute route, byte[] body) throws HttpError, IOException {
    if (route.isMetrics()) {
      return metrics.scrape();
    }
    NavigableMap<Long, ModelServer> versions = models.versions(route.name());
    Map.Entry<Long, ModelServer> found = Servables.find(versions, route.version());
    if (found == null) {
      throw new HttpError(404, "Servable not found for request: " + route.servable());
    }
    long version = found.getKey();
    ModelServer model = found.getValue();
    if (route.verb() == null) {
      if (route.metadata()) {
        return RestMessages.metadata(route.name(), version, model);
      }
      return RestMessages.status(route.version() == null ? versions.keySet()
          : List.of(version));
    }
    boolean classify = route.verb().equals("classify");
    if (!classify && !route.verb().equals("predict")) {
      throw new HttpError(400, "unsupported verb ':" + route.verb()
          + "': this server implements :predict and :classify");
    }
    metrics.watch(model);
    RestMessages.PredictRequest req =
        RestMessages.PredictRequest.parse(body, model.signatures(), classify);
    Map<String, HostTensor> out;
    try {
      out = model.submit(req.signature(), req.inputs())
          .get(requestTimeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException(e.getCause());
    } catch (TimeoutException e) {
      throw new HttpError(504, "the model did not answer within " + requestTimeout);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new HttpError(503, "server stopping");
    }
    return classify
        ? RestMessages.classifyResponse(req.signature(), out, classNames(model))
        : RestMessages.predictResponse(req, out);
  }

  /** {@code assets.extra/class_names.txt} of the model (null if it has none), read once. */
  private List<String> classNames(ModelServer model) throws IOException {
    List<String> names = classNames.get(model);
    if (names == null) {
      byte[] file =
          SavedModelExporter.readExtraFiles(model.directory()).get(Endpoints.CLASS_NAMES_FILE);
      names = file == null ? List.of()
          : new String(file, StandardCharsets.UTF_8).lines()
              .map(String::strip).filter(l -> !l.isEmpty()).toList();
      classNames.put(model, names);
    }
    return names.isEmpty() ? null : names;
  }
}
