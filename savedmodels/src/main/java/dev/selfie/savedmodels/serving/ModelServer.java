package dev.selfie.savedmodels.serving;

import dev.selfie.savedmodels.SavedModelExporter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.tensorflow.Output;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.proto.DataType;

/**
 * Serves one SavedModel from Java: loaded once, {@link #predict} callable from any number of
 * threads, concurrent requests to the same signature <em>batched</em>.
 *
 * <p>Batching: requests wait in a bounded queue; a worker takes the oldest, then collects more
 * requests of the same signature and the same per-row shape until it has {@code maxBatch} rows or
 * {@code maxLatency} has passed since the oldest arrived, concatenates their inputs along the
 * batch dimension (dim 0), runs the session once and splits every output back by rows. A request
 * larger than {@code maxBatch} runs alone. Signatures whose inputs lack a dynamic batch dimension,
 * or whose outputs turn out not to be batch-major, run one request at a time.
 *
 * <p>Inputs and outputs are {@link HostTensor}s (Java memory); every native Tensor and Result is
 * closed inside the worker, so serving does not grow native memory.
 */
public final class ModelServer implements AutoCloseable {

  /**
   * Serving options.
   *
   * @param maxBatch most rows run together (>= 1)
   * @param maxLatency longest a request waits for others to join its batch (0: only requests
   *     already queued join)
   * @param queueCapacity most requests waiting; beyond it {@link #submit} rejects
   * @param workers threads running batches (1 is best on few cores: TensorFlow parallelizes
   *     each run itself)
   */
  public record Options(int maxBatch, Duration maxLatency, int queueCapacity, int workers) {
    /** @throws IllegalArgumentException for a count below 1 or a negative latency */
    public Options {
      if (maxBatch < 1 || queueCapacity < 1 || workers < 1 || maxLatency.isNegative()) {
        throw new IllegalArgumentException(
            "serving options need maxBatch, queueCapacity, workers >= 1 and maxLatency >= 0, got "
                + this);
      }
    }

    /** maxBatch 64, maxLatency 2 ms, queue 4096, 1 worker. */
    public static Options defaults() {
      return new Options(64, Duration.ofMillis(2), 4096, 1);
    }
  }

  /**
   * One input or output of a signature.
   *
   * @param tensorName graph tensor ("op:index")
   * @param dtype element type
   * @param shape dimensions, -1 for unknown; null for unknown rank
   */
  public record TensorSpec(String tensorName, DataType dtype, long[] shape) {}

  /** A signature: its key, method name, inputs and outputs by signature name (sorted). */
  public record SignatureSpec(
      String key, String methodName, Map<String, TensorSpec> inputs, Map<String, TensorSpec> outputs) {

    /** Whether requests can be concatenated: every input has a dynamic first dimension. */
    public boolean batchable() {
      return inputs.values().stream()
          .allMatch(t -> t.shape() != null && t.shape().length > 0 && t.shape()[0] == -1);
    }
  }

  /** A request that does not match the signature (or names none): the client's fault. */
  public static final class BadRequestException extends IllegalArgumentException {
    /** @param message what is wrong with the request, answered to the client */
    public BadRequestException(String message) {
      super(message);
    }
  }

  /** Counters since load: requests queued, session runs (one per batch), rows run over all. */
  public record Stats(long requests, long runs, long rows) {}

  private record Request(
      SignatureSpec sig, Map<String, HostTensor> inputs, long rows, long arrivedNanos,
      CompletableFuture<Map<String, HostTensor>> result) {}

  private final Path dir;
  private final SavedModelBundle bundle;
  private final Session session;
  private final Options options;
  private final Map<String, SignatureSpec> signatures;
  private final Map<String, Output<?>> tensors = new LinkedHashMap<>();
  private final BlockingQueue<Request> queue;
  private final List<Thread> workers = new ArrayList<>();
  private final AtomicLong requests = new AtomicLong();
  private final AtomicLong runs = new AtomicLong();
  private final AtomicLong rows = new AtomicLong();
  private volatile boolean closed;
  private volatile java.util.function.LongConsumer batchObserver = rows -> { };

