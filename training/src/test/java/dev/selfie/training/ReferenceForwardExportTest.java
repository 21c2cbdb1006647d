package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.training.run.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * Java side of the NumPy reference check ({@code ci/python/test_reference_forward.py}): the
 * pretraining forward pass of the {@code tiny} config in inference mode (BN moving statistics,
 * no dropout), with every variable set to non-trivial values (BN statistics and scales, LN,
 * biases and position embeddings away from their initial 0/1), on fixed images with the mask the
 * graph drew. Writes {@code <selfie.interop.dir>/reference/tiny-pretrain.json}: the config, every
 * variable, the inputs (images, masked and context locations) and the outputs h, u, v, logits,
 * loss, which an independent NumPy implementation of DESIGN's equations must reproduce.
 */
class ReferenceForwardExportTest {

  static final int BATCH = 3;

  static Path referenceFile() {
    return InteropCasesTest.interopDir().resolve("reference").resolve("tiny-pretrain.json");
  }

  /** Values for a variable: non-trivial but keeping activations O(1). */
  private static float[] values(VarStore.Entry e, float[] initial, Random r) {
    String n = e.name();
    float[] v = initial.clone();
    for (int i = 0; i < v.length; i++) {
      double z = r.nextGaussian();
      if (n.endsWith("/moving_variance")) {
        v[i] = (float) (0.5 + r.nextDouble());
      } else if (n.endsWith("/moving_mean")) {
        v[i] = (float) (0.3 * z);
      } else if (n.endsWith("/gamma")) {
        v[i] = (float) (1 + 0.2 * z);
      } else if (n.endsWith("/beta") || n.endsWith("/bias")) {
        v[i] = (float) (0.1 * z);
      } else if (n.startsWith(Selfie.POSITION + "/") || n.endsWith("/u0")) {
        v[i] = (float) (0.5 * z);
      } else if (n.startsWith("attention/")) {
        v[i] = (float) (0.15 * z);         // dense kernels: larger than BERT's 0.02
      } // conv kernels keep their He-normal init
    }
    return v;
  }

  private static Map<String, Object> tensor(Tensor t) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("shape", t.shape().asArray());
    if (t instanceof TFloat32 f) {
      float[] out = new float[(int) f.size()];
      f.copyTo(DataBuffers.of(out, false, false));
      m.put("values", out);
    } else {
      TInt32 i = (TInt32) t;
      int[] out = new int[(int) i.size()];
      i.copyTo(DataBuffers.of(out, false, false));
      m.put("values", out);
    }
    return m;
  }

  @Test
  void writesTheTinyPretrainingForwardPass() throws Exception {
    ModelConfig c = ModelConfig.preset("tiny");
    int s = c.imageSize();
    Random r = new Random(20261130);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf, 17);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class,
          Placeholder.shape(Shape.of(-1, s, s, c.channels())));
      Operand<TInt64> seed = tf.constant(new long[] {123, 4});
      Selfie.PretrainOutputs out = Selfie.pretrain(tf, vars, c, x, seed, false);
      List<VarStore.Entry> entries = vars.all();
      List<Placeholder<TFloat32>> feeds = new ArrayList<>();
      List<Op> assigns = new ArrayList<>();
      for (VarStore.Entry e : entries) {
        Placeholder<TFloat32> p = tf.placeholder(TFloat32.class, Placeholder.shape(e.shape()));
        feeds.add(p);
        assigns.add(tf.assign(e.variable(), p));
      }
      float[] images = new float[BATCH * s * s * c.channels()];
      for (int i = 0; i < images.length; i++) {
        images[i] = (float) (0.5 + r.nextGaussian());
      }
      Map<String, Object> doc = new LinkedHashMap<>();
      doc.put("about", "Selfie pretraining forward pass (inference mode) of the tiny config,"
          + " written by training's ReferenceForwardExportTest for ci/python/"
          + "test_reference_forward.py");
      doc.put("config", c);
      try (Session sess = new Session(g)) {
        sess.initialize();
        for (int i = 0; i < entries.size(); i++) {
          VarStore.Entry e = entries.get(i);
          float[] initial = TestTensors.read(sess, e.value());
          float[] v = values(e, initial, r);
          try (TFloat32 t = TFloat32.tensorOf(e.shape(), DataBuffers.of(v))) {
            sess.runner().feed(feeds.get(i), t).addTarget(assigns.get(i)).run().close();
          }
        }
        Map<String, Object> variables = new LinkedHashMap<>();
        for (VarStore.Entry e : entries) {
          try (Result res = sess.runner().fetch(e.value()).run()) {
            variables.put(e.name(), tensor(res.get(0)));
          }
        }
        doc.put("variables", variables);
        try (TFloat32 xt = TFloat32.tensorOf(Shape.of(BATCH, s, s, c.channels()),
                DataBuffers.of(images));
            Result res = sess.runner().feed(x, xt)
                .fetch(out.masked()).fetch(out.context()).fetch(out.patchEmbeddings())
                .fetch(out.pooled()).fetch(out.queries()).fetch(out.logits()).fetch(out.loss())
                .run()) {
          doc.put("inputs", Map.of("images", tensor(xt), "masked", tensor(res.get(0)),
              "context", tensor(res.get(1))));
          Map<String, Object> outputs = new LinkedHashMap<>();
          String[] names = {"h", "u", "v", "logits", "loss"};
          for (int i = 0; i < names.length; i++) {
            outputs.put(names[i], tensor(res.get(i + 2)));
          }
          doc.put("outputs", outputs);
          float loss = ((TFloat32) res.get(6)).getFloat();
          assertTrue(Float.isFinite(loss) && loss > 0, "loss " + loss);
        }
      }
      assertTrue(entries.size() > 40, "tiny pretraining graph variables: " + entries.size());
      Path f = referenceFile();
      Json.writeAtomic(f, doc);
      assertEquals(entries.size(),
          Json.MAPPER.readTree(f.toFile()).path("variables").size());
      assertTrue(Files.size(f) > 10_000);
    }
  }
}
