package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.graph.VarStore;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.optim.Schedules;
import dev.selfie.training.run.Json;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

class OptimizersTest {
  static final double TOL = 1e-5;

  private static float[] read(Session s, VarStore.Entry e) {
    try (Result r = s.runner().fetch(e.value()).run()) {
      TFloat32 t = (TFloat32) r.get(0);
      float[] out = new float[(int) t.size()];
      t.copyTo(org.tensorflow.ndarray.NdArrays.wrap(t.shape(), org.tensorflow.ndarray.buffer.DataBuffers.of(out, false, false)));
      return out;
    }
  }

  private static float readScalar(Session s, org.tensorflow.Operand<TFloat32> op) {
    try (Result r = s.runner().fetch(op).run()) {
      return ((TFloat32) r.get(0)).getFloat();
    }
  }

  @Test
  void sgdNesterovWithDecayMatchesHandComputation() {
    OptimizerConfig c = OptimizerConfig.sgd(0.5, 2, 5).withWeightDecay(0.1);
    try (Graph g = new Graph()) {
      TinyModel m = new TinyModel(g);
      GlobalStep step = GlobalStep.create(m.tf);
      Optimizers.TrainOp op = Optimizers.minimize(m.tf, g, m.loss, m.vars, c, step);
      assertEquals(List.of("dense/kernel/momentum", "dense/bias/momentum"),
          op.slots().stream().map(VarStore.Entry::name).toList());
      try (Session s = new Session(g)) {
        s.initialize();
        TinyModel.Params p = new TinyModel.Params();
        double[][] accW = new double[3][2];
        double[] accB = new double[2];
        double mom = c.momentum();
        for (int t = 0; t < 4; t++) {
          double lr = Schedules.warmupCosine(t, c.baseLr(), c.warmupSteps(), c.totalSteps());
          assertEquals(lr, readScalar(s, op.learningRate()), 1e-6, "lr at step " + t);
          assertEquals(TinyModel.loss(p), readScalar(s, m.loss), TOL, "loss before step " + t);
          double[][][] gr = TinyModel.grads(p);
          for (int i = 0; i < 3; i++) {
            for (int k = 0; k < 2; k++) {
              double w = p.w[i][k] - lr * c.weightDecay() * p.w[i][k];
              accW[i][k] = mom * accW[i][k] + gr[0][i][k];
              p.w[i][k] = w - lr * gr[0][i][k] - lr * mom * accW[i][k];
            }
          }
          for (int k = 0; k < 2; k++) {
            accB[k] = mom * accB[k] + gr[1][0][k];
            p.b[k] = p.b[k] - lr * gr[1][0][k] - lr * mom * accB[k];
          }
          s.run(op.trainOp());
          assertEquals(t + 1, step.read(s));
          float[] w = read(s, m.vars.get("dense/kernel"));
          float[] b = read(s, m.vars.get("dense/bias"));
          for (int i = 0; i < 3; i++) {
            for (int k = 0; k < 2; k++) {
              assertEquals(p.w[i][k], w[i * 2 + k], TOL, "w[" + i + "," + k + "] step " + t);
            }
          }
          assertEquals(p.b[0], b[0], TOL);
          assertEquals(p.b[1], b[1], TOL);
          float[] acc = read(s, m.vars.get("dense/bias/momentum"));
          assertEquals(accB[1], acc[1], TOL);
        }
      }
    }
  }

