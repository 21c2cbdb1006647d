package dev.selfie.savedmodels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.graph.VarStore;
import dev.selfie.savedmodels.serving.HostTensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.DataType;

class WeightLoaderTest {

  @TempDir Path tmp;

  /** Values of every VarStore variable. */
  private static Map<String, HostTensor> values(Session s, VarStore vars) {
    Map<String, HostTensor> out = new TreeMap<>();
    Session.Runner r = s.runner();
    List<String> names = new ArrayList<>();
    for (VarStore.Entry e : vars.all()) {
      r.fetch(e.value());
      names.add(e.name());
    }
    try (Result res = r.run()) {
      for (int i = 0; i < names.size(); i++) {
        out.put(names.get(i), HostTensor.of(res.get(i)));
      }
    }
    return out;
  }

  /** Source weights: TinyNet(seed 1) as a SavedModel and as a checkpoint with an extra slot. */
  private Map<String, HostTensor> writeSource(Path savedModel, Path checkpointPrefix)
      throws IOException {
    try (Graph g = new Graph()) {
      TinyNet net = new TinyNet(g, 1);
      // An optimizer-slot-like variable the finetuning graph does not have.
      net.vars.variable(
          "net/conv/kernel-momentum", Shape.of(3, 3, 3, TinyNet.CHANNELS), VarStore.Kind.STATE,
          (tf, s) -> tf.zeros(tf.constant(s), org.tensorflow.types.TFloat32.class));
      try (Session s = new Session(g)) {
        s.initialize();
        new SavedModelExporter(s).signature(net.servingSignature()).export(savedModel);
        Files.createDirectories(checkpointPrefix.getParent());
        s.save(checkpointPrefix.toString());
        return values(s, net.vars);
      }
    }
  }

  @Test
  void checkpointIndexListsNamesDtypesAndShapes() throws IOException {
    Path sm = tmp.resolve("sm");
    writeSource(sm, tmp.resolve("ckpt/model"));
    Map<String, CheckpointIndex.Entry> idx =
        CheckpointIndex.read(WeightLoader.checkpointPrefix(sm));
    List<String> expected = new ArrayList<>(TinyNet.NAMES);
    expected.add("net/conv/kernel-momentum");
    assertEquals(expected.stream().sorted().toList(), List.copyOf(idx.keySet()));
    assertEquals(DataType.DT_FLOAT, idx.get("net/dense/kernel").dtype());
    assertArrayEquals(
        new long[] {TinyNet.CHANNELS, TinyNet.CLASSES}, idx.get("net/dense/kernel").shape().asArray());
    assertArrayEquals(
        new long[] {3, 3, 3, TinyNet.CHANNELS}, idx.get("net/conv/kernel").shape().asArray());
    assertEquals(idx, CheckpointIndex.read(tmp.resolve("ckpt/model")));

    Path bad = tmp.resolve("bad");
    Files.write(Path.of(bad + ".index"), new byte[100]);
    IOException e = assertThrows(IOException.class, () -> CheckpointIndex.read(bad));
    assertTrue(e.getMessage().contains(bad + ".index"), e.getMessage());
  }

  @Test
  void restoresByNameIntoALargerGraphAndReportsTheRest() throws IOException {
    Path sm = tmp.resolve("sm");
    Map<String, HostTensor> src = writeSource(sm, tmp.resolve("ckpt/model"));
    for (Path source : List.of(sm, tmp.resolve("ckpt/model"))) {
      try (Graph g = new Graph()) {
        TinyNet net = new TinyNet(g, 2);
        net.vars.variable(
            "head/extra/kernel", Shape.of(2, 2), VarStore.Kind.KERNEL,
            (tf, s) -> tf.fill(tf.constant(s), tf.constant(0.25f)));
        try (Session s = new Session(g)) {
          Map<String, HostTensor> fresh = values(s, net.vars);
          WeightLoader.Report r = WeightLoader.restoreFrom(s, source);
          assertEquals(TinyNet.NAMES.stream().sorted().toList(), r.restored());
          assertEquals(List.of("head/extra/kernel"), r.missingInSource());
          assertEquals(List.of(), r.notSelected());
          assertEquals(List.of("net/conv/kernel-momentum"), r.unusedInSource());
          assertEquals(List.of("head/extra/kernel"), r.fresh());

          Map<String, HostTensor> now = values(s, net.vars);
          for (String n : TinyNet.NAMES) {
            assertEquals(src.get(n), now.get(n), n);
            assertFalse(fresh.get(n).equals(now.get(n)), n + " should have changed");
          }
          assertEquals(fresh.get("head/extra/kernel"), now.get("head/extra/kernel"));
          // A later initialize() must not undo the restore.
          s.initialize();
          assertEquals(src.get("net/dense/kernel"), values(s, net.vars).get("net/dense/kernel"));
          // Restoring twice reuses the assign ops.
          int ops = countOps(g);
          WeightLoader.restoreFrom(s, source);
          assertEquals(ops, countOps(g));
        }
      }
    }
  }

