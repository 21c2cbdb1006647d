package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.runtime.Devices;
import dev.selfie.training.runtime.SessionConfigs;
import dev.selfie.training.runtime.Xla;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.OptimizerOptions;

class DevicesTest {
  @Test
  void listsAtLeastOneCpu() {
    List<Devices.Device> devices = Devices.list();
    assertTrue(devices.stream().anyMatch(d -> d.type().equals("CPU")
        && d.name().endsWith("/device:CPU:0")), devices.toString());
    // device_count is honoured: 3 virtual CPUs.
    List<Devices.Device> three = Devices.list(ConfigProto.newBuilder()
        .putDeviceCount("CPU", 3).build());
    assertEquals(3, three.stream().filter(d -> d.type().equals("CPU")).count(), three.toString());
  }

  @Test
  void configProtoCarriesThreadsJitAndGpuOptions() throws Exception {
    ConfigProto xla = SessionConfigs.configProto(new SessionConfigs.Options(2, 1, true, false));
    assertEquals(2, xla.getIntraOpParallelismThreads());
    assertEquals(1, xla.getInterOpParallelismThreads());
    assertEquals(OptimizerOptions.GlobalJitLevel.ON_2,
        xla.getGraphOptions().getOptimizerOptions().getGlobalJitLevel());
    assertTrue(xla.getGraphOptions().getOptimizerOptions().getCpuGlobalJit());
    assertFalse(xla.getAllowSoftPlacement());
    // Round trip through bytes (what the Session constructor sends to the C API).
    ConfigProto parsed = ConfigProto.parseFrom(xla.toByteArray());
    assertEquals(OptimizerOptions.GlobalJitLevel.ON_2,
        parsed.getGraphOptions().getOptimizerOptions().getGlobalJitLevel());

    ConfigProto plain = SessionConfigs.configProto(SessionConfigs.Options.defaults());
    assertFalse(plain.hasGraphOptions());
    assertEquals(0, plain.getIntraOpParallelismThreads());

    ConfigProto gpu = SessionConfigs.configProto(new SessionConfigs.Options(0, 0, true, true));
    assertTrue(gpu.getAllowSoftPlacement());
    assertTrue(gpu.getGpuOptions().getAllowGrowth());
    assertThrows(IllegalArgumentException.class,
        () -> new SessionConfigs.Options(-1, 0, false, false));
  }

  @Test
  void placementAndDescription() {
    assertEquals("/device:GPU:0", Devices.modelDevice(true).toString());
    assertEquals("/device:CPU:0", Devices.modelDevice(false).toString());
    List<Devices.Device> cpuOnly =
        List.of(new Devices.Device("/job:localhost/replica:0/task:0/device:CPU:0", "CPU"));
    List<Devices.Device> withGpu = List.of(cpuOnly.get(0),
        new Devices.Device("/job:localhost/replica:0/task:0/device:GPU:0", "GPU"));
    assertFalse(Devices.hasGpu(cpuOnly));
    assertTrue(Devices.hasGpu(withGpu));
    assertEquals("running on CPU (3 threads)",
        Devices.describe(cpuOnly, new SessionConfigs.Options(3, 0, false, false)));
    assertEquals("running on GPU (/job:localhost/replica:0/task:0/device:GPU:0), XLA JIT",
        Devices.describe(withGpu, new SessionConfigs.Options(0, 0, true, true)));
  }

  @Test
  void xlaConfigCompilesClustersOfATrainingStepOnCpu() {
    try (Graph g = new Graph()) {
      TinyModel m = new TinyModel(g);
      GlobalStep step = GlobalStep.create(m.tf);
      Optimizers.TrainOp op = Optimizers.minimize(
          m.tf, g, m.loss, m.vars, OptimizerConfig.sgd(0.1, 0, 10), step);
      ConfigProto xla = SessionConfigs.configProto(new SessionConfigs.Options(0, 0, true, false));
      try (Session s = new Session(g, xla)) {
        s.initialize();
        try (Result r = s.runner().fetch(m.loss).addTarget(op.trainOp())
            .setOptions(Xla.traceOptions()).runAndFetchMetadata()) {
          List<String> clusters = Xla.clusters(r.getMetadata().orElseThrow());
          assertFalse(clusters.isEmpty(), "no XLA cluster ran");
          assertTrue(clusters.get(0).startsWith("cluster_"), clusters.toString());
        }
      }
      try (Session s = new Session(g)) {
        s.initialize();
        try (Result r = s.runner().fetch(m.loss).addTarget(op.trainOp())
            .setOptions(Xla.traceOptions()).runAndFetchMetadata()) {
          assertEquals(List.of(), Xla.clusters(r.getMetadata().orElseThrow()));
        }
      }
    }
  }
}
