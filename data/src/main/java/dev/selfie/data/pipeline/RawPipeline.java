package dev.selfie.data.pipeline;

import dev.selfie.data.DatasetSpec;
import org.tensorflow.Operand;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TUint8;

/**
 * An input pipeline before its last step: the uint8 batch as the iterator gives it (images
 * already padded to the model side S), not yet cast and normalised ({@link Pipelines#buildRaw}).
 *
 * @param images uint8 {@code [B, S, S, C]}
 * @param labels labels {@code [B]}
 * @param initializer the MakeIterator op (see {@link Pipeline#initializer()})
 * @param spec the dataset's constants, for {@link #normalize}
 */
public record RawPipeline(
    Operand<TUint8> images, Operand<TInt32> labels, Op initializer, DatasetSpec spec) {

  /**
   * Casts and normalises {@code images} (all or a share of {@link #images()}) with {@code tf}'s
   * scope and device: {@link Preprocess#fromUint8}.
   */
  public Operand<TFloat32> normalize(Ops tf, Operand<TUint8> images) {
    return Preprocess.fromUint8(tf, images, spec);
  }

  /** The usual pipeline: the whole batch normalised with {@code tf}. */
  public Pipeline normalized(Ops tf) {
    return new Pipeline(normalize(tf, images), labels, initializer);
  }
}
