package dev.selfie.graph;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * How much the queries use the context, in one inference-mode pass: patch-selection accuracy
 * as trained, with the context zeroed, and with the context of another image (the batch rolled
 * by one: image b gets image b+1's, mod B; B >= 2). "Context" is what the queries receive:
 * u for query modes ADD and MLP (zeroed: {@code v_j = queries(0, j)}; in ADD that is the
 * position term alone); the context tokens h_C (+ positions) for ATTEND (zeroed: zero vectors in
 * their slots). Targets, masks and everything else are unchanged.
 *
 * @param normal, zeroed, shuffled scalar accuracies (chance 1/m)
 * @param logits, zeroedLogits, shuffledLogits [B, m, m]
 * @param u [B, d] A's pooled context; targets h_M [B, m, d]
 */
public record ContextDiagnostic(
    Operand<TFloat32> normal,
    Operand<TFloat32> zeroed,
    Operand<TFloat32> shuffled,
    Operand<TFloat32> logits,
    Operand<TFloat32> zeroedLogits,
    Operand<TFloat32> shuffledLogits,
    Operand<TFloat32> u,
    Operand<TFloat32> targets) {

  /**
   * The context diagnostic on images [B, S, S, C], BN in inference mode, no dropout; masks from
   * {@code seed} [2] as in pretraining (same seed, same masks).
   */
  public static ContextDiagnostic build(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> images, Operand<TInt64> seed) {
    Ops s = tf.withSubScope("diagnostic");
    int n = c.numPatches();
    Operand<TFloat32> patches = Selfie.cutPatches(s, c, images);           // [B, n, p, p, C]
    Operand<TFloat32> hFlat = Selfie.patchNetwork(s, vars, c, s.reshape(patches,
        s.constant(new int[] {-1, c.patchSize(), c.patchSize(), c.channels()})), false);
    Selfie.Mask mask = Selfie.mask(s, c, Layers.batchSize(s, images), patches, seed);
    Operand<TFloat32> context = Queries.contextTokens(s, vars, c,
        Selfie.gatherPatches(s, hFlat, mask.context(), n), mask.context()); // [B, n-m, d]
    Operand<TFloat32> targets = Selfie.gatherPatches(s, hFlat, mask.masked(), n); // [B, m, d]
    Queries.Encoded e = Queries.encode(s, vars, c, context, mask.masked(), null, false);
    Operand<TFloat32> zeroedV;
    Operand<TFloat32> shuffledV;
    if (c.queryMode() == ModelConfig.QueryMode.ATTEND) {
      zeroedV = Queries.encode(s, vars, c, s.zerosLike(context), mask.masked(), null, false)
          .queries();
      shuffledV = Queries.encode(s, vars, c, rollBatch(s, context), mask.masked(), null, false)
          .queries();
    } else {
      zeroedV = Queries.queriesFromPooled(s, vars, c, s.zerosLike(e.u()), mask.masked());
      shuffledV = Queries.queriesFromPooled(s, vars, c, rollBatch(s, e.u()), mask.masked());
    }
    SelfieLoss normal = SelfieLoss.of(s, e.queries(), targets, c.temperature());
    SelfieLoss zeroed = SelfieLoss.of(s, zeroedV, targets, c.temperature());
    SelfieLoss shuffled = SelfieLoss.of(s, shuffledV, targets, c.temperature());
    return new ContextDiagnostic(normal.accuracy(), zeroed.accuracy(), shuffled.accuracy(),
        normal.logits(), zeroed.logits(), shuffled.logits(), e.u(), targets);
  }

  /** x [B, ...] -> x rolled by one along the batch: out[b] = x[(b + 1) mod B]. */
  static Operand<TFloat32> rollBatch(Ops tf, Operand<TFloat32> x) {
    return tf.roll(x, tf.constant(-1), tf.constant(0));
  }
}
