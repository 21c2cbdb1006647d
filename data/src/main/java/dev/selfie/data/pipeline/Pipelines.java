package dev.selfie.data.pipeline;

import dev.selfie.data.DatasetSpec;
import dev.selfie.data.ExampleTable;
import dev.selfie.data.ImageSource;
import dev.selfie.data.Split;
import dev.selfie.data.StreamingSource;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.ConcreteFunction;
import org.tensorflow.Operand;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.data.IteratorGetNext;
import org.tensorflow.op.data.MakeIterator;
import org.tensorflow.op.data.ParallelMapDataset;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TUint8;
import org.tensorflow.types.family.TType;

/**
 * Input pipelines as in-graph tf.data datasets.
 *
 * <p>The split's examples are read in-graph into two tensors ({@link ImageSource#examples}:
 * images {@code [N, H, W, C]} uint8, labels {@code [N]}), captured by the map function. For a
 * subset of M examples (all, or {@link PipelineOptions#indices()}) and {@code k = skipElements =
 * e0 * M + r}, the element stream is:
 *
 * <pre>
 * range(e0, repeat ? inf : 1)                          epoch numbers e
 *   .map(e -&gt; subset[argsort(statelessUniform([M], seed=(seed, e)))])   [M] int32; file order
 *                                                         if not shuffling
 *   .unbatch()                                           example positions, epoch after epoch
 *   .skip(r)                                             r &lt; M integers: cheap
 *   .zip(range(k, inf))                                  global element index i
 *   .parallelMap((p, i) -&gt; gather image p, pad to S,    uint8 [S, S, C], int32 []
 *                 [augment with stateless seed (seed, i)])     deterministic order
 *   .batch(B).prefetch(P)
 * </pre>
 *
 * then an iterator made in the init scope and IteratorGetNext, whose uint8 batch goes through
 * {@link Preprocess#fromUint8}. (Streaming sources -- ImageNet TFRecords, image folders -- get the
 * pipeline of {@link StreamPipelines} instead.) So the order within epoch e depends only on (seed, e), the
 * augmentation of element i only on (seed, i), and resuming at k skips whole epochs for free.
 */
public final class Pipelines {
  private Pipelines() {}

  /**
   * Builds the dataset + iterator in tf's graph; iterator init goes to the init scope, so
   * session.initialize() (or runInit) starts it. End of a non-repeating epoch surfaces as
   * org.tensorflow.exceptions.TFOutOfRangeException from the session run. Re-run {@link
   * Pipeline#initializer()} to restart the stream (e.g. before each evaluation pass).
   *
   * @return images {@code [B, S, S, C]} float (normalised), labels {@code [B]} int32
   */
  public static Pipeline build(Ops tf, ImageSource src, Split split, PipelineOptions o) {
    return buildRaw(tf, src, split, o).normalized(tf);
  }

