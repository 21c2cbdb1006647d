package dev.selfie.data.pipeline;

import dev.selfie.data.DatasetSpec;
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
import org.tensorflow.op.data.IgnoreErrorsDataset;
import org.tensorflow.op.data.ParallelMapDataset;
import org.tensorflow.op.data.ShuffleDataset;
import org.tensorflow.op.image.DecodeImage;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TString;
import org.tensorflow.types.TUint8;
import org.tensorflow.types.family.TType;

/**
 * The streaming input pipeline of a {@link StreamingSource} (ImageNet TFRecords, image folders):
 *
 * <pre>
 * records (file order)  .zip(range(0, inf))           (record, record ordinal r)
 *   [.filter(chosen[r])]                              label fraction / skipped records
 *   [.shuffle(buffer, seeds from the run seed, reshuffled each epoch)]
 *   [.repeat()]
 *   [.skip(k)]                                        resume: re-reads k records
 *   .zip(range(k, inf))                               global element index i
 *   .parallelMap(decode; train: random-resized-crop + flip with stateless seed (seed, i),
 *                decoding only the crop window if the source is all JPEG;
 *                eval: resize the shorter side to S*256/224, centre crop S)   uint8 [S, S, 3]
 *   .ignoreErrors(log a warning)                      an undecodable image is dropped, never a crash
 *   .batch(B).prefetch(P)
 * </pre>
 *
 * Label of record r: from a constant table built from {@link dev.selfie.data.ImageSource#labels} on open.
 *
 * <p>Reproducibility: the stream is a pure function of (files, indices, seed), as for in-memory
 * datasets; but the shuffle is a bounded buffer ({@link StreamingSource#shuffleBuffer}), not a full
 * permutation (unless the buffer holds the split), and resuming at element k re-reads the first k
 * records (k/N epochs of file reading, no decoding) instead of jumping there. Images that fail to
 * decode in-graph (files that passed the checks on open but are corrupt inside) are dropped with a
 * TensorFlow warning; after such a drop the resumed stream is shifted by one element.
 */
public final class StreamPipelines {
  private StreamPipelines() {}

  /** Resize-then-centre-crop ratio for evaluation (the usual 256 -> 224). */
  public static final double EVAL_RESIZE = 256.0 / 224.0;

