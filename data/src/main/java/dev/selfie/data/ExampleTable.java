package dev.selfie.data;

import org.tensorflow.Operand;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TUint8;

/**
 * All examples of a split as two graph tensors, produced in-graph from the files (a tf.data
 * record reader drained into one element), so pixels never pass through Java arrays.
 *
 * @param images native uint8 images {@code [N, H, W, C]}
 * @param labels int32 labels {@code [N]}
 */
public record ExampleTable(Operand<TUint8> images, Operand<TInt32> labels) {}