  /**
   * Layer-wise finetuning: the kernel plays a pretrained layer at 0.1 x the learning rate, frozen
   * for the first 2 steps (no update, no decay, no momentum); the bias trains normally.
   */
  @Test
  void layerwiseScaleAndHeadFirstMatchHandComputation() {
    OptimizerConfig c = OptimizerConfig.sgd(0.5, 1, 6).withWeightDecay(0.1);
    double scale = 0.1;
    long frozenUntil = 2;
    try (Graph g = new Graph()) {
      TinyModel m = new TinyModel(g);
      GlobalStep step = GlobalStep.create(m.tf);
      Optimizers.TrainOp op = Optimizers.minimize(m.tf, g, m.loss, m.vars, c, step,
          new Optimizers.Layerwise(java.util.Set.of("dense/kernel"), scale, frozenUntil));
      try (Session s = new Session(g)) {
        s.initialize();
        TinyModel.Params p = new TinyModel.Params();
        double[][] w0 = new double[3][2];
        for (int i = 0; i < 3; i++) {
          w0[i] = p.w[i].clone();
        }
        double[][] accW = new double[3][2];
        double[] accB = new double[2];
        double mom = c.momentum();
        for (int t = 0; t < 5; t++) {
          double lr = Schedules.warmupCosine(t, c.baseLr(), c.warmupSteps(), c.totalSteps());
          double kLr = t < frozenUntil ? 0 : lr * scale;
          double[][][] gr = TinyModel.grads(p);
          for (int i = 0; i < 3; i++) {
            for (int k = 0; k < 2; k++) {
              double gk = t < frozenUntil ? 0 : gr[0][i][k];
              double w = p.w[i][k] - kLr * c.weightDecay() * p.w[i][k];
              accW[i][k] = mom * accW[i][k] + gk;
              p.w[i][k] = w - kLr * gk - kLr * mom * accW[i][k];
            }
          }
          for (int k = 0; k < 2; k++) {
            accB[k] = mom * accB[k] + gr[1][0][k];
            p.b[k] = p.b[k] - lr * gr[1][0][k] - lr * mom * accB[k];
          }
          s.run(op.trainOp());
          float[] w = read(s, m.vars.get("dense/kernel"));
          float[] b = read(s, m.vars.get("dense/bias"));
          for (int i = 0; i < 3; i++) {
            for (int k = 0; k < 2; k++) {
              assertEquals(p.w[i][k], w[i * 2 + k], TOL, "w[" + i + "," + k + "] step " + t);
              if (t < frozenUntil) {
                assertEquals(w0[i][k], w[i * 2 + k], 0.0, "kernel moved while frozen, step " + t);
              }
            }
          }
          assertEquals(p.b[0], b[0], TOL, "b[0] step " + t);
          assertEquals(p.b[1], b[1], TOL, "b[1] step " + t);
          float[] acc = read(s, m.vars.get("dense/kernel/momentum"));
          assertEquals(accW[2][1], acc[5], TOL, "kernel momentum step " + t);
        }
      }
    }
    assertThrows(IllegalArgumentException.class,
        () -> new Optimizers.Layerwise(java.util.Set.of(), -1, 0));
    assertThrows(IllegalArgumentException.class,
        () -> new Optimizers.Layerwise(java.util.Set.of(), 1, -1));
  }

  @Test
  void sgdNesterovWithL2DecayMatchesHandComputation() {
    // L2: grad <- grad + wd*w, which then goes through the momentum (no decoupled decay).
    OptimizerConfig c = OptimizerConfig.sgd(0.5, 2, 5).withWeightDecay(0.1)
        .withWeightDecayType(OptimizerConfig.WeightDecayType.L2);
    try (Graph g = new Graph()) {
      TinyModel m = new TinyModel(g);
      GlobalStep step = GlobalStep.create(m.tf);
      Optimizers.TrainOp op = Optimizers.minimize(m.tf, g, m.loss, m.vars, c, step);
      try (Session s = new Session(g)) {
        s.initialize();
        TinyModel.Params p = new TinyModel.Params();
        TinyModel.Params decoupled = new TinyModel.Params();
        double[][] accW = new double[3][2];
        double[][] accD = new double[3][2];
        double[] accB = new double[2];
        double mom = c.momentum();
        double wd = c.weightDecay();
        for (int t = 0; t < 4; t++) {
          double lr = Schedules.warmupCosine(t, c.baseLr(), c.warmupSteps(), c.totalSteps());
          double[][][] gr = TinyModel.grads(p);
          double[][][] grD = TinyModel.grads(decoupled);
          for (int i = 0; i < 3; i++) {
            for (int k = 0; k < 2; k++) {
              double gw = gr[0][i][k] + wd * p.w[i][k];
              accW[i][k] = mom * accW[i][k] + gw;
              p.w[i][k] = p.w[i][k] - lr * gw - lr * mom * accW[i][k];
              // the decoupled rule on the same data, to show the test tells them apart
              double w = decoupled.w[i][k] * (1 - lr * wd);
              accD[i][k] = mom * accD[i][k] + grD[0][i][k];
              decoupled.w[i][k] = w - lr * grD[0][i][k] - lr * mom * accD[i][k];
            }
          }
          for (int k = 0; k < 2; k++) {
            accB[k] = mom * accB[k] + gr[1][0][k]; // biases: no decay
            p.b[k] = p.b[k] - lr * gr[1][0][k] - lr * mom * accB[k];
            decoupled.b[k] = p.b[k];
          }
          s.run(op.trainOp());
          float[] w = read(s, m.vars.get("dense/kernel"));
          float[] b = read(s, m.vars.get("dense/bias"));
          float[] acc = read(s, m.vars.get("dense/kernel/momentum"));
          double apart = 0;
          for (int i = 0; i < 3; i++) {
            for (int k = 0; k < 2; k++) {
              assertEquals(p.w[i][k], w[i * 2 + k], TOL, "w[" + i + "," + k + "] step " + t);
              assertEquals(accW[i][k], acc[i * 2 + k], TOL, "momentum of w step " + t);
              apart = Math.max(apart, Math.abs(p.w[i][k] - decoupled.w[i][k]));
            }
          }
          assertEquals(p.b[0], b[0], TOL);
          assertEquals(p.b[1], b[1], TOL);
          if (t > 0) {
            assertTrue(apart > 100 * TOL, "L2 and decoupled must differ by step " + t);
          }
        }
      }
    }
  }

