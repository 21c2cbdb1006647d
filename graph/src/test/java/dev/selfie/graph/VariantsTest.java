package dev.selfie.graph;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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
 * The pretraining variants of {@link ModelConfig} (context positions, query modes MLP and ATTEND,
 * content-aware masking) and the context diagnostic.
 */
class VariantsTest {
  private static final int BATCH = 8;

  /** Each variant on its own and all together (tiny preset, dropout on). */
  static Map<String, ModelConfig> variants() {
    ModelConfig t = ModelConfig.preset("tiny");
    Map<String, ModelConfig> v = new LinkedHashMap<>();
    v.put("context-positions", t.withContextPositions(true));
    v.put("query-mlp", t.withQueryMode(ModelConfig.QueryMode.MLP));
    v.put("query-attend", t.withQueryMode(ModelConfig.QueryMode.ATTEND));
    v.put("mask-content", t.withMaskContent(true));
    v.put("temperature", t.withTemperature(0.5));
    v.put("all", t.withContextPositions(true).withQueryMode(ModelConfig.QueryMode.ATTEND)
        .withMaskContent(true));
    return v;
  }

  @Test
  void presetsAreThePaperFormulation() {
    for (String name : ModelConfig.PRESETS) {
      ModelConfig c = ModelConfig.preset(name);
      assertTrue(c.isPaperFormulation(), name);
      assertEquals(ModelConfig.QueryMode.ADD, c.queryMode());
      assertEquals(1.0, c.temperature());
    }
    for (var e : variants().entrySet()) {
      assertEquals(e.getKey().equals("temperature"), e.getValue().isPaperFormulation(),
          e.getKey());
    }
  }

  @Test
  void configJsonWrittenBeforeTheVariantsLoadsWithPaperDefaults() throws Exception {
    // The "model" block of a config.json written by the previous version (tiny, Fashion-MNIST).
    String old = """
        {
          "imageSize" : 32, "channels" : 1, "numClasses" : 10, "patchSize" : 8,
          "numMasked" : 4, "stem" : "CONV3X3", "stemWidth" : 8,
          "stageWidths" : [ 16, 32, 32, 64 ], "stageBlocks" : [ 1, 1, 1, 1 ],
          "d" : 32, "layers" : 2, "heads" : 2, "ffn" : 48, "dropout" : 0.1,
          "zeroInitLast" : false, "bnMomentum" : 0.9, "bnEpsilon" : 1.0E-5,
          "lnEpsilon" : 1.0E-6, "temperature" : 1.0
        }""";
    ObjectMapper json = new ObjectMapper();
    ModelConfig back = json.readValue(old, ModelConfig.class);
    assertEquals(ModelConfig.preset("tiny").withData(1, 10), back);
    assertTrue(back.isPaperFormulation());
    // And every variant survives a round trip.
    for (var e : variants().entrySet()) {
      String text = json.writeValueAsString(e.getValue());
      assertEquals(e.getValue(), json.readValue(text, ModelConfig.class), e.getKey());
      ObjectNode node = (ObjectNode) json.readTree(text);
      node.remove(List.of("contextPositions", "queryMode", "maskContent"));
      assertTrue(json.treeToValue(node, ModelConfig.class).isPaperFormulation());
    }
  }