  private static int countOps(Graph g) {
    int n = 0;
    for (var it = g.operations(); it.hasNext(); it.next()) {
      n++;
    }
    return n;
  }

  @Test
  void restoreExactlyTheseNamesTheRestStartFresh() throws IOException {
    Path sm = tmp.resolve("sm");
    Map<String, HostTensor> src = writeSource(sm, tmp.resolve("ckpt/model"));
    List<String> backbone =
        List.of("net/conv/kernel", "net/bn/gamma", "net/bn/beta", "net/bn/moving_mean",
            "net/bn/moving_variance");
    try (Graph g = new Graph()) {
      TinyNet net = new TinyNet(g, 2);
      try (Session s = new Session(g)) {
        Map<String, HostTensor> fresh = values(s, net.vars);
        WeightLoader.Report r = WeightLoader.restoreExactly(s, sm, backbone);
        assertEquals(backbone.stream().sorted().toList(), r.restored());
        assertEquals(List.of("net/dense/bias", "net/dense/kernel"), r.notSelected());
        assertEquals(List.of("net/dense/bias", "net/dense/kernel"), r.fresh());
        Map<String, HostTensor> now = values(s, net.vars);
        for (String n : backbone) {
          assertEquals(src.get(n), now.get(n), n);
        }
        for (String n : r.fresh()) {
          assertEquals(fresh.get(n), now.get(n), n + " must start fresh");
        }
        IllegalArgumentException e =
            assertThrows(
                IllegalArgumentException.class,
                () -> WeightLoader.restoreExactly(s, sm, List.of("net/conv/kernel", "nope/w")));
        assertTrue(e.getMessage().contains("nope/w"), e.getMessage());
      }
    }
    // A name the target has but the source lacks.
    try (Graph g = new Graph()) {
      TinyNet net = new TinyNet(g, 2);
      net.vars.variable("head/w", Shape.of(2), VarStore.Kind.KERNEL, (tf, s) -> tf.zeros(tf.constant(s), org.tensorflow.types.TFloat32.class));
      try (Session s = new Session(g)) {
        IllegalArgumentException e =
            assertThrows(
                IllegalArgumentException.class,
                () -> WeightLoader.restoreExactly(s, sm, List.of("net/conv/kernel", "head/w")));
        assertTrue(e.getMessage().contains("missing") && e.getMessage().contains("head/w"),
            e.getMessage());
      }
    }
  }

  @Test
  void restoresUnderOtherNamesWithAMapping() throws IOException {
    Path sm = tmp.resolve("sm");
    Map<String, HostTensor> src = writeSource(sm, tmp.resolve("ckpt/model"));
    try (Graph g = new Graph()) {
      VarStore vars = new VarStore(Ops.create(g));
      vars.variable("backbone/conv/kernel", Shape.of(3, 3, 3, TinyNet.CHANNELS), VarStore.Kind.KERNEL,
          (tf, s) -> tf.zeros(tf.constant(s), org.tensorflow.types.TFloat32.class));
      vars.variable("head/w", Shape.of(3), VarStore.Kind.KERNEL,
          (tf, s) -> tf.zeros(tf.constant(s), org.tensorflow.types.TFloat32.class));
      try (Session s = new Session(g)) {
        WeightLoader.Report r =
            WeightLoader.restore(
                s, sm, n -> n.startsWith("backbone/"), n -> n.replaceFirst("^backbone/", "net/"), true);
        assertEquals(List.of("backbone/conv/kernel"), r.restored());
        assertEquals(List.of("head/w"), r.notSelected());
        assertFalse(r.unusedInSource().contains("net/conv/kernel"));
        assertTrue(r.unusedInSource().contains("net/dense/kernel"));
        HostTensor got = values(s, vars).get("backbone/conv/kernel");
        assertArrayEquals(src.get("net/conv/kernel").floats(), got.floats());
      }
    }
  }

  @Test
  void shapeMismatchFailsBeforeAssigningAnything() throws IOException {
    Path sm = tmp.resolve("sm");
    writeSource(sm, tmp.resolve("ckpt/model"));
    try (Graph g = new Graph()) {
      TinyNet net = new TinyNet(g, 2, 7);
      try (Session s = new Session(g)) {
        Map<String, HostTensor> fresh = values(s, net.vars);
        IllegalArgumentException e =
            assertThrows(IllegalArgumentException.class, () -> WeightLoader.restoreFrom(s, sm));
        assertTrue(e.getMessage().contains("net/dense/kernel"), e.getMessage());
        assertTrue(e.getMessage().contains("net/dense/bias"), e.getMessage());
        assertTrue(e.getMessage().contains("[4, 5]") && e.getMessage().contains("[4, 7]"),
            e.getMessage());
        assertEquals(fresh, values(s, net.vars));
      }
    }
  }

  @Test
  void badSourcePathNamesWhatWasExpected() {
    Path nothing = tmp.resolve("nothing");
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops.create(g);
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> WeightLoader.restoreFrom(s, nothing));
      assertTrue(e.getMessage().contains(nothing.toString()), e.getMessage());
      assertTrue(e.getMessage().contains("variables/variables.index"), e.getMessage());
    }
  }
}