  @Test
  void weightDecayTypeDefaultsToDecoupledAndOldConfigsLoad() throws Exception {
    assertEquals(OptimizerConfig.WeightDecayType.DECOUPLED,
        OptimizerConfig.sgd(0.1, 0, 10).weightDecayType());
    assertEquals(OptimizerConfig.WeightDecayType.DECOUPLED,
        OptimizerConfig.adam(0.1, 0, 10).weightDecayType());
    // an optimizer block of a config.json written before the field existed
    String old = "{\"kind\":\"SGD\",\"baseLr\":0.1,\"momentum\":0.9,\"nesterov\":true,"
        + "\"weightDecay\":1.0E-4,\"warmupSteps\":200,\"totalSteps\":12000,\"beta1\":0.9,"
        + "\"beta2\":0.999,\"epsilon\":1.0E-8,\"clipGlobalNorm\":0.0}";
    OptimizerConfig c = Json.MAPPER.readValue(old, OptimizerConfig.class);
    assertEquals(OptimizerConfig.WeightDecayType.DECOUPLED, c.weightDecayType());
    assertEquals(1e-4, c.weightDecay());
    OptimizerConfig l2 = c.withWeightDecayType(OptimizerConfig.WeightDecayType.L2);
    String json = Json.MAPPER.writeValueAsString(l2);
    assertTrue(json.contains("\"weightDecayType\" : \"L2\""), json);
    assertEquals(l2, Json.MAPPER.readValue(json, OptimizerConfig.class));
    assertEquals(OptimizerConfig.WeightDecayType.L2, OptimizerConfig.WeightDecayType.parse("L2"));
    assertEquals(OptimizerConfig.WeightDecayType.DECOUPLED,
        OptimizerConfig.WeightDecayType.parse("decoupled"));
    var e = assertThrows(IllegalArgumentException.class,
        () -> OptimizerConfig.WeightDecayType.parse("adamw"));
    assertTrue(e.getMessage().contains("--weight-decay-type"), e.getMessage());
  }

  @Test
  void adamWithDecayMatchesHandComputation() {
    OptimizerConfig c = OptimizerConfig.adam(0.1, 0, 10).withWeightDecay(0.05);
    try (Graph g = new Graph()) {
      TinyModel m = new TinyModel(g);
      GlobalStep step = GlobalStep.create(m.tf);
      Optimizers.TrainOp op = Optimizers.minimize(m.tf, g, m.loss, m.vars, c, step);
      assertEquals(4, op.slots().size());
      try (Session s = new Session(g)) {
        s.initialize();
        TinyModel.Params p = new TinyModel.Params();
        double[][] mw = new double[3][2];
        double[][] vw = new double[3][2];
        double[] mb = new double[2];
        double[] vb = new double[2];
        double b1 = c.beta1();
        double b2 = c.beta2();
        for (int t = 0; t < 3; t++) {
          double lr = Schedules.warmupCosine(t, c.baseLr(), c.warmupSteps(), c.totalSteps());
          double lrT = lr * Math.sqrt(1 - Math.pow(b2, t + 1)) / (1 - Math.pow(b1, t + 1));
          double[][][] gr = TinyModel.grads(p);
          for (int i = 0; i < 3; i++) {
            for (int k = 0; k < 2; k++) {
              double w = p.w[i][k] * (1 - lr * c.weightDecay());
              double gg = gr[0][i][k];
              mw[i][k] = b1 * mw[i][k] + (1 - b1) * gg;
              vw[i][k] = b2 * vw[i][k] + (1 - b2) * gg * gg;
              p.w[i][k] = w - lrT * mw[i][k] / (Math.sqrt(vw[i][k]) + c.epsilon());
            }
          }
          for (int k = 0; k < 2; k++) {
            double gg = gr[1][0][k];
            mb[k] = b1 * mb[k] + (1 - b1) * gg;
            vb[k] = b2 * vb[k] + (1 - b2) * gg * gg;
            p.b[k] = p.b[k] - lrT * mb[k] / (Math.sqrt(vb[k]) + c.epsilon());
          }
          s.run(op.trainOp());
          float[] w = read(s, m.vars.get("dense/kernel"));
          float[] b = read(s, m.vars.get("dense/bias"));
          for (int i = 0; i < 6; i++) {
            assertEquals(p.w[i / 2][i % 2], w[i], TOL, "w[" + i + "] step " + t);
          }
          assertEquals(p.b[0], b[0], TOL);
          assertEquals(p.b[1], b[1], TOL);
        }
      }
    }
  }

