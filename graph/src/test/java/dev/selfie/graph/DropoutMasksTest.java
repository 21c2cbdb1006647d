package dev.selfie.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * The dropout masks the attention pooling draws in training, fetched from the graph: every
 * dropout op gets its own mask. The additive seed offsets of before made layer i's feed-forward
 * residual mask identical to layer i+1's attention-residual mask.
 */
class DropoutMasksTest {

  /** Creation index of an op named {@code ...Type} or {@code ...Type_N} (0, N). */
  private static int index(GraphOperation op) {
    String n = op.name().substring(op.name().lastIndexOf('/') + 1);
    int u = n.lastIndexOf('_');
    return u < 0 ? 0 : Integer.parseInt(n.substring(u + 1));
  }

  /** keep[i] = uniform[i] >= rate, as {@link Layers#dropout} decides. */
  private static boolean[] keep(float[] uniform, double rate) {
    boolean[] k = new boolean[uniform.length];
    for (int i = 0; i < k.length; i++) {
      k[i] = uniform[i] >= (float) rate;
    }
    return k;
  }

  private static double fractionDiffering(boolean[] a, boolean[] b) {
    int d = 0;
    for (int i = 0; i < a.length; i++) {
      d += a[i] != b[i] ? 1 : 0;
    }
    return (double) d / a.length;
  }

  @Test
  void everyDropoutOfTheAttentionPoolingDrawsItsOwnMask() {
    ModelConfig c = ModelConfig.preset("small"); // dropout 0.1, L = 3
    assertTrue(c.dropout() > 0 && c.layers() >= 2);
    int b = 4;
    int t = 6;                                    // tokens: u0 + 5 patches
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf, 1);
      Operand<TFloat32> h = tf.constant(Shape.of(b, t - 1, c.d()),
          DataBuffers.of(TestSupport.randomFloats(b * (t - 1) * c.d(), 5)));
      Operand<TInt64> seed = tf.constant(new long[] {42, 7});
      Operand<TFloat32> u = Attention.attentionPool(tf.withSubScope("pool"), vars, c, h, seed,
          true);
      List<GraphOperation> draws = new ArrayList<>();
      for (Iterator<GraphOperation> it = g.operations(); it.hasNext(); ) {
        GraphOperation op = it.next();
        if (op.name().startsWith("pool/") && op.type().startsWith("StatelessRandomUniform")) {
          draws.add(op);
        }
      }
      draws.sort(Comparator.comparingInt(DropoutMasksTest::index));
      // per layer: attention probabilities, attention residual, feed-forward residual
      assertEquals(3 * c.layers(), draws.size(), "dropout draws in " + c.layers() + " layers");
      try (Session s = new Session(g)) {
        s.initialize();
        Session.Runner r = s.runner().fetch(u);
        draws.forEach(d -> r.fetch(d.output(0)));
        List<boolean[]> residual = new ArrayList<>();   // [B, T, d] masks in creation order
        List<boolean[]> all = new ArrayList<>();
        try (Result res = r.run()) {
          for (int i = 0; i < draws.size(); i++) {
            TFloat32 x = (TFloat32) res.get(i + 1);
            float[] values = TestSupport.floats(x);
            boolean[] k = keep(values, c.dropout());
            all.add(k);
            if (x.shape().equals(Shape.of(b, t, c.d()))) {
              residual.add(k);
            }
          }
        }
        assertEquals(2 * c.layers(), residual.size(), "two residual dropouts per layer");
        for (int i = 0; i + 1 < c.layers(); i++) {
          boolean[] ffnOfLayerI = residual.get(2 * i + 1);
          boolean[] attnResidualOfNext = residual.get(2 * (i + 1));
          // independent masks at rate 0.1 differ in ~18% of the elements; the same mask in none
          double differ = fractionDiffering(ffnOfLayerI, attnResidualOfNext);
          assertTrue(differ > 0.1, "layer " + i + "'s feed-forward residual mask vs layer "
              + (i + 1) + "'s attention-residual mask: only " + differ + " of elements differ");
        }
        for (int i = 0; i < all.size(); i++) {
          for (int j = i + 1; j < all.size(); j++) {
            if (all.get(i).length == all.get(j).length) {
              assertTrue(fractionDiffering(all.get(i), all.get(j)) > 0.1,
                  "dropout draws " + i + " and " + j + " share a mask");
            }
          }
        }
      }
    }
  }
}