  private ModelServer(Path dir, SavedModelBundle bundle, Options options) {
    this.dir = dir;
    this.bundle = bundle;
    this.session = bundle.session();
    this.options = options;
    this.signatures = Signatures.of(bundle.metaGraphDef().getSignatureDefMap());
    for (SignatureSpec s : signatures.values()) {
      for (TensorSpec t : s.inputs().values()) {
        tensors.put(t.tensorName(), bundle.graph().outputOrThrow(t.tensorName()));
      }
      for (TensorSpec t : s.outputs().values()) {
        tensors.put(t.tensorName(), bundle.graph().outputOrThrow(t.tensorName()));
      }
    }
    this.queue = new ArrayBlockingQueue<>(options.queueCapacity());
    for (int i = 0; i < options.workers(); i++) {
      Thread t = new Thread(this::work, "model-server-" + dir.getFileName() + "-" + i);
      t.setDaemon(true);
      workers.add(t);
      t.start();
    }
  }

  /**
   * Loads the SavedModel in {@code dir} (tag {@code serve}) and starts the batching workers.
   *
   * @throws IllegalArgumentException if {@code dir} is not a SavedModel directory
   */
  public static ModelServer load(Path dir, Options options) {
    Path abs = dir.toAbsolutePath().normalize();
    if (!Files.isRegularFile(abs.resolve("saved_model.pb"))) {
      throw new IllegalArgumentException(
          "not a SavedModel directory: " + abs + " (expected saved_model.pb inside)");
    }
    SavedModelBundle b = SavedModelBundle.load(abs.toString(), SavedModelExporter.TAG);
    try {
      return new ModelServer(abs, b, options);
    } catch (RuntimeException e) {
      b.close();
      throw e;
    }
  }

  /** The SavedModel directory served. */
  public Path directory() {
    return dir;
  }

  /** The signatures by key (sorted). */
  public Map<String, SignatureSpec> signatures() {
    return signatures;
  }

  /** Calls {@code observer} with the rows of every session run from now on (metrics). */
  public void onBatch(java.util.function.LongConsumer observer) {
    batchObserver = observer;
  }

  /** Requests waiting in the queue now. */
  public int queued() {
    return queue.size();
  }

  /** Counters: requests submitted, session runs, rows run. */
  public Stats stats() {
    return new Stats(requests.get(), runs.get(), rows.get());
  }

  /**
   * Runs {@code inputs} through the signature {@code key}, blocking until done.
   *
   * @param inputs every input of the signature by name, batch-major
   * @return every output of the signature by name
   * @throws BadRequestException if the key is unknown or the inputs do not match the signature
   * @throws RejectedExecutionException if the queue is full or the server closed
   * @throws RuntimeException what TensorFlow threw while running
   */
  public Map<String, HostTensor> predict(String key, Map<String, HostTensor> inputs) {
    try {
      return submit(key, inputs).join();
    } catch (CompletionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw e;
    }
  }

  /**
   * Queues a request (validated first, see {@link #predict}).
   *
   * @throws BadRequestException if the key is unknown or the inputs do not match the signature
   * @throws RejectedExecutionException if the queue is full or the server closed
   */
  public CompletableFuture<Map<String, HostTensor>> submit(
      String key, Map<String, HostTensor> inputs) {
    SignatureSpec sig = signatures.get(key);
    if (sig == null) {
      throw new BadRequestException(
          "unknown signature '" + key + "'; the model has " + signatures.keySet());
    }
    long n = Signatures.validate(sig, inputs);
    if (closed) {
      throw new RejectedExecutionException("model server for " + dir + " is closed");
    }
    Request r = new Request(sig, Map.copyOf(inputs), n, System.nanoTime(), new CompletableFuture<>());
    if (!queue.offer(r)) {
      throw new RejectedExecutionException(
          "request queue full (" + options.queueCapacity() + " waiting)");
    }
    requests.incrementAndGet();
    if (closed && queue.remove(r)) {
      r.result().completeExceptionally(
          new RejectedExecutionException("model server for " + dir + " is closed"));
    }
    return r.result();
  }

