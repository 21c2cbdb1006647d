package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.training.jobs.Probe;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.StdArrays;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The probe's BN recalibration ({@link Probe#recalibrateBatchNorm}): after it, P's moving
 * statistics are the batch statistics of whole images, so inference-mode features equal
 * training-mode features on the same images.
 */
class ProbeBatchNormTest {

  /** A fixed batch of whole images [16, 32, 32, 3], not centred (mean 0.3, spread 1). */
  private static float[][][][] images() {
    Random r = new Random(7);
    float[][][][] x = new float[16][32][32][3];
    for (float[][][] im : x) {
      for (float[][] row : im) {
        for (float[] px : row) {
          for (int c = 0; c < 3; c++) {
            px[c] = 0.3f + (float) r.nextGaussian();
          }
        }
      }
    }
    return x;
  }

  private static double maxAbsDiff(float[] a, float[] b) {
    assertEquals(a.length, b.length);
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs(a[i] - b[i]));
    }
    return m;
  }

  private static double maxAbs(float[] a) {
    double m = 0;
    for (float v : a) {
      m = Math.max(m, Math.abs(v));
    }
    return m;
  }

  @Test
  void recalibratedMovingStatisticsAreTheWholeImageBatchStatistics() {
    ModelConfig c = ModelConfig.preset("tiny");
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf, 3);
      Operand<TFloat32> x = tf.constant(StdArrays.ndCopyOf(images()));
      Operand<TFloat32> inference = Selfie.imageEmbedding(tf.withSubScope("infer"), vars, c, x,
          false);                                                             // [16, d]
      int before = vars.updates().size();
      Operand<TFloat32> training = Selfie.imageEmbedding(tf.withSubScope("calib"), vars, c, x,
          true);                                                              // [16, d]
      List<Op> updates = List.copyOf(vars.updates().subList(before, vars.updates().size()));
      List<GraphOperation> bns = new ArrayList<>();
      for (Iterator<GraphOperation> it = g.operations(); it.hasNext(); ) {
        GraphOperation op = it.next();
        if (op.type().equals("FusedBatchNormV3") && op.name().startsWith("calib/")) {
          bns.add(op);
        }
      }
      List<VarStore.Entry> means = vars.all().stream()
          .filter(e -> e.name().endsWith("/moving_mean")).toList();
      List<VarStore.Entry> variances = vars.all().stream()
          .filter(e -> e.name().endsWith("/moving_variance")).toList();
      assertEquals(means.size(), bns.size(), "one training BN op per BN layer");
      assertEquals(2 * means.size(), updates.size(), "mean and variance update per BN layer");
      assertTrue(means.size() >= 5, "tiny P has BN layers in every stage, got " + means.size());

      try (Session s = new Session(g)) {
        s.initialize();
        float[] trainFeatures = TestTensors.read(s, training);
        float[] initFeatures = TestTensors.read(s, inference);
        assertTrue(maxAbsDiff(trainFeatures, initFeatures) > 0.1 * maxAbs(trainFeatures),
            "with the initial statistics (0, 1) inference features differ from batch-statistics"
                + " features");

        double left = Probe.recalibrateBatchNorm(s, updates, 200, c.bnMomentum());
        assertEquals(Math.pow(c.bnMomentum(), 200), left, 1e-15);

        // Every layer's moving mean / variance is its batch mean / (unbiased) variance on these
        // whole images: matched by value, each BN op to exactly one moving statistic.
        List<float[]> meanValues = new ArrayList<>();
        List<float[]> varValues = new ArrayList<>();
        for (int i = 0; i < means.size(); i++) {
          meanValues.add(TestTensors.read(s, means.get(i).value()));
          varValues.add(TestTensors.read(s, variances.get(i).value()));
        }
        boolean[] used = new boolean[means.size()];
        for (GraphOperation bn : bns) {
          float[] batchMean = TestTensors.read(s, bn.<TFloat32>output(1));
          float[] batchVar = TestTensors.read(s, bn.<TFloat32>output(2));
          int match = -1;
          for (int i = 0; i < means.size(); i++) {
            if (!used[i] && meanValues.get(i).length == batchMean.length
                && maxAbsDiff(meanValues.get(i), batchMean) <= 1e-4 * (1 + maxAbs(batchMean))
                && maxAbsDiff(varValues.get(i), batchVar) <= 1e-4 * (1 + maxAbs(batchVar))) {
              match = i;
              break;
            }
          }
          assertTrue(match >= 0, "no moving statistics equal the batch statistics of " + bn.name());
          used[match] = true;
        }

        // Hence the inference embedding is the training (batch-statistics) embedding, up to the
        // unbiased-vs-biased variance (factor n/(n-1), n >= 16*4*4 values per channel).
        float[] recalibrated = TestTensors.read(s, inference);
        assertTrue(maxAbsDiff(recalibrated, trainFeatures) <= 0.02 * maxAbs(trainFeatures),
            "inference features after recalibration: max diff "
                + maxAbsDiff(recalibrated, trainFeatures) + ", scale " + maxAbs(trainFeatures));
      }
    }
  }

  @Test
  void recalibrationNeedsUpdatesAndValidBatchCounts() {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      assertThrows(IllegalArgumentException.class,
          () -> Probe.recalibrateBatchNorm(s, List.of(), 10, 0.9));
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new Probe.Options("fashion-mnist", null, null, "tiny", Probe.Features.IMAGE, 1.0, 1,
            20, 10, 100, true, 0));
    assertTrue(e.getMessage().contains("--bn-batches"), e.getMessage());
    assertEquals(43, Probe.batchesToConverge(0.85));
    assertEquals(66, Probe.batchesToConverge(0.9));
  }
}
