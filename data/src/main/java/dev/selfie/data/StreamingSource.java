package dev.selfie.data;

import dev.selfie.data.pipeline.Pipelines;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TString;
import org.tensorflow.types.family.TType;

/**
 * A dataset too large (or too irregular) to hold in memory: its images are decoded from their
 * files while streaming ({@link Pipelines#build} dispatches to a streaming pipeline). Images have
 * any size on disk; the pipeline resizes/crops them to {@link DatasetSpec#imageSize()}, so {@link
 * DatasetSpec#height()} and {@code width()} are that size too (what the model and the SavedModel's
 * uint8 input see).
 *
 * <p>Records are the units of the files, in file order (TFRecord: serialized tf.train.Example;
 * folder: the image file's path). Some records may be unusable (found on open and skipped, e.g. an
 * Example without a JPEG): example {@code j} of the split ({@code 0 <= j < size}) is record {@link
 * #recordOrdinals(Split) recordOrdinals[j]}.
 */
public interface StreamingSource extends ImageSource {

  /** Number of records of {@code split} in its files (usable or not). */
  int recordCount(Split split);

  /** {@code [size(split)]}, ascending: the record ordinal of each example. */
  int[] recordOrdinals(Split split);

  /** An in-graph dataset of all records of {@code split} in file order, one scalar string each. */
  Operand<? extends TType> records(Ops tf, Split split);

  /** Inside a map function: the encoded image bytes (JPEG, PNG, ...) of one record. */
  Operand<TString> imageBytes(Ops ftf, Operand<TString> record);

  /**
   * True if every usable record's image is a JPEG (checked on open): training then decodes only
   * the random crop window ({@link dev.selfie.data.pipeline.Preprocess#randomResizedCropJpeg}).
   */
  default boolean jpegOnly() {
    return false;
  }

  /** Shuffle buffer (records) for training: large enough to mix, small enough for memory. */
  int shuffleBuffer(Split split);

  /** Streaming sources have no in-memory table. */
  @Override
  default ExampleTable examples(Ops tf, Split split) {
    throw new UnsupportedOperationException(spec().name() + " is streamed from its files (too large or"
        + " irregular to hold in memory): build its input with Pipelines.build");
  }
}