  private void work() {
    Deque<Request> leftover = new ArrayDeque<>();
    while (!closed) {
      Request first;
      try {
        first = leftover.isEmpty() ? queue.poll(100, TimeUnit.MILLISECONDS) : leftover.poll();
      } catch (InterruptedException e) {
        break;
      }
      if (first == null) {
        continue;
      }
      List<Request> batch = new ArrayList<>();
      batch.add(first);
      if (first.rows() > 0) {
        long total = first.rows();
        long deadline = first.arrivedNanos() + options.maxLatency().toNanos();
        // Leftovers first (already waiting), then the queue until full or the deadline.
        for (Iterator<Request> it = leftover.iterator(); it.hasNext() && total < options.maxBatch(); ) {
          Request r = it.next();
          if (compatible(first, r) && total + r.rows() <= options.maxBatch()) {
            batch.add(r);
            total += r.rows();
            it.remove();
          }
        }
        while (total < options.maxBatch()) {
          Request r;
          try {
            r = queue.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            break;
          }
          if (r == null) {
            break;
          }
          if (compatible(first, r) && total + r.rows() <= options.maxBatch()) {
            batch.add(r);
            total += r.rows();
          } else {
            leftover.add(r);
          }
        }
      }
      runBatch(batch);
      if (Thread.currentThread().isInterrupted()) {
        break;
      }
    }
    RejectedExecutionException gone =
        new RejectedExecutionException("model server for " + dir + " is closed");
    leftover.forEach(r -> r.result().completeExceptionally(gone));
  }

  private static boolean compatible(Request a, Request b) {
    if (a.sig() != b.sig() || b.rows() <= 0) {
      return false;
    }
    for (String name : a.inputs().keySet()) {
      if (!HostTensor.sameInnerShape(a.inputs().get(name).shape(), b.inputs().get(name).shape())) {
        return false;
      }
    }
    return true;
  }

  private void runBatch(List<Request> batch) {
    if (batch.size() == 1) {
      Request r = batch.get(0);
      try {
        r.result().complete(run(r.sig(), r.inputs()));
      } catch (RuntimeException e) {
        r.result().completeExceptionally(e);
      }
      return;
    }
    SignatureSpec sig = batch.get(0).sig();
    Map<String, HostTensor> merged = new LinkedHashMap<>();
    for (String name : sig.inputs().keySet()) {
      merged.put(name, HostTensor.concat(batch.stream().map(r -> r.inputs().get(name)).toList()));
    }
    Map<String, HostTensor> out;
    try {
      out = run(sig, merged);
    } catch (RuntimeException e) {
      // One bad request must not fail the others: run them one by one.
      batch.forEach(r -> runBatch(List.of(r)));
      return;
    }
    long total = merged.values().iterator().next().rows();
    boolean batchMajor =
        out.values().stream().allMatch(t -> t.shape().length > 0 && t.shape()[0] == total);
    if (!batchMajor) {
      batch.forEach(r -> runBatch(List.of(r)));
      return;
    }
    long at = 0;
    for (Request r : batch) {
      Map<String, HostTensor> part = new LinkedHashMap<>();
      for (Map.Entry<String, HostTensor> e : out.entrySet()) {
        part.put(e.getKey(), e.getValue().rows(at, at + r.rows()));
      }
      at += r.rows();
      r.result().complete(part);
    }
  }

  /** One session run; closes every native tensor it creates. */
  private Map<String, HostTensor> run(SignatureSpec sig, Map<String, HostTensor> inputs) {
    List<Tensor> fed = new ArrayList<>();
    try {
      Session.Runner runner = session.runner();
      for (Map.Entry<String, TensorSpec> e : sig.inputs().entrySet()) {
        Tensor t = inputs.get(e.getKey()).toTensor();
        fed.add(t);
        runner.feed(tensors.get(e.getValue().tensorName()), t);
      }
      List<String> names = new ArrayList<>(sig.outputs().keySet());
      for (String name : names) {
        runner.fetch(tensors.get(sig.outputs().get(name).tensorName()));
      }
      Map<String, HostTensor> out = new LinkedHashMap<>();
      try (Result result = runner.run()) {
        for (int i = 0; i < names.size(); i++) {
          out.put(names.get(i), HostTensor.of(result.get(i)));
        }
      }
      runs.incrementAndGet();
      long n = inputs.values().iterator().next().shape().length > 0
          ? inputs.values().iterator().next().shape()[0] : 1;
      rows.addAndGet(n);
      batchObserver.accept(n);
      return out;
    } finally {
      fed.forEach(Tensor::close);
    }
  }

  /** Stops the workers (queued requests fail with RejectedExecutionException), frees the model. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (Thread t : workers) {
      t.interrupt();
    }
    for (Thread t : workers) {
      try {
        t.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    RejectedExecutionException gone =
        new RejectedExecutionException("model server for " + dir + " is closed");
    for (Request r; (r = queue.poll()) != null; ) {
      r.result().completeExceptionally(gone);
    }
    bundle.close();
  }
}
