package dev.selfie.graph;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * Finetuning classifiers on whole images.
 *
 * <p>{@link Head#RESNET} (the paper's main protocol): the full ResNet v2 (ResNet-50 in the paper
 * presets) on the whole image: stem + stages 1-3 with the SAME variable names as in the patch
 * network P (so pretrained weights load by name), then stage 4, {@code resnet/stage4_final_bn},
 * ReLU, global average pool and a dense layer {@code classifier/resnet/kernel} [W4, K] +
 * {@code classifier/resnet/bias} [K]. {@link Head#HYBRID}: P + A over all n patches of the image,
 * then a dense layer {@code classifier/hybrid/kernel} [d, K] + bias. {@link Selfie#isPretrained}
 * says which variables come from pretraining.
 */
public final class Classifier {
  private Classifier() {}

  /** Prefix of the classifier's dense layer. */
  public static final String PREFIX = "classifier";

  /** Classifier kernels start from a truncated normal of this stddev (biases at 0). */
  public static final double INIT_STDDEV = 0.01;

  /**
   * Name of a head's dense layer: {@code classifier/resnet} or {@code classifier/hybrid}
   * (variables {@code .../kernel}, {@code .../bias}); distinct so both heads fit in one graph.
   */
  public static String denseName(Head head) {
    return PREFIX + "/" + head.name().toLowerCase(java.util.Locale.ROOT);
  }

  /** Which network the classifier sits on. */
  public enum Head {
    /** Full ResNet on the whole image (stages 1-4). */
    RESNET,
    /** Patch network P + attention pooling A over all n patches. */
    HYBRID
  }

  /**
   * @param logits [B, K]
   * @param embedding the classifier's input: [B, W4] (RESNET, 2048 in ResNet-50) or u [B, d]
   *     (HYBRID)
   */
  public record ClassifierOutputs(Operand<TFloat32> logits, Operand<TFloat32> embedding) {}

  /**
   * Builds the classifier: images [B, S, S, C] -> logits [B, K].
   *
   * @param seed int64 [2] for dropout; needed only for HYBRID in training with dropout > 0 (may be
   *     null otherwise)
   * @param training BN batch statistics and moving-average updates, dropout
   */
  public static ClassifierOutputs build(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> images, Head head,
      Operand<TInt64> seed, boolean training) {
    Selfie.checkImages(images, c);
    Ops s = tf.withSubScope("classifier");
    Operand<TFloat32> embedding = switch (head) {
      case RESNET -> ResNet.finalBnReluPool(s, vars, c, 4,
          ResNet.trunk(s, vars, c, images, 4, training), training);
      case HYBRID -> Selfie.attentionPoolAll(s, vars, c, images, seed, training);
    };
    Operand<TFloat32> logits =
        Layers.dense(s, vars, denseName(head), embedding, c.numClasses(), true, INIT_STDDEV);
    return new ClassifierOutputs(logits, embedding);
  }
}