  static RawPipeline build(Ops tf, StreamingSource src, Split split, PipelineOptions o) {
    DatasetSpec spec = src.spec();
    int n = src.size(split);
    if (n == 0) {
      throw new IllegalArgumentException(spec.name() + ": the " + split.id() + " split in " + src.location()
          + " has no usable images");
    }
    int[] chosen = o.indices();
    if (chosen != null) {
      for (int j : chosen) {
        if (j >= n) {
          throw new IllegalArgumentException("index " + j + " out of range: " + spec.name() + " " + split.id()
              + " has " + n + " examples");
        }
      }
    }
    int records = src.recordCount(split);
    int[] ordinals = src.recordOrdinals(split);
    int[] labels = src.labels(split);
    boolean[] use = new boolean[records];
    int[] labelOf = new int[records];
    for (int j = 0; j < n; j++) {
      labelOf[ordinals[j]] = labels[j];
    }
    int m = 0;
    if (chosen == null) {
      for (int j = 0; j < n; j++) {
        use[ordinals[j]] = true;
      }
      m = n;
    } else {
      for (int j : chosen) {
        use[ordinals[j]] = true;
      }
      m = chosen.length;
    }
    final int s = spec.imageSize();
    final long seed = o.seed();
    Ops init = tf.withInitScope();
    List<Class<? extends TType>> recTypes = List.of(TString.class, TInt64.class);
    List<Shape> recShapes = List.of(Shape.scalar(), Shape.scalar());

    Operand<? extends TType> ds = src.records(init, split);
    ds = init.data.zipDataset(List.of(ds, range(init, 0)), recTypes, recShapes);
    if (m < records) {
      final boolean[] keep = use;
      try (ConcreteFunction filterFn =
          ConcreteFunction.create(
              ftf -> {
                Placeholder<TString> rec = ftf.placeholder(TString.class, Placeholder.shape(Shape.scalar()));
                Placeholder<TInt64> ord = ftf.placeholder(TInt64.class, Placeholder.shape(Shape.scalar()));
                Operand<TBool> k = ftf.gather(ftf.constant(keep), ord, ftf.constant(0));
                return Signature.builder().input("a_record", rec).input("b_ordinal", ord).output("keep", k).build();
              })) {
        checkInputOrder(filterFn, List.of("a_record", "b_ordinal"));
        ds = init.data.filterDataset(ds, List.of(), filterFn, recTypes, recShapes);
      }
    }
    if (o.shuffle()) {
      long buffer = Math.max(1, Math.min(m, src.shuffleBuffer(split)));
      long s1 = seed * 2 + 1; // never both zero (zero seeds would mean "random")
      long s2 = seed ^ 0x5eedL;
      Operand<? extends TType> gen =
          init.random.anonymousSeedGenerator(init.constant(s1), init.constant(s2), init.constant(true)).handle();
      ds = init.data.shuffleDataset(ds, init.constant(buffer), init.constant(s1), init.constant(s2), gen,
          recTypes, recShapes, ShuffleDataset.reshuffleEachIteration(true));
    }
    if (o.repeat()) {
      ds = init.data.repeatDataset(ds, init.constant(-1L), recTypes, recShapes);
    }
    long k = o.skipElements();
    if (k > 0) {
      ds = init.data.skipDataset(ds, init.constant(k), recTypes, recShapes);
    }
    ds = init.data.zipDataset(
        List.of(ds, range(init, k)), List.of(TString.class, TInt64.class, TInt64.class),
        List.of(Shape.scalar(), Shape.scalar(), Shape.scalar()));

    List<Class<? extends TType>> outTypes = List.of(TUint8.class, TInt32.class);
    List<Shape> outShapes = List.of(Shape.of(s, s, 3), Shape.scalar());
    final int[] labelTable = labelOf;
    try (ConcreteFunction mapFn =
        ConcreteFunction.create(
            ftf -> {
              Placeholder<TString> rec = ftf.placeholder(TString.class, Placeholder.shape(Shape.scalar()));
              Placeholder<TInt64> ord = ftf.placeholder(TInt64.class, Placeholder.shape(Shape.scalar()));
              Placeholder<TInt64> i = ftf.placeholder(TInt64.class, Placeholder.shape(Shape.scalar()));
              Operand<TString> bytes = src.imageBytes(ftf, rec);
              Operand<TUint8> img;
              Operand<TInt64> key = ftf.stack(List.of(ftf.constant(seed), i));
              if (o.augment() && src.jpegOnly()) {
                img = Preprocess.randomResizedCropJpeg(ftf, bytes, key, s); // decodes the crop only
              } else {
                img = ftf.image.decodeImage(bytes, TUint8.class, DecodeImage.channels(3L), DecodeImage.expandAnimations(false));
                img = ftf.ensureShape(img, Shape.of(-1, -1, 3)); // [h, w, 3]
                img = o.augment()
                    ? Preprocess.randomResizedCrop(ftf, img, key, s)
                    : Preprocess.resizeCenterCrop(ftf, img, s, EVAL_RESIZE);
              }
              Operand<TInt32> label = ftf.gather(ftf.constant(labelTable), ord, ftf.constant(0));
              return Signature.builder()
                  .input("a_record", rec)
                  .input("b_ordinal", ord)
                  .input("c_index", i)
                  .output("image", ftf.ensureShape(img, Shape.of(s, s, 3)))
                  .output("label", label)
                  .build();
            })) {
      checkInputOrder(mapFn, List.of("a_record", "b_ordinal", "c_index"));
      ds = init.data.parallelMapDataset(
          ds, List.of(), init.constant((long) o.parallelism()), mapFn, outTypes, outShapes,
          ParallelMapDataset.deterministic("true"));
    }
    ds = init.data.ignoreErrorsDataset(ds, outTypes, outShapes, IgnoreErrorsDataset.logWarning(true));
    return Pipelines.batchAndIterate(tf, init, ds, o, s, 3, outTypes, spec);
  }

  private static Operand<? extends TType> range(Ops init, long start) {
    return init.data.rangeDataset(init.constant(start), init.constant(Long.MAX_VALUE), init.constant(1L),
        List.of(TInt64.class), List.of(Shape.scalar()));
  }

  private static void checkInputOrder(ConcreteFunction fn, List<String> expected) {
    List<String> names = new ArrayList<>(fn.signature().getInputs().keySet());
    if (!names.equals(expected)) {
      throw new IllegalStateException("tf.data function arguments in order " + names + ", expected " + expected);
    }
  }
}
