package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import com.google.protobuf.Value;
import dev.selfie.data.formats.FashionMnist;
import dev.selfie.graph.ModelConfig;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.jobs.PretrainImages;
import dev.selfie.training.loop.EventFiles;
import dev.selfie.training.loop.HParams;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.run.Json;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.StdArrays;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.Event;
import org.tensorflow.proto.Summary;
import org.tensorflow.types.TUint8;

/**
 * TensorBoard beyond scalars: the pretraining image (input | masked | picked), weight histograms,
 * the HParams plugin's session start, and summaries that leave the training trajectory alone.
 */
class TensorBoardSummariesTest {
  @TempDir Path tmp;

  private static final ModelConfig TINY = ModelConfig.preset("tiny");

  /** panels() for 2 random images, masks {@code masked}, query j picking {@code pick[b][j]}. */
  private static byte[][][][] panels(float[][][][] images, int[][] masked, int[][] pick) {
    int b = images.length;
    int m = masked[0].length;
    float[][][] logits = new float[b][m][m];
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < m; j++) {
        logits[i][j][pick[i][j]] = 5f;
      }
    }
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      var out = PretrainImages.panels(tf, TINY, tf.constant(images), tf.constant(masked),
          tf.constant(logits), b);
      try (Result r = s.runner().fetch(out).run()) {
        TUint8 t = (TUint8) r.get(0);
        assertEquals(Shape.of(b, 32, 96, 3), t.shape());
        byte[][][][] a = new byte[b][32][96][3];
        StdArrays.copyFrom(t, a);
        return a;
      }
    }
  }

  /** Patch at location l of panel {@code panel} (0 input, 1 masked, 2 picked) of image i. */
  private static String patch(byte[][][][] a, int i, int panel, int l) {
    int p = TINY.patchSize();
    int g = TINY.grid();
    StringBuilder sb = new StringBuilder();
    for (int y = 0; y < p; y++) {
      for (int x = 0; x < p; x++) {
        for (int c = 0; c < 3; c++) {
          sb.append(a[i][(l / g) * p + y][panel * 32 + (l % g) * p + x][c]).append(',');
        }
      }
    }
    return sb.toString();
  }

  @Test
  void panelsShowTheInputTheMaskAndThePickedPatches() {
    int m = TINY.numMasked();
    int n = TINY.numPatches();
    Random rnd = new Random(3);
    float[][][][] images = new float[2][32][32][3];
    for (float[][][] im : images) {
      for (float[][] row : im) {
        for (float[] px : row) {
          for (int c = 0; c < 3; c++) {
            px[c] = (float) rnd.nextGaussian();
          }
        }
      }
    }
    int[][] masked = new int[2][m];
    int[][] right = new int[2][m];
    int[][] shifted = new int[2][m];
    for (int j = 0; j < m; j++) {
      masked[0][j] = 2 * j;
      masked[1][j] = n - 1 - j;
      right[0][j] = right[1][j] = j;
      shifted[0][j] = shifted[1][j] = (j + 1) % m;
    }
    byte[][][][] ok = panels(images, masked, right);
    byte[][][][] off = panels(images, masked, shifted);
    for (int i = 0; i < 2; i++) {
      Set<Integer> maskedSet = java.util.Arrays.stream(masked[i]).boxed()
          .collect(Collectors.toSet());
      String grey = patch(ok, i, 1, masked[i][0]);
      for (int l = 0; l < n; l++) {
        if (maskedSet.contains(l)) {
          assertEquals(grey, patch(ok, i, 1, l), "masked locations are one grey");
          assertEquals(1, new java.util.HashSet<>(List.of(grey.split(","))).size(),
              "a grey patch is one value: " + grey);
        } else {
          assertEquals(patch(ok, i, 0, l), patch(ok, i, 1, l), "context shown as is");
          assertEquals(patch(off, i, 0, l), patch(off, i, 2, l), "context in the picked panel");
        }
        // Right picks reproduce the input.
        assertEquals(patch(ok, i, 0, l), patch(ok, i, 2, l));
      }
      for (int j = 0; j < m; j++) {
        // Query j picked candidate j+1: location masked[j] shows the patch of masked[j+1].
        assertEquals(patch(off, i, 0, masked[i][(j + 1) % m]), patch(off, i, 2, masked[i][j]));
        assertNotEquals(patch(off, i, 0, masked[i][j]), patch(off, i, 2, masked[i][j]));
      }
    }
  }

  @Test
  void hparamsAreTheHParamsPluginsSessionStart() throws Exception {
    var config = Json.MAPPER.readTree(
        "{\"kind\":\"pretrain\",\"steps\":3,\"xla\":false,\"optimizer\":{\"baseLr\":0.1},"
            + "\"list\":[1,2],\"none\":null}");
    Summary s = Summary.parseFrom(HParams.sessionStartSummary(config, 12.5));
    Summary.Value v = s.getValue(0);
    assertEquals("_hparams_/session_start_info", v.getTag());
    assertEquals("hparams", v.getMetadata().getPluginData().getPluginName());
    UnknownFieldSet data = UnknownFieldSet.parseFrom(v.getMetadata().getPluginData().getContent());
    assertEquals(Set.of(3), data.asMap().keySet(), "only session_start_info (version 0)");
    UnknownFieldSet start = UnknownFieldSet.parseFrom(
        data.getField(3).getLengthDelimitedList().get(0));
    assertEquals(12.5, Double.longBitsToDouble(start.getField(5).getFixed64List().get(0)));
    Map<String, Value> hparams = new java.util.TreeMap<>();
    for (ByteString entry : start.getField(1).getLengthDelimitedList()) {
      UnknownFieldSet e = UnknownFieldSet.parseFrom(entry);
      hparams.put(e.getField(1).getLengthDelimitedList().get(0).toStringUtf8(),
          Value.parseFrom(e.getField(2).getLengthDelimitedList().get(0)));
    }
    assertEquals(Map.of(
        "kind", Value.newBuilder().setStringValue("pretrain").build(),
        "steps", Value.newBuilder().setNumberValue(3).build(),
        "xla", Value.newBuilder().setBoolValue(false).build(),
        "optimizer.baseLr", Value.newBuilder().setNumberValue(0.1).build()), hparams);
  }

  private Pretrain.Result pretrain(Path out, int summaryEvery) throws Exception {
    return Pretrain.run(Pretrain.Options.defaults(out)
        .withPreset("tiny")
        .withData(DataOptions.of(FashionMnist.NAME, ExportTestRuns.home()).withBatchSize(8))
        .withSchedule(ScheduleOptions.defaults().withSteps(10).withWarmup(1))
        .withCheckpoints(CheckpointOptions.defaults().withCheckpointEvery(10).withKeep(2)
            .withLogEvery(1000).withSummaryEvery(summaryEvery))
        .withRuntime(PretrainFixtures.float32(1))
        .withExport(false));
  }

  @Test
  void pretrainingWritesImagesHistogramsAndHParamsWithoutChangingTheRun() throws Exception {
    Path run = tmp.resolve("every-step");
    Pretrain.Result r = pretrain(run, 1); // images and histograms due at step 10
    Pretrain.Result rare = pretrain(tmp.resolve("rare"), 1000);
    assertEquals(r.finalLoss(), rare.finalLoss(), "summaries changed the training");

    List<Event> events = EventFiles.events(run.resolve("tensorboard"));
    List<Summary.Value> values = events.stream().filter(Event::hasSummary)
        .flatMap(e -> e.getSummary().getValueList().stream()).toList();
    assertEquals(1, values.stream().filter(v -> v.getTag().equals(HParams.TAG)).count());
    List<Summary.Value> images = values.stream()
        .filter(v -> v.getTag().startsWith("masked_and_picked")).toList();
    assertEquals(3, images.size(), "3 images at step 10: " + images.stream()
        .map(Summary.Value::getTag).toList());
    for (Summary.Value v : images) {
      // Written as tensors (TF2 summary ops): [width, height, png...] strings.
      List<ByteString> strings = v.hasTensor() ? v.getTensor().getStringValList() : List.of();
      if (!strings.isEmpty()) {
        assertEquals("96", strings.get(0).toStringUtf8());
        assertEquals("32", strings.get(1).toStringUtf8());
        assertEquals("PNG", strings.get(2).substring(1, 4).toStringUtf8());
      } else {
        assertEquals(96, v.getImage().getWidth());
        assertEquals(32, v.getImage().getHeight());
      }
    }
    long histograms = values.stream().filter(v -> v.getTag().startsWith("weights/")).count();
    assertTrue(histograms >= 10, histograms + " weight histograms");
    assertTrue(values.stream().anyMatch(v -> v.getTag().equals("weights/resnet/stem/conv/kernel")
        || v.getTag().startsWith("weights/resnet")), "a ResNet kernel's histogram");
  }
}