  @Test
  void everyVariantHasTheShapesOfThePaperGraphAndARunnableLoss() {
    for (var e : variants().entrySet()) {
      ModelConfig c = e.getValue();
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        VarStore vars = new VarStore(tf, 1);
        var images = TestSupport.images(tf, c);
        var seed = TestSupport.seed(tf);
        var out = Selfie.pretrain(tf, vars, c, images, seed, true);
        int m = c.numMasked();
        assertEquals(Shape.scalar(), out.loss().shape(), e.getKey());
        assertArrayEquals(new long[] {-1, m, m}, out.logits().shape().asArray(), e.getKey());
        assertArrayEquals(new long[] {-1, m, c.d()}, out.queries().shape().asArray(), e.getKey());
        assertArrayEquals(new long[] {-1, c.d()}, out.pooled().shape().asArray(), e.getKey());
        boolean query = vars.all().stream().anyMatch(v -> v.name().startsWith("query/"));
        assertEquals(c.queryMode() != ModelConfig.QueryMode.ADD, query, e.getKey());
        try (Session s = TestSupport.session(g);
            TFloat32 x = TestSupport.randomImages(BATCH, c, 3);
            TInt64 sd = TestSupport.seedTensor(5, 1);
            Result r = s.runner().feed(images, x).feed(seed, sd).fetch(out.loss())
                .fetch(out.logits()).fetch(out.queries()).run()) {
          float loss = TestSupport.scalar(r.get(0));
          assertTrue(Float.isFinite(loss) && loss > 0, e.getKey() + " loss " + loss);
          assertArrayEquals(new long[] {BATCH, m, m}, r.get(1).shape().asArray());
          assertArrayEquals(new long[] {BATCH, m, c.d()}, r.get(2).shape().asArray());
        }
      }
    }
  }

  @Test
  void everyVariantReachesEveryTrainableVariable() {
    for (var e : variants().entrySet()) {
      ModelConfig c = e.getValue();
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        VarStore vars = new VarStore(tf, 1);
        var images = TestSupport.images(tf, c);
        var seed = TestSupport.seed(tf);
        var out = Selfie.pretrain(tf, vars, c, images, seed, true);
        GradientTest.assertAllGradients(g, vars, out.loss(), images, seed, null, c);
      }
    }
  }

  @Test
  void theDefaultGraphHasNoVariantVariablesOrAttentionBias() {
    ModelConfig c = ModelConfig.preset("tiny");
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf, 1);
      Selfie.pretrain(tf, vars, c, TestSupport.images(tf, c), TestSupport.seed(tf), true);
      assertTrue(vars.all().stream().noneMatch(v -> v.name().startsWith("query/")));
      // No attention bias (a [T, T] float constant added to the scores) and no patch statistics.
      g.operations().forEachRemaining(op -> {
        assertNotEquals("Roll", op.type(), op.name());
        assertFalse(op.name().contains("StopGradient"), op.name());
        if (op.type().equals("Const") && op.numOutputs() == 1) {
          Shape shape = op.output(0).shape();
          assertFalse(shape.numDimensions() == 2 && shape.size(0) == c.numContext() + 1
              && shape.size(0) == shape.size(1), "attention bias in the default graph: " + op.name());
        }
      });
    }
  }

  /** The query tokens of ATTEND see context and themselves; u is A's output without them. */
  @Test
  void attendQueriesLeaveUUnchangedAndDoNotSeeEachOther() {
    ModelConfig c = ModelConfig.preset("tiny").withDropout(0);
    int t = 5;
    int m = 3;
    int d = c.d();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf, 7);
      Placeholder<TFloat32> h = tf.placeholder(TFloat32.class,
          Placeholder.shape(Shape.of(-1, t, d)));
      Placeholder<TFloat32> q = tf.placeholder(TFloat32.class,
          Placeholder.shape(Shape.of(-1, m, d)));
      var withQ = Attention.attentionPoolWithQueries(tf, vars, c, h, q, null, false);
      var plain = Attention.attentionPool(tf, vars, c, h, null, false);
      float[] hv = TestSupport.randomFloats(2 * t * d, 1);
      float[] q1 = TestSupport.randomFloats(2 * m * d, 2);
      float[] q2 = q1.clone();
      float[] delta = TestSupport.randomFloats(d, 9); // not a constant shift: LN removes those
      for (int i = 0; i < d; i++) {
        q2[2 * d + i] += delta[i]; // query token 2 of image 0 changes
      }
      try (Session s = TestSupport.session(g)) {
        float[][] a = run(s, h, q, hv, q1, t, m, d, withQ, plain);
        float[][] b = run(s, h, q, hv, q2, t, m, d, withQ, plain);
        assertArrayEquals(a[2], a[0], 1e-5f, "u with query tokens == u without");
        assertArrayEquals(a[0], b[0], 0f, "u does not see the query tokens");
        for (int j = 0; j < m; j++) {
          float diff = 0;
          for (int i = 0; i < d; i++) {
            diff = Math.max(diff, Math.abs(a[1][j * d + i] - b[1][j * d + i]));
          }
          if (j == 2) {
            assertTrue(diff > 1e-3, "query 2's output depends on its own token: " + diff);
          } else {
            assertEquals(0f, diff, "query " + j + " does not see query 2");
          }
        }
      }
    }
  }

  private static float[][] run(Session s, Placeholder<TFloat32> h, Placeholder<TFloat32> q,
      float[] hv, float[] qv, int t, int m, int d, Attention.PooledWithQueries withQ,
      org.tensorflow.Operand<TFloat32> plain) {
    try (TFloat32 ht = TFloat32.tensorOf(Shape.of(2, t, d), DataBuffers.of(hv));
        TFloat32 qt = TFloat32.tensorOf(Shape.of(2, m, d), DataBuffers.of(qv));
        Result r = s.runner().feed(h, ht).feed(q, qt).fetch(withQ.u()).fetch(withQ.queries())
            .fetch(plain).run()) {
      return new float[][] {TestSupport.floats(r.get(0)), TestSupport.floats(r.get(1)),
          TestSupport.floats(r.get(2))};
    }
  }

  @Test
  void contentMaskPicksPatchesWithContentFirstExactlyMPerImageAndDeterministically() {
    ModelConfig c = ModelConfig.preset("tiny").withData(1, 10).withNumMasked(4)
        .withMaskContent(true);
    int s = c.imageSize();
    int p = c.patchSize();
    int g = c.grid();
    int n = c.numPatches();
    // Image i has content in patches content[i] only (random pixels), the rest constant -0.4.
    int[][] content = {{0, 5, 6, 9, 10, 15}, {3, 12}, {1, 2, 4, 7}, {}};
    int b = content.length;
    float[] data = new float[b * s * s];
    java.util.Arrays.fill(data, -0.4f);
    Random rnd = new Random(3);
    for (int i = 0; i < b; i++) {
      for (int l : content[i]) {
        for (int y = 0; y < p; y++) {
          for (int x = 0; x < p; x++) {
            data[(i * s + (l / g) * p + y) * s + (l % g) * p + x] = (float) rnd.nextGaussian();
          }
        }
      }
    }
    try (Graph graph = new Graph()) {
      Ops tf = Ops.create(graph);
      var images = TestSupport.images(tf, c);
      var seed = TestSupport.seed(tf);
      var patches = Selfie.cutPatches(tf, c, images);
      Selfie.Mask mask = Selfie.mask(tf, c, Layers.batchSize(tf, images), patches, seed);
      try (Session sess = new Session(graph);
          TFloat32 x = TFloat32.tensorOf(Shape.of(b, s, s, 1), DataBuffers.of(data))) {
        Set<String> draws = new HashSet<>();
        for (long step = 0; step < 6; step++) {
          int[] masked = masked(sess, images, seed, mask, x, step);
          int[] again = masked(sess, images, seed, mask, x, step);
          assertArrayEquals(masked, again, "same seed, same mask");
          draws.add(java.util.Arrays.toString(masked));
          for (int i = 0; i < b; i++) {
            Set<Integer> mi = new HashSet<>();
            Set<Integer> ci = new HashSet<>();
            for (int l : content[i]) {
              ci.add(l);
            }
            for (int j = 0; j < 4; j++) {
              int l = masked[i * 4 + j];
              assertTrue(l >= 0 && l < n);
              mi.add(l);
            }
            assertEquals(4, mi.size(), "4 distinct masked locations, image " + i);
            if (ci.size() >= 4) {
              assertTrue(ci.containsAll(mi), "image " + i + ": only content masked " + mi);
            } else {
              assertTrue(mi.containsAll(ci), "image " + i + ": every content patch masked " + mi);
            }
          }
        }
        assertTrue(draws.size() > 1, "masks change with the seed");
        // Without maskContent the same images get blank patches masked (the test can fail).
        ModelConfig uniform = c.withMaskContent(false);
        Selfie.Mask plain = Selfie.mask(tf, uniform, Layers.batchSize(tf, images),
            Selfie.cutPatches(tf, uniform, images), seed);
        boolean blankMasked = false;
        for (long step = 0; step < 6 && !blankMasked; step++) {
          int[] masked = masked(sess, images, seed, plain, x, step);
          for (int j = 0; j < 4; j++) {
            int l = masked[j];
            blankMasked |= java.util.Arrays.stream(content[0]).noneMatch(v -> v == l);
          }
        }
        assertTrue(blankMasked, "the uniform mask does mask blank patches");
      }
    }
  }

  private static int[] masked(Session s, Placeholder<TFloat32> images, Placeholder<TInt64> seed,
      Selfie.Mask mask, TFloat32 x, long step) {
    try (TInt64 sd = TestSupport.seedTensor(9, step);
        Result r = s.runner().feed(images, x).feed(seed, sd).fetch(mask.masked()).run()) {
      return TestSupport.ints(r.get(0));
    }
  }

  /** contextTokens adds E_row[row(l)] + E_col[col(l)] to each visible patch, only when asked. */
  @Test
  void contextPositionsAddTheRowAndColumnEmbeddings() {
    ModelConfig off = ModelConfig.preset("tiny");
    ModelConfig on = off.withContextPositions(true);
    int d = off.d();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf, 3);
      Placeholder<TFloat32> h = tf.placeholder(TFloat32.class,
          Placeholder.shape(Shape.of(-1, 2, d)));
      var locs = tf.constant(new int[][] {{6, 9}});                    // (1,2), (2,1)
      assertSame(h, Queries.contextTokens(tf, vars, off, h, locs));
      var withPos = Queries.contextTokens(tf, vars, on, h, locs);
      float[] hv = TestSupport.randomFloats(2 * d, 4);
      try (Session s = TestSupport.session(g)) {
        float[] out = TestSupport.eval(s, withPos, h, Shape.of(1, 2, d), hv);
        float[] rows = TestSupport.fetch(s, vars.get(Selfie.ROW_EMBEDDING).value());
        float[] cols = TestSupport.fetch(s, vars.get(Selfie.COL_EMBEDDING).value());
        for (int i = 0; i < d; i++) {
          assertEquals(hv[i] + rows[d + i] + cols[2 * d + i], out[i], 1e-6f);
          assertEquals(hv[d + i] + rows[2 * d + i] + cols[d + i], out[d + i], 1e-6f);
        }
      }
    }
  }

  /**
   * The diagnostic in ADD mode: zeroing u removes u . h_k from every logit of column k (the same
   * for every query j); the shuffled context adds image b+1's u . h_k instead.
   */
  @Test
  void zeroingUChangesEachLogitColumnByUDotH() {
    ModelConfig c = ModelConfig.preset("tiny");
    int m = c.numMasked();
    int d = c.d();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf, 1);
      var images = TestSupport.images(tf, c);
      var seed = TestSupport.seed(tf);
      ContextDiagnostic dg = ContextDiagnostic.build(tf, vars, c, images, seed);
      try (Session s = TestSupport.session(g);
          TFloat32 x = TestSupport.randomImages(BATCH, c, 11);
          TInt64 sd = TestSupport.seedTensor(2, 0);
          Result r = s.runner().feed(images, x).feed(seed, sd).fetch(dg.logits())
              .fetch(dg.zeroedLogits()).fetch(dg.shuffledLogits()).fetch(dg.u())
              .fetch(dg.targets()).fetch(dg.normal()).fetch(dg.zeroed()).fetch(dg.shuffled())
              .run()) {
        float[] logits = TestSupport.floats(r.get(0));
        float[] zeroed = TestSupport.floats(r.get(1));
        float[] shuffled = TestSupport.floats(r.get(2));
        float[] u = TestSupport.floats(r.get(3));
        float[] h = TestSupport.floats(r.get(4));
        double maxUh = 0;
        for (int b = 0; b < BATCH; b++) {
          int next = (b + 1) % BATCH;
          for (int k = 0; k < m; k++) {
            double uh = 0;
            double nextUh = 0;
            for (int i = 0; i < d; i++) {
              uh += (double) u[b * d + i] * h[(b * m + k) * d + i];
              nextUh += (double) u[next * d + i] * h[(b * m + k) * d + i];
            }
            maxUh = Math.max(maxUh, Math.abs(uh));
            for (int j = 0; j < m; j++) {
              int at = (b * m + j) * m + k;
              assertEquals(uh, logits[at] - zeroed[at], 1e-4 * (1 + Math.abs(uh)),
                  "image " + b + " query " + j + " column " + k);
              assertEquals(nextUh, shuffled[at] - zeroed[at], 1e-4 * (1 + Math.abs(nextUh)));
            }
          }
        }
        assertTrue(maxUh > 1e-3, "u . h must not be ~0 for the test to mean anything: " + maxUh);
        for (int i = 5; i < 8; i++) {
          float acc = TestSupport.scalar(r.get(i));
          assertTrue(acc >= 0 && acc <= 1, "accuracy " + acc);
        }
      }
    }
  }

  /** The diagnostic runs for every query mode (MLP: u -> 0; ATTEND: context tokens -> 0). */
  @Test
  void diagnosticRunsForEveryQueryMode() {
    for (ModelConfig.QueryMode mode : ModelConfig.QueryMode.values()) {
      ModelConfig c = ModelConfig.preset("tiny").withQueryMode(mode).withContextPositions(true);
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        VarStore vars = new VarStore(tf, 1);
        var images = TestSupport.images(tf, c);
        var seed = TestSupport.seed(tf);
        ContextDiagnostic dg = ContextDiagnostic.build(tf, vars, c, images, seed);
        try (Session s = TestSupport.session(g);
            TFloat32 x = TestSupport.randomImages(4, c, 1);
            TInt64 sd = TestSupport.seedTensor(2, 0);
            Result r = s.runner().feed(images, x).feed(seed, sd).fetch(dg.logits())
                .fetch(dg.zeroedLogits()).fetch(dg.shuffledLogits()).run()) {
          float[] a = TestSupport.floats(r.get(0));
          float[] z = TestSupport.floats(r.get(1));
          float[] sh = TestSupport.floats(r.get(2));
          assertEquals(4 * c.numMasked() * c.numMasked(), a.length);
          assertTrue(TestSupport.norm(diff(a, z)) > 1e-6, mode + ": zeroing changes the logits");
          assertTrue(TestSupport.norm(diff(a, sh)) > 1e-6, mode + ": shuffling changes them");
        }
      }
    }
  }

  private static float[] diff(float[] a, float[] b) {
    float[] d = new float[a.length];
    for (int i = 0; i < a.length; i++) {
      d[i] = a[i] - b[i];
    }
    return d;
  }

  @Test
  void queryBiasHidesQuerySlotsFromEveryoneButThemselves() {
    float[][] b = Attention.queryBias(2, 2);
    float h = Attention.HIDDEN;
    assertArrayEquals(new float[] {0, 0, h, h}, b[0]);
    assertArrayEquals(new float[] {0, 0, h, h}, b[1]);
    assertArrayEquals(new float[] {0, 0, 0, h}, b[2]);
    assertArrayEquals(new float[] {0, 0, h, 0}, b[3]);
  }
}
