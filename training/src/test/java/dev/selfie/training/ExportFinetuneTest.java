package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.selfie.graph.Classifier;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.savedmodels.WeightLoader;
import dev.selfie.savedmodels.serving.HostTensor;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.PretrainedRun;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.RunDir;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * {@code selfie finetune --pretrained <pretrain run>/savedmodel}: the weights come by name from
 * {@code savedmodel/variables}, and they are the same values as from the run directory (its
 * newest checkpoint).
 */
class ExportFinetuneTest {

  /** The finetune graph's variables after the pretrained restore, by name. */
  static Map<String, float[]> restoredValues(Path pretrained, Finetune.Config cfg,
      List<String> expectRestored) throws Exception {
    Map<String, float[]> values = new TreeMap<>();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class,
          Placeholder.shape(Shape.of(-1, 32, 32, 1)));
      VarStore vars = new VarStore(Ops.create(g), 7);
      Classifier.build(tf, vars, cfg.model(), x, cfg.head(), null, false);
      Selfie.Transfer transfer = Selfie.pretrainedNames(vars, cfg.head());
      try (Session s = new Session(g)) {
        s.initialize();
        WeightLoader.Report r = WeightLoader.restoreExactly(s,
            PretrainedRun.weights(pretrained), transfer.fromPretraining());
        assertEquals(expectRestored, r.restored());
        Session.Runner runner = s.runner();
        List<String> names = vars.all().stream().map(VarStore.Entry::name).toList();
        names.forEach(runner::fetch);
        try (Result res = runner.run()) {
          for (int i = 0; i < names.size(); i++) {
            values.put(names.get(i), HostTensor.of(res.get(i)).floats());
          }
        }
      }
    }
    return values;
  }

  @Test
  void finetuneFromTheSavedModelRestoresTheSameWeightsAsFromTheRun() throws Exception {
    Path pretrainRun = ExportTestRuns.pretrainRun();
    Path savedModel = pretrainRun.resolve("savedmodel/1");
    Path out = ExportTestRuns.root().resolve("finetune-from-savedmodel");

    Finetune.Result r = ExportTestRuns.finetune(out, savedModel, 1, 0.01);

    // What was restored: the documented transfer set, by name, from savedmodel/variables.
    Finetune.Config cfg = new RunDir(out).readConfig(Finetune.Config.class);
    assertEquals(savedModel.toAbsolutePath().toString(), cfg.pretrained());
    JsonNode transfer = Json.MAPPER.readTree(out.resolve("transfer.json").toFile());
    assertEquals(savedModel.resolve("variables").resolve("variables").toAbsolutePath().toString(),
        transfer.path("source").asText());
    JsonNode fromRun = Json.MAPPER.readTree(
        ExportTestRuns.finetuneRun().resolve("transfer.json").toFile());
    assertTrue(fromRun.path("source").asText().contains("checkpoints"), fromRun.toString());
    assertEquals(fromRun.path("restored"), transfer.path("restored"));
    assertEquals(fromRun.path("fresh"), transfer.path("fresh"));
    assertFalse(r.restored().isEmpty());
    assertTrue(r.restored().stream().allMatch(n -> n.startsWith("resnet/stem/")
        || n.matches("resnet/stage[123]/.*")), r.restored().toString());
    assertTrue(r.fresh().stream().anyMatch(n -> n.startsWith("classifier/")), r.fresh().toString());

    // The values: restoring from the SavedModel and from the run gives identical variables
    // (the fresh ones differ from neither: same init seed), and the restored ones are the
    // pretraining checkpoint's values, not the initial ones.
    Map<String, float[]> viaSavedModel = restoredValues(savedModel, cfg, r.restored());
    Map<String, float[]> viaRun = restoredValues(pretrainRun, cfg, r.restored());
    assertEquals(viaRun.keySet(), viaSavedModel.keySet());
    for (String name : viaRun.keySet()) {
      assertArrayEquals(viaRun.get(name), viaSavedModel.get(name), 0f, name);
    }
    Map<String, float[]> initial = new TreeMap<>();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class,
          Placeholder.shape(Shape.of(-1, 32, 32, 1)));
      VarStore vars = new VarStore(Ops.create(g), 7);
      Classifier.build(tf, vars, cfg.model(), x, cfg.head(), null, false);
      try (Session s = new Session(g)) {
        s.initialize();
        for (String name : r.restored()) {
          try (Result res = s.runner().fetch(name).run()) {
            initial.put(name, HostTensor.of(res.get(0)).floats());
          }
        }
      }
    }
    List<String> kernels = r.restored().stream().filter(n -> n.endsWith("/kernel")).toList();
    assertFalse(kernels.isEmpty());
    for (String kernel : kernels) {
      assertFalse(java.util.Arrays.equals(initial.get(kernel), viaSavedModel.get(kernel)),
          kernel + " still holds its initial value");
    }
  }
}
