package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.runtime.Devices;
import dev.selfie.training.runtime.SessionConfigs;
import dev.selfie.training.runtime.Xla;
import java.util.Iterator;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.StdArrays;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * The single-GPU graph of {@link Pretrain#run} (model and variables on {@code /device:GPU:0},
 * the session config of a GPU run) built and trained on a machine without a GPU: soft placement
 * moves every op to the CPU, and a few steps train. Without soft placement the same graph is
 * rejected, which shows the GPU device names really are in it.
 */
class GpuPlacementTest {
  static final int B = 4;

  record Built(Graph g, Placeholder<TFloat32> x, Placeholder<TInt64> seed,
      Optimizers.TrainOp train, org.tensorflow.Operand<TFloat32> loss) {}

  static Built build(Graph g) {
    ModelConfig model = ModelConfig.preset("tiny").withData(3, 10);
    Ops tf = Ops.create(g);
    Placeholder<TFloat32> x = tf.withName("images").placeholder(TFloat32.class,
        Placeholder.shape(Shape.of(B, 32, 32, 3)));
    // As Pretrain.run places a GPU run.
    Ops mtf = tf.withDevice(Devices.modelDevice(true));
    VarStore vars = new VarStore(Ops.create(g).withDevice(Devices.modelDevice(true)), 3);
    GlobalStep step = GlobalStep.create(tf);
    Placeholder<TInt64> seed = tf.withName("seed")
        .placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
    Selfie.PretrainOutputs out = Selfie.pretrain(mtf, vars, model, x, seed, true);
    Optimizers.TrainOp train = Optimizers.minimize(mtf, g, out.loss(), vars,
        OptimizerConfig.sgd(0.05, 0, 10), step);
    return new Built(g, x, seed, train, out.loss());
  }

  static float[][][][] images(int offset) {
    float[][][][] a = new float[B][32][32][3];
    for (int i = 0; i < B; i++) {
      for (int h = 0; h < 32; h++) {
        for (int w = 0; w < 32; w++) {
          for (int c = 0; c < 3; c++) {
            a[i][h][w][c] = (float) Math.sin(0.3 * (i + offset) + 0.1 * h * (c + 1) + 0.05 * w);
          }
        }
      }
    }
    return a;
  }

  @Test
  void gpuPlacedGraphTrainsOnTheCpuUnderSoftPlacement() {
    assertFalse(Devices.hasGpu(Devices.list()), "this test is for machines without a GPU");
    try (Graph g = new Graph()) {
      Built b = build(g);
      // The model's ops ask for GPU:0.
      TreeSet<String> devices = new TreeSet<>();
      int gpuOps = 0;
      for (Iterator<GraphOperation> it = g.operations(); it.hasNext(); ) {
        GraphOperation op = it.next();
        devices.add(op.device());
        gpuOps += op.device().equals("/device:GPU:0") ? 1 : 0;
      }
      assertTrue(gpuOps > 100, "only " + gpuOps + " ops on GPU:0; devices " + devices);

      SessionConfigs.Options gpuRun = new SessionConfigs.Options(0, 0, false, true);
      try (Session s = new Session(g, SessionConfigs.configProto(gpuRun))) {
        s.initialize();
        double first = Double.NaN;
        double last = Double.NaN;
        for (int i = 0; i < 4; i++) {
          try (TFloat32 x = TFloat32.tensorOf(StdArrays.ndCopyOf(images(i % 2)));
              TInt64 seed = TInt64.vectorOf(5, i);
              Result r = s.runner().feed(b.x(), x).feed(b.seed(), seed).fetch(b.loss())
                  .addTarget(b.train().trainOp())
                  .setOptions(Xla.traceOptions()).runAndFetchMetadata()) {
            double loss = ((TFloat32) r.get(0)).getFloat();
            assertTrue(Double.isFinite(loss), "step " + i + ": loss " + loss);
            first = i == 0 ? loss : first;
            last = loss;
            RunMetadata meta = r.getMetadata().orElseThrow();
            for (DeviceStepStats d : meta.getStepStats().getDevStatsList()) {
              assertFalse(d.getDevice().contains("GPU"), d.getDevice());
            }
            assertTrue(meta.getStepStats().getDevStatsList().stream()
                .anyMatch(d -> d.getDevice().endsWith("/device:CPU:0")
                    && d.getNodeStatsCount() > 100), "the step did not run on CPU:0");
          }
        }
        assertNotEquals(first, last, "the loss never changed: nothing trained");
      }
    }
  }

  @Test
  void withoutSoftPlacementTheGpuNamesAreRejected() {
    try (Graph g = new Graph()) {
      Built b = build(g);
      try (Session s = new Session(g, SessionConfigs.configProto(
          new SessionConfigs.Options(0, 0, false, false)))) {
        Exception e = assertThrows(Exception.class, s::initialize);
        assertTrue(e.getMessage().contains("GPU:0"), e.getMessage());
      }
    }
  }
}