  /**
   * {@link #build} without the final {@link Preprocess#fromUint8}: the batch as it leaves the
   * iterator, uint8 {@code [B, S, S, C]}. Data-parallel training splits it on the host and lets
   * each tower cast and normalise its own share ({@link RawPipeline#normalize}).
   */
  public static RawPipeline buildRaw(Ops tf, ImageSource src, Split split, PipelineOptions o) {
    if (src instanceof StreamingSource streaming) {
      return StreamPipelines.build(tf, streaming, split, o);
    }
    DatasetSpec spec = src.spec();
    int n = src.size(split);
    int[] subset = o.indices();
    if (subset != null) {
      subset = subset.clone();
      java.util.Arrays.sort(subset);
      if (subset[subset.length - 1] >= n) {
        throw new IllegalArgumentException(
            "index " + subset[subset.length - 1] + " out of range: " + spec.name() + " " + split.id()
                + " has " + n + " examples");
      }
    }
    final int[] chosen = subset;
    final int m = subset == null ? n : subset.length;
    final int s = spec.imageSize();
    final int c = spec.channels();
    final int h = spec.height();
    final int w = spec.width();
    final long seed = o.seed();
    Ops init = tf.withInitScope();

    ExampleTable table = src.examples(init, split);

    long k = o.skipElements();
    long e0 = k / m;
    long r = k % m;
    long epochEnd = o.repeat() ? Long.MAX_VALUE : 1L;
    List<Class<? extends TType>> i32 = List.of(TInt32.class);

    Operand<? extends TType> ds =
        init.data.rangeDataset(
            init.constant(e0), init.constant(Math.max(e0, epochEnd)), init.constant(1L),
            List.of(TInt64.class), List.of(Shape.scalar()));
    // Epoch e -> the positions of its examples, [M] int32.
    try (ConcreteFunction epochFn =
        ConcreteFunction.create(
            ftf -> {
              Placeholder<TInt64> epoch = ftf.placeholder(TInt64.class, Placeholder.shape(Shape.scalar()));
              Operand<TInt32> order;
              if (o.shuffle()) {
                Operand<TInt64> key = ftf.stack(List.of(ftf.constant(seed), epoch));
                Operand<TFloat32> u = ftf.random.statelessRandomUniform(ftf.constant(new int[] {m}), key, TFloat32.class);
                order = ftf.nn.topK(u, ftf.constant(m), TInt32.class).indices(); // a uniform random permutation of 0..M-1
              } else {
                order = ftf.range(ftf.constant(0), ftf.constant(m), ftf.constant(1));
              }
              if (chosen != null) {
                order = ftf.gather(ftf.constant(chosen), order, ftf.constant(0));
              }
              order = ftf.ensureShape(order, Shape.of(m));
              return Signature.builder().input("epoch", epoch).output("positions", order).build();
            })) {
      ds = init.data.mapDataset(ds, List.of(), epochFn, i32, List.of(Shape.of(m)));
    }
    ds = init.data.unbatchDataset(ds, i32, List.of(Shape.scalar()));
    if (r > 0) {
      ds = init.data.skipDataset(ds, init.constant(r), i32, List.of(Shape.scalar()));
    }
    Operand<? extends TType> index =
        init.data.rangeDataset(
            init.constant(k), init.constant(Long.MAX_VALUE), init.constant(1L),
            List.of(TInt64.class), List.of(Shape.scalar()));
    ds = init.data.zipDataset(
        List.of(ds, index), List.of(TInt32.class, TInt64.class), List.of(Shape.scalar(), Shape.scalar()));

    List<Class<? extends TType>> outTypes = List.of(TUint8.class, TInt32.class);
    List<Shape> outShapes = List.of(Shape.of(s, s, c), Shape.scalar());
    try (ConcreteFunction mapFn =
        ConcreteFunction.create(
            ftf -> {
              Placeholder<TInt32> pos = ftf.placeholder(TInt32.class, Placeholder.shape(Shape.scalar()));
              Placeholder<TInt64> i = ftf.placeholder(TInt64.class, Placeholder.shape(Shape.scalar()));
              Placeholder<TUint8> images = ftf.placeholder(TUint8.class, Placeholder.shape(Shape.of(n, h, w, c)));
              Placeholder<TInt32> labels = ftf.placeholder(TInt32.class, Placeholder.shape(Shape.of(n)));
              Operand<TUint8> img = ftf.gather(images, pos, ftf.constant(0)); // [H, W, C]
              img = ftf.ensureShape(img, Shape.of(h, w, c));
              img = Preprocess.padTo(ftf, img, s); // [S, S, C]
              if (o.augment()) {
                Operand<TInt64> key = ftf.stack(List.of(ftf.constant(seed), i));
                img = Preprocess.augment(ftf, img, key, s, PipelineOptions.CROP_PAD);
              }
              Operand<TInt32> label = ftf.gather(labels, pos, ftf.constant(0));
              return Signature.builder()
                  .input("a_position", pos)
                  .input("b_index", i)
                  .input("c_images", images)
                  .input("d_labels", labels)
                  .output("image", ftf.ensureShape(img, Shape.of(s, s, c)))
                  .output("label", label)
                  .build();
            })) {
      checkInputOrder(mapFn, List.of("a_position", "b_index", "c_images", "d_labels"));
      ds = init.data.parallelMapDataset(
          ds, List.of(table.images(), table.labels()), init.constant((long) o.parallelism()), mapFn,
          outTypes, outShapes, ParallelMapDataset.deterministic("true"));
    }
    return batchAndIterate(tf, init, ds, o, s, c, outTypes, spec);
  }

  /**
   * The common tail of every pipeline: batch, prefetch, an iterator made in the init scope, and
   * the raw batch: images {@code [B, s, s, c]} uint8, labels {@code [B]}.
   */
  static RawPipeline batchAndIterate(Ops tf, Ops init, Operand<? extends TType> ds,
      PipelineOptions o, int s, int c, List<Class<? extends TType>> outTypes, DatasetSpec spec) {
    long b = o.dropRemainder() ? o.batchSize() : -1;
    List<Shape> batchShapes = List.of(Shape.of(b, s, s, c), Shape.of(b));
    ds = init.data.batchDataset(
        ds, init.constant((long) o.batchSize()), init.constant(o.dropRemainder()), outTypes, batchShapes);
    ds = init.data.prefetchDataset(ds, init.constant((long) o.prefetch()), outTypes, batchShapes);

    Operand<? extends TType> iterator = init.data.iterator("", "", outTypes, batchShapes);
    MakeIterator make = init.data.makeIterator(ds, iterator);
    IteratorGetNext next = tf.data.iteratorGetNext(iterator, outTypes, batchShapes);
    @SuppressWarnings("unchecked")
    Operand<TUint8> images = (Operand<TUint8>) next.components().get(0);
    @SuppressWarnings("unchecked")
    Operand<TInt32> labels = (Operand<TInt32>) next.components().get(1);
    return new RawPipeline(images, labels, make, spec);
  }

  /** Function arguments are bound by position: make sure the signature kept our order. */
  private static void checkInputOrder(ConcreteFunction fn, List<String> expected) {
    List<String> names = new ArrayList<>(fn.signature().getInputs().keySet());
    if (!names.equals(expected)) {
      throw new IllegalStateException("tf.data map function arguments in order " + names + ", expected " + expected);
    }
  }
}
