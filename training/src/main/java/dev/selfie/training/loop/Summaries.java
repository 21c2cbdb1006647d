package dev.selfie.training.loop;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.summary.SummaryWriter;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TString;
import org.tensorflow.types.TUint8;
import org.tensorflow.ndarray.NdArrays;
import org.tensorflow.op.summary.WriteImageSummary;
import dev.selfie.graph.VarStore;
import org.tensorflow.types.family.TNumber;

/**
 * TensorBoard scalars written by TF summary ops into an events file in {@code logDir}.
 *
 * <p>The writer resource is created in the init scope (it runs with {@code session.initialize()};
 * {@link dev.selfie.training.run.CheckpointManager#restore} runs pending initializers before
 * restoring). Two kinds of scalar:
 *
 * <ul>
 *   <li>{@link #scalar graph scalars} (loss, lr, accuracy): one write op, {@link #writeOp()}, to
 *       run IN the training step's {@code session.run} every {@link #every()} steps — use
 *       {@link #addTo} — so it records that step's values without a second forward pass;
 *   <li>{@link #fedScalar fed scalars} (images/s, measured in Java): written by
 *       {@link #writeFed}, a small separate run feeding placeholders.
 * </ul>
 *
 * <p>Beyond scalars: {@link #image images} computed from the step's tensors (written by the step,
 * like graph scalars, every {@link #SLOW_FACTOR} summary intervals), {@link #histograms weight
 * histograms} (a separate read of the variables after the step, same interval) and the run's
 * {@link #writeHParams hyperparameters} for TensorBoard's HParams tab.
 *
 * <p>The step of every event is fed through the {@link #step()} placeholder. Register every
 * scalar and image before the first call of {@link #writeOp()}. Call {@link #flush} at the end.
 */
public final class Summaries {
  private final Ops tf;
  private final Operand<?> writer;
  private final Placeholder<TInt64> step;
  private final int every;
  private final Op flush;
  private final List<Op> graphWrites = new ArrayList<>();
  private final Map<String, Placeholder<TFloat32>> fed = new LinkedHashMap<>();
  private final Map<String, Op> fedWrites = new LinkedHashMap<>();
  private Op writeOp;
  private final List<Op> slowGraphWrites = new ArrayList<>();
  private Op slowWriteOp;
  private final List<Op> histogramWrites = new ArrayList<>();
  private final Placeholder<TString> rawProto;
  private final Op rawProtoWrite;

  /** Images and weight histograms are written every this many summary intervals. */
  public static final int SLOW_FACTOR = 10;

  private Summaries(Ops tf, Operand<?> writer, Placeholder<TInt64> step, int every, Op flush) {
    this.tf = tf;
    this.writer = writer;
    this.step = step;
    this.every = every;
    this.flush = flush;
    this.rawProto = tf.withName("raw_proto").placeholder(TString.class);
    this.rawProtoWrite = tf.summary.writeRawProtoSummary(writer, step, rawProto);
  }

  /**
   * Creates the summary writer for {@code logDir} (the run's {@code tensorboard/}).
   *
   * @param every write the summaries every this many steps (&gt;= 1)
   */
  public static Summaries create(Ops tf, Path logDir, int every) {
    if (every < 1) {
      throw new IllegalArgumentException("summary interval must be >= 1 step, got " + every);
    }
    Ops s = tf.withSubScope("summaries");
    SummaryWriter writer = s.summary.summaryWriter();
    Ops init = s.withInitScope();
    init.summary.createSummaryFileWriter(writer,
        init.constant(logDir.toAbsolutePath().toString()), init.constant(10),
        init.constant(30_000), init.constant(".v2"));
    Placeholder<TInt64> step = s.withName("step").placeholder(TInt64.class);
    Op flush = s.summary.flushSummaryWriter(writer);
    return new Summaries(s, writer, step, every, flush);
  }

  /** Registers a scalar computed in the graph (e.g. the loss), written by {@link #writeOp()}. */
  public Summaries scalar(String tag, Operand<? extends TNumber> value) {
    if (writeOp != null) {
      throw new IllegalStateException("summary " + tag + " registered after writeOp() was built");
    }
    checkTag(tag);
    graphWrites.add(tf.summary.writeScalarSummary(writer, step, tf.constant(tag), value));
    return this;
  }

  /** Registers a scalar fed from Java (e.g. images/s), written by {@link #writeFed}. */
  public Summaries fedScalar(String tag) {
    checkTag(tag);
    Placeholder<TFloat32> ph = tf.placeholder(TFloat32.class);
    fed.put(tag, ph);
    fedWrites.put(tag, tf.summary.writeScalarSummary(writer, step, tf.constant(tag), ph));
    return this;
  }

