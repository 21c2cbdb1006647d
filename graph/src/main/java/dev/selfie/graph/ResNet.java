package dev.selfie.graph;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.nn.FusedBatchNorm;
import org.tensorflow.types.TFloat32;

/**
 * ResNet v2 (pre-activation, He et al. 2016 "Identity Mappings") with bottleneck blocks, NHWC.
 *
 * <p>Variable names (the contract with checkpoints and SavedModels), all under {@link #PREFIX}:
 * <pre>
 * resnet/stem/conv/kernel                          [k, k, C, stemWidth]
 * resnet/stage{1..4}/block{j}/bn1|bn2|bn3/{gamma,beta,moving_mean,moving_variance}
 * resnet/stage{1..4}/block{j}/conv1|conv2|conv3/kernel
 * resnet/stage{1..4}/block0/shortcut/kernel         (projection, where the shape changes)
 * resnet/stage3_final_bn/...   final BN of the patch network P (after stage 3)
 * resnet/stage4_final_bn/...   final BN of the full ResNet (after stage 4)
 * </pre>
 * No conv has a bias (a BN always follows before the next nonlinearity).
 */
public final class ResNet {
  private ResNet() {}

  /** Prefix of every ResNet variable. */
  public static final String PREFIX = "resnet";

  /** Name of the final BN applied after stage {@code stage} (3 for P, 4 for the full ResNet). */
  public static String finalBnName(int stage) {
    return PREFIX + "/stage" + stage + "_final_bn";
  }

  /** Name prefix of stage {@code stage} (1-based). */
  public static String stageName(int stage) {
    return PREFIX + "/stage" + stage;
  }

  /** Name prefix of the stem. */
  public static final String STEM = PREFIX + "/stem";

  /**
   * 2-D convolution, SAME padding, no bias: x [N, H, W, Cin] -> [N, ceil(H/s), ceil(W/s), Cout].
   * Kernel {@code name/kernel} [k, k, Cin, Cout], Kind.KERNEL, He normal (fan-in), or zeros if
   * {@code zeroInit}.
   */
  public static Operand<TFloat32> conv2d(
      Ops tf, VarStore vars, String name, Operand<TFloat32> x, int cout, int k, int stride,
      boolean zeroInit) {
    int cin = Layers.lastDim(x, name);
    String kname = name + "/kernel";
    Operand<TFloat32> w = vars.variable(kname, Shape.of(k, k, cin, cout), VarStore.Kind.KERNEL,
        zeroInit ? Layers.constantInit(0f) : Layers.heNormal(vars, kname, (long) k * k * cin));
    return tf.nn.conv2d(x, w, List.of(1L, (long) stride, (long) stride, 1L),
        "SAME");
  }

  /**
   * Batch norm over N, H, W with FusedBatchNormV3: x [N, H, W, C] -> [N, H, W, C]. Variables
   * {@code name/gamma} (ones), {@code name/beta} (zeros): TRAINABLE; {@code name/moving_mean}
   * (zeros), {@code name/moving_variance} (ones): STATE.
   *
   * <p>Training: normalises with the batch statistics and registers (via {@link
   * VarStore#addUpdate}) the moving-average updates {@code moving -= (1 - momentum) * (moving -
   * batch)}, with the op's unbiased batch variance. Inference: normalises with the moving stats.
   */
  public static Operand<TFloat32> batchNorm(
      Ops tf, VarStore vars, String name, Operand<TFloat32> x, ModelConfig c, boolean training) {
    int ch = Layers.lastDim(x, name);
    Shape s = Shape.of(ch);
    Operand<TFloat32> gamma =
        vars.variable(name + "/gamma", s, VarStore.Kind.TRAINABLE, Layers.constantInit(1f));
    Operand<TFloat32> beta =
        vars.variable(name + "/beta", s, VarStore.Kind.TRAINABLE, Layers.constantInit(0f));
    Operand<TFloat32> movingMean =
        vars.variable(name + "/moving_mean", s, VarStore.Kind.STATE, Layers.constantInit(0f));
    Operand<TFloat32> movingVar =
        vars.variable(name + "/moving_variance", s, VarStore.Kind.STATE, Layers.constantInit(1f));
    if (!training) {
      return tf.nn.fusedBatchNorm(x, gamma, beta, movingMean, movingVar,
          FusedBatchNorm.epsilon((float) c.bnEpsilon()), FusedBatchNorm.isTraining(false)).y();
    }
    Operand<TFloat32> empty = tf.constant(new float[0]);
    FusedBatchNorm<TFloat32, TFloat32> bn = tf.nn.fusedBatchNorm(x, gamma, beta, empty, empty,
        FusedBatchNorm.epsilon((float) c.bnEpsilon()), FusedBatchNorm.isTraining(true));
    Operand<TFloat32> rate = tf.constant((float) (1 - c.bnMomentum()));
    vars.addUpdate(tf.assignSub(vars.get(name + "/moving_mean").variable(),
        tf.math.mul(tf.math.sub(movingMean, bn.batchMean()), rate)));
    vars.addUpdate(tf.assignSub(vars.get(name + "/moving_variance").variable(),
        tf.math.mul(tf.math.sub(movingVar, bn.batchVariance()), rate)));
    return bn.y();
  }

  /** {@code relu(batchNorm(x))}: [N, H, W, C] -> [N, H, W, C]. */
  public static Operand<TFloat32> bnRelu(
      Ops tf, VarStore vars, String name, Operand<TFloat32> x, ModelConfig c, boolean training) {
    return tf.nn.relu(batchNorm(tf, vars, name, x, c, training));
  }

