package dev.selfie.savedmodels.serving.grpc;

import dev.selfie.savedmodels.serving.ModelServer;
import dev.selfie.savedmodels.serving.Servables;
import dev.selfie.savedmodels.serving.ServingMetrics;
import dev.selfie.savedmodels.serving.HostTensor;
import dev.selfie.savedmodels.tfserving.GetModelMetadataRequest;
import dev.selfie.savedmodels.tfserving.GetModelMetadataResponse;
import dev.selfie.savedmodels.tfserving.GetModelStatusRequest;
import dev.selfie.savedmodels.tfserving.GetModelStatusResponse;
import dev.selfie.savedmodels.tfserving.ModelServiceGrpc;
import dev.selfie.savedmodels.tfserving.ModelSpec;
import dev.selfie.savedmodels.tfserving.PredictRequest;
import dev.selfie.savedmodels.tfserving.PredictResponse;
import dev.selfie.savedmodels.tfserving.PredictionServiceGrpc;
import io.grpc.BindableService;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.tensorflow.exceptions.TFInvalidArgumentException;

/**
 * The implementation of TensorFlow Serving's gRPC services for {@link GrpcServer}: {@code
 * PredictionService} (Predict, GetModelMetadata) and {@code ModelService} (GetModelStatus) over
 * {@link Servables}. Looks the model up, admits at most {@code threads + queueCapacity} calls in
 * flight, queues a Predict for the model without blocking a thread and answers when it is done
 * (or DEADLINE_EXCEEDED after the request timeout), and maps every failure to a gRPC status.
 * Messages are converted by {@link GrpcMessages}.
 */
final class GrpcServices {

  private final Servables models;
  private final GrpcServer.Options options;
  private final ServingMetrics metrics;
  private final Executor pool;
  private final AtomicInteger inFlight = new AtomicInteger();

  /**
   * @param pool where answers are encoded once the model is done (the server's gRPC executor)
   */
  GrpcServices(Servables models, GrpcServer.Options options, ServingMetrics metrics,
      Executor pool) {
    this.models = models;
    this.options = options;
    this.metrics = metrics;
    this.pool = pool;
  }

  /** {@code tensorflow.serving.PredictionService}. */
  BindableService prediction() {
    return new Prediction();
  }

  /** {@code tensorflow.serving.ModelService}. */
  BindableService modelStatus() {
    return new ModelStatus();
  }

  /** The model a spec asks for. */
  private record Found(String name, long version, ModelServer model) {}

  private Found find(ModelSpec spec) throws StatusException {
    if (spec.getName().isEmpty()) {
      throw Status.INVALID_ARGUMENT.withDescription("model_spec.name must be given")
          .asException();
    }
    if (spec.hasVersionLabel()) {
      throw Status.NOT_FOUND.withDescription("Servable not found for request: version label '"
          + spec.getVersionLabel() + "' of " + spec.getName() + " (this server has no version"
          + " labels; give model_spec.version or none for the latest)").asException();
    }
    Long version = spec.hasVersion() ? spec.getVersion().getValue() : null;
    Map.Entry<Long, ModelServer> found =
        Servables.find(models.versions(spec.getName()), version);
    if (found == null) {
      throw Status.NOT_FOUND.withDescription("Servable not found for request: "
          + Servables.describe(spec.getName(), version)).asException();
    }
    return new Found(spec.getName(), found.getKey(), found.getValue());
  }

  /** Admits a call, or refuses it when {@code threads + queueCapacity} are in flight. */
  private void admit() throws StatusException {
    int limit = options.threads() + options.queueCapacity();
    if (inFlight.incrementAndGet() > limit) {
      inFlight.decrementAndGet();
      throw Status.UNAVAILABLE.withDescription("server busy: " + limit
          + " calls already in flight; retry later").asException();
    }
  }