  /**
   * Registers an image summary computed in the graph from the step's tensors (uint8 [k, H, W, C],
   * e.g. {@link dev.selfie.training.jobs.PretrainImages#panels}), written with the step every
   * {@link #SLOW_FACTOR} summary intervals.
   */
  public Summaries image(String tag, Operand<TUint8> images, int maxImages) {
    if (writeOp != null) {
      throw new IllegalStateException("summary " + tag + " registered after writeOp() was built");
    }
    checkTag(tag);
    slowGraphWrites.add(tf.summary.writeImageSummary(writer, step, tf.constant(tag), images,
        tf.constant(new byte[] {(byte) 255, 0, 0}), WriteImageSummary.maxImages((long) maxImages)));
    return this;
  }

  /**
   * Registers a histogram of every trainable variable (tag {@code weights/NAME}), written by
   * {@link #writeHistograms} every {@link #SLOW_FACTOR} summary intervals.
   */
  public Summaries histograms(VarStore vars) {
    for (VarStore.Entry e : vars.trainable()) {
      histogramWrites.add(tf.summary.writeHistogramSummary(writer, step,
          tf.constant("weights/" + e.name()), e.value()));
    }
    return this;
  }

  /** The op writing every graph scalar at the fed step (built on first call). */
  public Op writeOp() {
    if (writeOp == null) {
      writeOp = tf.withControlDependencies(graphWrites).noOp();
      slowWriteOp = tf.withControlDependencies(slowGraphWrites).noOp();
    }
    return writeOp;
  }

  /** Whether images and histograms are due after {@code step} completed steps. */
  public boolean slowDue(long step) {
    return step % ((long) every * SLOW_FACTOR) == 0;
  }

  /** The step placeholder, scalar int64 {@code []}. */
  public Placeholder<TInt64> step() {
    return step;
  }

  public int every() {
    return every;
  }

  /** Whether summaries are due after {@code step} completed steps (multiples of every). */
  public boolean due(long step) {
    return step % every == 0;
  }

  /**
   * Adds the graph-scalar write to a training step's runner: feeds the step and targets
   * {@link #writeOp()}. The caller owns (and closes after the run) {@code stepTensor}.
   */
  public Session.Runner addTo(Session.Runner runner, TInt64 stepTensor) {
    return runner.feed(step, stepTensor).addTarget(writeOp());
  }

  /** {@link #addTo}, plus the images when {@link #slowDue} at {@code stepValue}. */
  public Session.Runner addTo(Session.Runner runner, TInt64 stepTensor, long stepValue) {
    addTo(runner, stepTensor);
    if (!slowGraphWrites.isEmpty() && slowDue(stepValue)) {
      runner.addTarget(slowWriteOp);
    }
    return runner;
  }

  /** Writes the weight histograms at {@code step} (a read of the variables, nothing else). */
  public void writeHistograms(Session session, long step) {
    if (histogramWrites.isEmpty()) {
      return;
    }
    try (TInt64 st = TInt64.scalarOf(step)) {
      Session.Runner r = session.runner().feed(this.step, st);
      histogramWrites.forEach(r::addTarget);
      r.run().close();
    }
  }

  /**
   * Writes the run's hyperparameters for TensorBoard's HParams tab (a {@code session_start_info}
   * of the hparams plugin, {@link HParams}): every number, boolean and string of
   * {@code config}, nested keys joined with dots.
   */
  public void writeHParams(Session session, com.fasterxml.jackson.databind.JsonNode config) {
    byte[] summary = HParams.sessionStartSummary(config, System.currentTimeMillis() / 1000.0);
    try (TInt64 st = TInt64.scalarOf(0);
        TString proto = TString.tensorOfBytes(NdArrays.scalarOfObject(summary))) {
      session.runner().feed(step, st).feed(rawProto, proto).addTarget(rawProtoWrite).run().close();
    }
  }

  /**
   * Writes Java-side values at {@code step}; every key must be a registered {@link #fedScalar}
   * tag (tags not given are not written at this step).
   */
  public void writeFed(Session session, long step, Map<String, ? extends Number> values) {
    if (!fed.keySet().containsAll(values.keySet())) {
      throw new IllegalArgumentException(
          "fed summaries: registered tags are " + fed.keySet() + ", got " + values.keySet());
    }
    List<Tensor> owned = new ArrayList<>();
    try {
      TInt64 st = TInt64.scalarOf(step);
      owned.add(st);
      Session.Runner r = session.runner().feed(this.step, st);
      for (Map.Entry<String, ? extends Number> e : values.entrySet()) {
        TFloat32 v = TFloat32.scalarOf(e.getValue().floatValue());
        owned.add(v);
        r.feed(fed.get(e.getKey()), v).addTarget(fedWrites.get(e.getKey()));
      }
      r.run().close();
    } finally {
      owned.forEach(Tensor::close);
    }
  }

  /** Flushes pending events to the file. */
  public void flush(Session session) {
    session.run(flush);
  }

  private void checkTag(String tag) {
    if (tag == null || tag.isBlank()) {
      throw new IllegalArgumentException("summary tag must be non-empty");
    }
  }
}
