package dev.selfie.savedmodels;

import dev.selfie.savedmodels.serving.HostTensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.types.TUint8;

/** Shared test helpers: export a {@link TinyNet}, compute its outputs in-session. */
public final class Fixtures {
  private Fixtures() {}

  /** Outputs of the serving signature (logits, probabilities, classes) and the embedding. */
  public static Map<String, HostTensor> run(Session s, TinyNet net, byte[][][][] images) {
    Map<String, HostTensor> out = new TreeMap<>();
    try (TUint8 x = TinyNet.imageTensor(images);
        Result r =
            s.runner()
                .feed(net.images, x)
                .fetch(net.logits)
                .fetch(net.probabilities)
                .fetch(net.classes)
                .fetch(net.embedding)
                .run()) {
      out.put("logits", HostTensor.of(r.get(0)));
      out.put("probabilities", HostTensor.of(r.get(1)));
      out.put("classes", HostTensor.of(r.get(2)));
      out.put("embedding", HostTensor.of(r.get(3)));
    }
    return out;
  }

  /** Exports TinyNet(seed) with both signatures and a config.json; returns outputs for images. */
  public static Map<String, HostTensor> exportTiny(Path dir, long seed, byte[][][][] images)
      throws IOException {
    try (Graph g = new Graph()) {
      TinyNet net = new TinyNet(g, seed);
      try (Session s = new Session(g)) {
        s.initialize();
        new SavedModelExporter(s)
            .signature(net.servingSignature())
            .signature(net.embeddingSignature())
            .extraFile("config.json", "{\"seed\": " + seed + "}")
            .export(dir);
        return run(s, net, images);
      }
    }
  }

  public static HostTensor uint8(byte[][][][] images) {
    try (TUint8 t = TinyNet.imageTensor(images)) {
      return HostTensor.of(t);
    }
  }

  public static float maxAbsDiff(HostTensor a, HostTensor b) {
    if (!java.util.Arrays.equals(a.shape(), b.shape())) {
      return Float.POSITIVE_INFINITY;
    }
    float m = 0;
    for (long i = 0; i < a.size(); i++) {
      m = (float) Math.max(m, Math.abs(a.getDouble(i) - b.getDouble(i)));
    }
    return m;
  }

}