  @Test
  void decayOnlyOnKernelsAndStateNotTrained() {
    // Zero gradients: only weight decay moves anything; the BN-like update still runs.
    OptimizerConfig c = OptimizerConfig.sgd(0.5, 0, 10).withWeightDecay(0.2);
    try (Graph g = new Graph()) {
      TinyModel m = new TinyModel(g);
      Ops tf = m.tf;
      var zeroLoss = tf.math.mul(tf.constant(0f), m.loss);
      GlobalStep step = GlobalStep.create(tf);
      Optimizers.TrainOp op = Optimizers.minimize(tf, g, zeroLoss, m.vars, c, step);
      try (Session s = new Session(g)) {
        s.initialize();
        float[] meanBefore = read(s, m.vars.get("bn/moving_mean"));
        s.run(op.trainOp());
        double lr = Schedules.warmupCosine(0, 0.5, 0, 10);
        float[] w = read(s, m.vars.get("dense/kernel"));
        for (int i = 0; i < 6; i++) {
          assertEquals(TinyModel.W0[i / 2][i % 2] * (1 - lr * 0.2), w[i], 1e-6);
        }
        float[] b = read(s, m.vars.get("dense/bias"));
        assertEquals(TinyModel.B0[0], b[0], 0);
        assertEquals(TinyModel.B0[1], b[1], 0);
        // moving mean = 0.5*0 + 0.5*mean(logits at initial weights), not decayed, not trained
        double[][] z = TinyModel.forward(new TinyModel.Params());
        double mean0 = (z[0][0] + z[1][0] + z[2][0] + z[3][0]) / 4;
        float[] meanAfter = read(s, m.vars.get("bn/moving_mean"));
        assertEquals(0f, meanBefore[0]);
        assertEquals(0.5 * mean0, meanAfter[0], 1e-6);
        assertEquals(1, step.read(s));
      }
    }
  }

  @Test
  void clippingScalesGradientsToTheGlobalNorm() {
    OptimizerConfig c = new OptimizerConfig(OptimizerConfig.Kind.SGD, 0.1, 0, false, 0, 0, 10,
        0.9, 0.999, 1e-8, 0.01);
    try (Graph g = new Graph()) {
      TinyModel m = new TinyModel(g);
      GlobalStep step = GlobalStep.create(m.tf);
      Optimizers.TrainOp op = Optimizers.minimize(m.tf, g, m.loss, m.vars, c, step);
      try (Session s = new Session(g)) {
        s.initialize();
        double[][][] gr = TinyModel.grads(new TinyModel.Params());
        double sq = 0;
        for (double[][] a : gr) {
          for (double[] row : a) {
            for (double v : row) {
              sq += v * v;
            }
          }
        }
        double norm = Math.sqrt(sq);
        assertEquals(norm, readScalar(s, op.gradientNorm()), 1e-5);
        s.run(op.trainOp());
        float[] w = read(s, m.vars.get("dense/kernel"));
        double scale = 0.01 / Math.max(norm, 0.01);
        assertEquals(TinyModel.W0[0][0] - 0.1 * scale * gr[0][0][0], w[0], 1e-6);
      }
    }
  }

  @Test
  void configValidationNamesTheField() {
    var e = assertThrows(IllegalArgumentException.class, () -> OptimizerConfig.sgd(0.1, 10, 10));
    assertEquals(true, e.getMessage().contains("warmupSteps"));
    assertThrows(IllegalArgumentException.class, () -> OptimizerConfig.sgd(-1, 0, 10));
    assertThrows(IllegalArgumentException.class,
        () -> OptimizerConfig.sgd(0.1, 0, 10).withMomentum(1.0, true));
  }

  @Test
  void noTrainableVariablesIsAClearError() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf);
      vars.variable("s", Shape.of(1), VarStore.Kind.STATE, (o, sh) -> o.constant(new float[] {1}));
      GlobalStep step = GlobalStep.create(tf);
      var e = assertThrows(IllegalArgumentException.class, () -> Optimizers.minimize(
          tf, g, tf.constant(1f), vars, OptimizerConfig.sgd(0.1, 0, 10), step));
      assertEquals(true, e.getMessage().contains("no trainable"));
    }
  }
}