  /** The gRPC status of a failure while running a request. */
  private Status statusOf(Throwable e) {
    while ((e instanceof CompletionException || e instanceof ExecutionException)
        && e.getCause() != null) {
      e = e.getCause();
    }
    if (e instanceof StatusException s) {
      return s.getStatus();
    }
    if (e instanceof ModelServer.BadRequestException || e instanceof TFInvalidArgumentException) {
      return Status.INVALID_ARGUMENT.withDescription(e.getMessage());
    }
    if (e instanceof RejectedExecutionException) {
      return Status.UNAVAILABLE.withDescription(e.getMessage());
    }
    if (e instanceof TimeoutException) {
      return Status.DEADLINE_EXCEEDED.withDescription("the model did not answer within "
          + options.requestTimeout());
    }
    return Status.INTERNAL.withDescription("internal error: " + e).withCause(e);
  }

  private final class Prediction extends PredictionServiceGrpc.PredictionServiceImplBase {

    @Override
    public void predict(PredictRequest req, StreamObserver<PredictResponse> answer) {
      try {
        admit();
      } catch (StatusException e) {
        answer.onError(e);
        return;
      }
      CompletableFuture<Map<String, HostTensor>> run;
      String key;
      Found f;
      List<String> wanted;
      try {
        f = find(req.getModelSpec());
        key = GrpcMessages.signatureKey(req.getModelSpec());
        ModelServer.SignatureSpec sig = f.model().signatures().get(key);
        if (sig == null) {
          // TF Serving's code for it (predict_util.cc): clients written against it check this.
          throw Status.FAILED_PRECONDITION.withDescription("Serving signature key \"" + key
              + "\" not found; the model has " + f.model().signatures().keySet()).asException();
        }
        wanted = GrpcMessages.outputFilter(req.getOutputFilterList(), sig);
        Map<String, HostTensor> inputs = GrpcMessages.inputs(req, options.maxMessageBytes());
        metrics.watch(f.model());
        run = f.model().submit(key, inputs);
      } catch (StatusException | RuntimeException e) {
        inFlight.decrementAndGet();
        answer.onError(statusOf(e).asException());
        return;
      }
      run.orTimeout(options.requestTimeout().toMillis(), TimeUnit.MILLISECONDS)
          .whenCompleteAsync((out, error) -> {
            try {
              if (error != null) {
                answer.onError(statusOf(error).asException());
                return;
              }
              answer.onNext(GrpcMessages.predictResponse(f.name(), f.version(), key, wanted, out));
              answer.onCompleted();
            } catch (RuntimeException e) {
              answer.onError(statusOf(e).asException());
            } finally {
              inFlight.decrementAndGet();
            }
          }, pool);
    }

    @Override
    public void getModelMetadata(GetModelMetadataRequest req,
        StreamObserver<GetModelMetadataResponse> answer) {
      try {
        Found f = find(req.getModelSpec());
        GrpcMessages.checkMetadataFields(req);
        answer.onNext(GrpcMessages.metadataResponse(f.name(), f.version(), f.model()));
        answer.onCompleted();
      } catch (StatusException | RuntimeException e) {
        answer.onError(statusOf(e).asException());
      }
    }
  }

  private final class ModelStatus extends ModelServiceGrpc.ModelServiceImplBase {
    @Override
    public void getModelStatus(GetModelStatusRequest req,
        StreamObserver<GetModelStatusResponse> answer) {
      try {
        ModelSpec spec = req.getModelSpec();
        find(spec); // NOT_FOUND / INVALID_ARGUMENT as for the other calls
        NavigableMap<Long, ModelServer> loaded = models.versions(spec.getName());
        Iterable<Long> versions = spec.hasVersion() ? List.of(spec.getVersion().getValue())
            : loaded.keySet();
        answer.onNext(GrpcMessages.statusResponse(versions));
        answer.onCompleted();
      } catch (StatusException | RuntimeException e) {
        answer.onError(statusOf(e).asException());
      }
    }
  }
}
