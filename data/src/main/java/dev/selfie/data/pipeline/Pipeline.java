package dev.selfie.data.pipeline;

import org.tensorflow.Operand;
import org.tensorflow.op.Op;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The outputs of an input pipeline, fed straight into the model (no copies through Java).
 *
 * @param images normalised images {@code [B, S, S, C]} (B static when dropRemainder)
 * @param labels labels {@code [B]}
 * @param initializer the MakeIterator op: (re)starts the stream from its beginning. It is also
 *     registered in the init scope, so {@code session.initialize()} runs it once; run it again
 *     (as a target) to restart, e.g. before each evaluation pass.
 */
public record Pipeline(Operand<TFloat32> images, Operand<TInt32> labels, Op initializer) {}
