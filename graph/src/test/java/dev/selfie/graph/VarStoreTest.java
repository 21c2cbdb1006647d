package dev.selfie.graph;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

class VarStoreTest {
  @Test
  void createsNamedVariablesOnceAndReusesThem() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf);
      var a = vars.variable("net/block0/conv/kernel", Shape.of(2, 3), VarStore.Kind.KERNEL,
          (ops, s) -> ops.math.add(ops.fill(ops.constant(s), ops.constant(1f)), ops.constant(1f)));
      var b = vars.variable("net/block0/conv/kernel", Shape.of(2, 3), VarStore.Kind.KERNEL,
          (ops, s) -> ops.fill(ops.constant(s), ops.constant(5f)));
      assertSame(a, b);
      vars.variable("net/bn/moving_mean", Shape.of(3), VarStore.Kind.STATE,
          (ops, s) -> ops.zeros(ops.constant(s), TFloat32.class));
      assertThrows(IllegalArgumentException.class, () -> vars.variable("net/bn/moving_mean",
          Shape.of(4), VarStore.Kind.STATE, (ops, s) -> ops.zeros(ops.constant(s), TFloat32.class)));
      assertEquals("net/block0/conv/kernel", vars.all().get(0).variable().op().name());
      assertEquals("net/block0/conv/kernel", vars.all().get(0).name());
      assertEquals(1, vars.kernels().size());
      assertEquals(1, vars.state().size());
      assertEquals(9, VarStore.parameterCount(vars.all()));
      try (Session s = new Session(g)) {
        s.initialize();
        try (TFloat32 t = (TFloat32) s.runner().fetch(a).run().get(0)) {
          assertEquals(2f, t.getFloat(1, 2));
        }
      }
    }
  }

  @Test
  void replicaCopiesEveryVariableUnderAPrefixWithTheSameInitialValue() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf, 3);
      VarStore copy = vars.replica("replica_1", tf);
      assertTrue(copy.isReplica());
      assertFalse(vars.isReplica());
      // Random initial value: both copies must take the same draw.
      var r = copy.variable("net/kernel", Shape.of(4), VarStore.Kind.KERNEL,
          (ops, sh) -> ops.random.randomUniform(ops.constant(sh), TFloat32.class));
      var p = vars.variable("net/kernel", Shape.of(4), VarStore.Kind.KERNEL,
          (ops, sh) -> ops.fill(ops.constant(sh), ops.constant(9f)));
      assertEquals("net/kernel", copy.all().get(0).name());
      assertEquals("replica_1/net/kernel", copy.all().get(0).variable().op().name());
      assertEquals(VarStore.REPLICA_OP, copy.all().get(0).variable().op().type());
      assertEquals("VariableV2", vars.all().get(0).variable().op().type());
      assertEquals(1, copy.copies().size());
      assertSame(vars.get("net/kernel"), copy.copies().get(0)[1]);
      assertTrue(vars.copies().isEmpty());
      assertThrows(IllegalStateException.class, () -> copy.replica("replica_2", tf));
      try (Session s = new Session(g)) {
        s.initialize();
        try (var res = s.runner().fetch(r).fetch(p).run()) {
          TFloat32 a = (TFloat32) res.get(0);
          TFloat32 b = (TFloat32) res.get(1);
          for (int i = 0; i < 4; i++) {
            assertEquals(b.getFloat(i), a.getFloat(i));
          }
          assertNotEquals(9f, a.getFloat(0), "the primary's initializer was the first one asked");
        }
      }
    }
  }
}
