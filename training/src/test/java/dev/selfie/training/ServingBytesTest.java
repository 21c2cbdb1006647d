package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.data.ImageBytes;
import dev.selfie.data.ImageFiles;
import dev.selfie.graph.Endpoints;
import dev.selfie.savedmodels.serving.HostTensor;
import dev.selfie.savedmodels.serving.ModelServer;
import dev.selfie.training.jobs.ModelDir;
import dev.selfie.training.jobs.Predict;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TString;

/**
 * {@code serving_bytes}: encoded images decoded and fitted in the graph ({@link ImageBytes}) give
 * the pixels {@code selfie predict} computes in Java ({@link ImageFiles}), and the exported
 * signature answers what {@code serving_default} answers on those pixels.
 */
class ServingBytesTest {

  @TempDir Path tmp;

  /** A PNG of the given BufferedImage type with smooth random content. */
  static Path png(Path dir, String name, int w, int h, int type, long seed) throws Exception {
    BufferedImage img = new BufferedImage(w, h, type);
    Random r = new Random(seed);
    int a = r.nextInt(256);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int red = (x * 255 / Math.max(1, w - 1) + r.nextInt(20)) & 0xff;
        int green = (y * 255 / Math.max(1, h - 1) + r.nextInt(20)) & 0xff;
        int blue = r.nextInt(256);
        int alpha = type == BufferedImage.TYPE_INT_ARGB ? (a + x * 7 + y * 3) & 0xff : 255;
        img.setRGB(x, y, (alpha << 24) | (red << 16) | (green << 8) | blue);
      }
    }
    Path f = dir.resolve(name);
    ImageIO.write(img, "png", f.toFile());
    return f;
  }

  static List<Path> files(Path dir) throws Exception {
    return List.of(
        png(dir, "grey-native.png", 28, 28, BufferedImage.TYPE_BYTE_GRAY, 1),
        png(dir, "grey-shrink.png", 61, 47, BufferedImage.TYPE_BYTE_GRAY, 2),
        png(dir, "rgb-shrink.png", 90, 70, BufferedImage.TYPE_INT_RGB, 3),
        png(dir, "rgb-enlarge.png", 13, 11, BufferedImage.TYPE_INT_RGB, 4),
        png(dir, "rgba.png", 40, 33, BufferedImage.TYPE_INT_ARGB, 5));
  }

  /** In-graph pixels of every file, [H, W, C] each. */
  static byte[][] inGraph(List<Path> files, int h, int w, int c, double zoom) throws Exception {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Placeholder<TString> in = tf.placeholder(TString.class, Placeholder.shape(Shape.of(-1)));
      var out = ImageBytes.decodeAndFit(tf, in, h, w, c, zoom);
      byte[][] bytes = new byte[files.size()][];
      for (int i = 0; i < bytes.length; i++) {
        bytes[i] = Files.readAllBytes(files.get(i));
      }
      try (TString t = TString.tensorOfBytes(org.tensorflow.ndarray.NdArrays.vectorOfObjects(bytes));
          Result r = s.runner().feed(in, t).fetch(out).run()) {
        HostTensor px = HostTensor.of(r.get(0));
        assertEquals(List.of((long) files.size(), (long) h, (long) w, (long) c),
            java.util.Arrays.stream(px.shape()).boxed().toList());
        byte[][] per = new byte[files.size()][];
        for (int i = 0; i < per.length; i++) {
          per[i] = px.rows(i, i + 1).data();
        }
        return per;
      }
    }
  }

  @Test
  void inGraphPixelsAreJavasPixels() throws Exception {
    List<Path> files = files(tmp);
    for (int[] shape : new int[][] {{28, 28, 1}, {32, 32, 3}, {24, 20, 3}}) {
      for (double zoom : new double[] {1.0, 256.0 / 224}) {
        byte[][] graph = inGraph(files, shape[0], shape[1], shape[2], zoom);
        for (int i = 0; i < files.size(); i++) {
          byte[] javaPx = ImageFiles.read(files.get(i), shape[0], shape[1], shape[2], zoom);
          int worst = 0;
          int off = 0;
          for (int k = 0; k < javaPx.length; k++) {
            int d = Math.abs((javaPx[k] & 0xff) - (graph[i][k] & 0xff));
            worst = Math.max(worst, d);
            off += d > 0 ? 1 : 0;
          }
          String what = files.get(i).getFileName() + " -> " + java.util.Arrays.toString(shape)
              + " zoom " + zoom;
          // Rounding edges only: at most one level, on at most 2% of the values.
          assertTrue(worst <= 1, what + ": a pixel differs by " + worst);
          assertTrue(off <= javaPx.length / 50, what + ": " + off + " of " + javaPx.length
              + " values differ");
          if (files.get(i).getFileName().toString().equals("grey-native.png") && zoom == 1.0
              && shape[2] == 1 && shape[0] == 28) {
            assertEquals(0, off, what + ": a native-size grey PNG must be untouched");
          }
        }
      }
    }
  }

  @Test
  void notAnImageFailsTheRunWithInvalidArgument() throws Exception {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Placeholder<TString> in = tf.placeholder(TString.class, Placeholder.shape(Shape.of(-1)));
      var out = ImageBytes.decodeAndFit(tf, in, 8, 8, 1, 1.0);
      try (TString t = TString.vectorOf("not an image")) {
        assertThrows(org.tensorflow.exceptions.TFInvalidArgumentException.class,
            () -> s.runner().feed(in, t).fetch(out).run().close());
      }
    }
  }

  @Test
  void exportedServingBytesAnswersLikeServingDefaultOnPredictsPixels() throws Exception {
    Path model = ModelDir.resolve(ExportTestRuns.finetuneRun(), "--model");
    List<Path> files = files(tmp);
    try (ModelServer server = ModelServer.load(model,
        new ModelServer.Options(64, Duration.ZERO, 16, 1))) {
      ModelServer.SignatureSpec sig = server.signatures().get(Endpoints.SERVING_BYTES);
      assertTrue(sig != null, "no serving_bytes in " + server.signatures().keySet());
      assertEquals(org.tensorflow.proto.DataType.DT_STRING,
          sig.inputs().get(Endpoints.IMAGE_BYTES).dtype());
      List<byte[]> encoded = new ArrayList<>();
      for (Path f : files) {
        encoded.add(Files.readAllBytes(f));
      }
      HostTensor probs = server.predict(Endpoints.SERVING_BYTES, Map.of(Endpoints.IMAGE_BYTES,
          HostTensor.ofStrings(new long[] {files.size()}, encoded))).get(Endpoints.PROBABILITIES);
      Predict.Options o = new Predict.Options(model, files, 1, 64);
      try (Predict.Model m = Predict.Model.load(model)) {
        int per = m.height() * m.width() * m.channels();
        byte[] all = new byte[per * files.size()];
        for (int i = 0; i < files.size(); i++) {
          System.arraycopy(ImageFiles.read(files.get(i), m.height(), m.width(), m.channels(),
              m.evalResize()), 0, all, i * per, per);
        }
        float[][] want = m.probabilities(all, files.size());
        float[] got = probs.floats();
        int k = want[0].length;
        for (int i = 0; i < files.size(); i++) {
          for (int j = 0; j < k; j++) {
            assertEquals(want[i][j], got[i * k + j], 2e-3, files.get(i) + " class " + j);
          }
        }
      }
      assertEquals(files.size(), Predict.run(o).size());
    }
  }
}