  /**
   * Pre-activation bottleneck block: x [N, H, W, Cin] -> [N, H/stride, W/stride, out].
   * <pre>
   * a        = relu(bn1(x))
   * shortcut = conv1x1/stride(a) -> out   if stride != 1 or Cin != out (projection), else x
   * y        = conv1(a) 1x1 -> out/4
   * y        = conv2(relu(bn2(y))) 3x3/stride -> out/4
   * y        = conv3(relu(bn3(y))) 1x1 -> out      (kernel zero if c.zeroInitLast())
   * return y + shortcut
   * </pre>
   * With {@code zeroInitLast} the residual branch starts at exactly 0, so an identity block
   * starts as the identity and a projection block as its projection.
   */
  public static Operand<TFloat32> bottleneck(
      Ops tf, VarStore vars, String name, Operand<TFloat32> x, int out, int stride,
      ModelConfig c, boolean training) {
    int cin = Layers.lastDim(x, name);
    int inner = out / 4;
    Operand<TFloat32> a = bnRelu(tf, vars, name + "/bn1", x, c, training);
    Operand<TFloat32> shortcut = (stride != 1 || cin != out)
        ? conv2d(tf, vars, name + "/shortcut", a, out, 1, stride, false)
        : x;
    Operand<TFloat32> y = conv2d(tf, vars, name + "/conv1", a, inner, 1, 1, false);
    y = conv2d(tf, vars, name + "/conv2", bnRelu(tf, vars, name + "/bn2", y, c, training),
        inner, 3, stride, false);
    y = conv2d(tf, vars, name + "/conv3", bnRelu(tf, vars, name + "/bn3", y, c, training),
        out, 1, 1, c.zeroInitLast());
    return tf.math.add(y, shortcut);
  }

  /**
   * The stem: x [N, H, W, C] -> CONV3X3: [N, H, W, stemWidth] (3x3 stride-1 conv); IMAGENET:
   * [N, H/4, W/4, stemWidth] (7x7 stride-2 conv, then 3x3 stride-2 max-pool). No BN/ReLU: in v2
   * the first block's bn1 pre-activates it.
   */
  public static Operand<TFloat32> stem(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> x) {
    if (c.stem() == ModelConfig.Stem.CONV3X3) {
      return conv2d(tf, vars, STEM + "/conv", x, c.stemWidth(), 3, 1, false);
    }
    Operand<TFloat32> y = conv2d(tf, vars, STEM + "/conv", x, c.stemWidth(), 7, 2, false);
    return tf.nn.maxPool(y, tf.constant(new int[] {1, 3, 3, 1}),
        tf.constant(new int[] {1, 2, 2, 1}), "SAME");
  }

  /**
   * Stage {@code stage} (1-based): {@code stageBlocks[stage-1]} bottlenecks of output width
   * {@code stageWidths[stage-1]}, the first with stride {@link ModelConfig#STAGE_STRIDES}:
   * [N, H, W, Cin] -> [N, H/s, W/s, width].
   */
  public static Operand<TFloat32> stage(
      Ops tf, VarStore vars, ModelConfig c, int stage, Operand<TFloat32> x, boolean training) {
    int out = c.stageWidths().get(stage - 1);
    for (int j = 0; j < c.stageBlocks().get(stage - 1); j++) {
      int stride = j == 0 ? ModelConfig.STAGE_STRIDES.get(stage - 1) : 1;
      x = bottleneck(tf, vars, stageName(stage) + "/block" + j, x, out, stride, c, training);
    }
    return x;
  }

  /**
   * Stem + stages 1..{@code stages}: x [N, H, W, C] -> [N, H', W', stageWidths[stages-1]] (no
   * final BN). {@code stages} = 3 is the trunk of the patch network, 4 the full ResNet.
   */
  public static Operand<TFloat32> trunk(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> x, int stages, boolean training) {
    if (stages < 1 || stages > 4) {
      throw new IllegalArgumentException("stages must be in 1..4, got " + stages);
    }
    Operand<TFloat32> y = stem(tf, vars, c, x);
    for (int i = 1; i <= stages; i++) {
      y = stage(tf, vars, c, i, y, training);
    }
    return y;
  }

  /**
   * Final BN + ReLU after stage {@code stage} (v2 needs it: block outputs are not normalised),
   * then global average pool: [N, H, W, W_stage] -> [N, W_stage].
   */
  public static Operand<TFloat32> finalBnReluPool(
      Ops tf, VarStore vars, ModelConfig c, int stage, Operand<TFloat32> x, boolean training) {
    Operand<TFloat32> y = bnRelu(tf, vars, finalBnName(stage), x, c, training);
    return tf.math.mean(y, tf.constant(new int[] {1, 2}));
  }

  /** Spatial side after the stem for an input side {@code size} (SAME padding). */
  public static int afterStem(ModelConfig c, int size) {
    return c.stem() == ModelConfig.Stem.CONV3X3 ? size : ceilDiv(ceilDiv(size, 2), 2);
  }

  static int ceilDiv(int a, int b) {
    return (a + b - 1) / b;
  }

  /** The stage strides as an array (for analytic counts). */
  static int[] strides() {
    return ModelConfig.STAGE_STRIDES.stream().mapToInt(Integer::intValue).toArray();
  }
}
