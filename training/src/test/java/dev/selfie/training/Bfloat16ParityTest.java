package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.runtime.Precision;
import dev.selfie.training.runtime.SessionConfigs;
import java.util.Arrays;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * The bfloat16 loss curve of the {@code tiny} pretraining step tracks float32's: the same
 * initial weights, the same fixed batch and the same per-step seeds (masking, dropout), so the
 * two runs differ only by the arithmetic.
 *
 * <p>Tolerances: bfloat16 keeps 8 significant bits, so each rounded matmul/convolution input is
 * off by at most 2^-9 (0.2%) relative; tiny's forward pass chains ~10 of them, so the first
 * loss (identical weights) may move by about 10 x 0.2% = 2% in the worst case and much less on
 * average: we allow 2% and require it to differ at all (else bfloat16 was not used). Over
 * training the two trajectories drift apart like any two runs differing in rounding, so the
 * curve is compared on its mean over the last 10 of 40 steps: within 4% of float32's (measured
 * on an AVX512_BF16/AMX-BF16 Xeon: first loss 1.8801 vs 1.8794, 0.04%; last-10 mean 1.358 vs
 * 1.381, 1.7%), next to the drop both runs must show (the mean of the last 10 steps below 85% of
 * the first loss: 1.88 -> 1.36). A bfloat16 bug (a float32-only op fed bfloat16, a lost
 * gradient) shows as a first-loss gap or a stalled curve.
 */
class Bfloat16ParityTest {
  static final int STEPS = 40;
  static final int BATCH = 16;

  @Test
  void bfloat16LossCurveTracksFloat32() {
    Set<String> bf16 = Precision.bf16Flags(Precision.cpuFlags());
    boolean onednn = SessionConfigs.onednnRequested();
    if (bf16.isEmpty() || !onednn) {
      System.out.println("SKIPPED bfloat16LossCurveTracksFloat32: " + (bf16.isEmpty()
          ? "this CPU has no avx512_bf16 or amx_bf16" : "oneDNN is off (TF_ENABLE_ONEDNN_OPTS)"));
    }
    assumeTrue(!bf16.isEmpty() && onednn, "no bfloat16 CPU or oneDNN off");
    double[] f32 = curve(Precision.FLOAT32);
    double[] b16 = curve(Precision.BFLOAT16);
    System.out.println("tiny pretraining loss, float32:  " + Arrays.toString(f32));
    System.out.println("tiny pretraining loss, bfloat16: " + Arrays.toString(b16));
    assertNotEquals(f32[0], b16[0], "identical first loss: the bfloat16 rewrite did nothing");
    assertTrue(Math.abs(b16[0] - f32[0]) < 0.02 * f32[0],
        "first loss " + b16[0] + " vs float32 " + f32[0]);
    double endF32 = tailMean(f32);
    double endB16 = tailMean(b16);
    assertTrue(endF32 < 0.85 * f32[0], "float32 did not learn: " + f32[0] + " -> " + endF32);
    assertTrue(endB16 < 0.85 * b16[0], "bfloat16 did not learn: " + b16[0] + " -> " + endB16);
    assertTrue(Math.abs(endB16 - endF32) < 0.04 * endF32,
        "last-10-step mean loss bfloat16 " + endB16 + " vs float32 " + endF32);
  }

  static double tailMean(double[] c) {
    return Arrays.stream(c, c.length - 10, c.length).average().orElseThrow();
  }

  /** The loss of each of {@link #STEPS} training steps of {@code tiny} in precision {@code p}. */
  static double[] curve(Precision p) {
    ModelConfig model = ModelConfig.preset("tiny");
    int s = model.imageSize();
    float[] pixels = new float[BATCH * s * s * model.channels()];
    Random rnd = new Random(7);
    for (int i = 0; i < pixels.length; i++) {
      pixels[i] = (float) rnd.nextGaussian();
    }
    double[] losses = new double[STEPS];
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> images = tf.withName("images").placeholder(TFloat32.class,
          Placeholder.shape(Shape.of(-1, s, s, model.channels())));
      Placeholder<TInt64> seed = tf.withName("seed")
          .placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
      VarStore vars = new VarStore(Ops.create(g), 1);
      GlobalStep step = GlobalStep.create(tf);
      Selfie.PretrainOutputs out = Selfie.pretrain(tf, vars, model, images, seed, true);
      // Fetched through an identity: grappler leaves fetched nodes in their dtype anyway.
      var loss = tf.identity(out.loss());
      Optimizers.TrainOp train = Optimizers.minimize(tf, g, out.loss(), vars,
          ScheduleOptions.optimizer("sgd", 0.05, 0, STEPS, 1e-4), step);
      try (Session session = new Session(g, SessionConfigs.configProto(
              new SessionConfigs.Options(1, 1, false, false, p)));
          TFloat32 x = TFloat32.tensorOf(Shape.of(BATCH, s, s, model.channels()),
              d -> d.copyFrom(DataBuffers.of(pixels)))) {
        session.initialize();
        for (int i = 0; i < STEPS; i++) {
          try (TInt64 sd = TInt64.vectorOf(1, i);
              Result r = session.runner().feed(images, x).feed(seed, sd)
                  .addTarget(train.trainOp()).fetch(loss).run()) {
            losses[i] = ((TFloat32) r.get(0)).getFloat();
          }
        }
      }
    }
    return losses;
  }
}
