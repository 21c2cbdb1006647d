package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.cli.CliRun;
import dev.selfie.cli.Main;
import dev.selfie.training.parallel.DataParallel;
import dev.selfie.training.runtime.CudaCheck;
import dev.selfie.training.runtime.DeviceOptions;
import dev.selfie.training.runtime.Devices;
import dev.selfie.training.runtime.NativeLibrary;
import dev.selfie.training.runtime.SessionConfigs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.proto.ConfigProto;

/**
 * {@code --device} and the GPU memory options, on a CPU machine: the choice of device, the "no GPU
 * found" failure (message and nothing written), and GPU options in every session config
 * including the device-listing one (the process's first session).
 */
class DeviceChoiceTest {
  @TempDir Path tmp;

  static final NativeLibrary CPU_LIB = new NativeLibrary("linux-x86_64", "test");
  static final NativeLibrary GPU_LIB = new NativeLibrary("linux-x86_64-gpu", "test");
  static final List<Devices.Device> CPU_ONLY =
      List.of(new Devices.Device("/job:localhost/replica:0/task:0/device:CPU:0", "CPU"));
  static final List<Devices.Device> WITH_GPU = List.of(CPU_ONLY.get(0),
      new Devices.Device("/job:localhost/replica:0/task:0/device:GPU:0", "GPU"));

  /** A report as CudaCheck gives it on a machine without the driver and cuDNN. */
  static CudaCheck.Report noDriverNoCudnn() {
    return new CudaCheck.Report(Optional.empty(), List.of(new CudaCheck.Found(
        CudaCheck.LIBRARIES.stream().filter(l -> l.soname().equals("libcudnn.so.9")).findFirst()
            .orElseThrow(), Optional.empty(), null, Optional.empty())),
        Optional.empty(), Optional.empty(), "/opt/cuda/lib64");
  }

  @AfterEach
  void resetProcessOptions() {
    DeviceOptions.set(DeviceOptions.defaults());
  }

  @Test
  void choice() {
    AtomicInteger asked = new AtomicInteger();
    java.util.function.Supplier<CudaCheck.Report> why = () -> {
      asked.incrementAndGet();
      return noDriverNoCudnn();
    };
    // cpu: never the GPU, even when one is there.
    assertFalse(Devices.choose(DeviceOptions.Device.CPU, GPU_LIB, WITH_GPU, why));
    // auto: the GPU when listed; the CPU build without GPU trains on the CPU.
    assertTrue(Devices.choose(DeviceOptions.Device.AUTO, GPU_LIB, WITH_GPU, why));
    assertFalse(Devices.choose(DeviceOptions.Device.AUTO, CPU_LIB, CPU_ONLY, why));
    assertTrue(Devices.choose(DeviceOptions.Device.GPU, GPU_LIB, WITH_GPU, why));
    assertEquals(0, asked.get(), "the CUDA check ran although nothing failed");

    // gpu with the CPU library: says how to get the GPU build.
    IllegalStateException cpuBuild = assertThrows(IllegalStateException.class,
        () -> Devices.choose(DeviceOptions.Device.GPU, CPU_LIB, CPU_ONLY, why));
    assertTrue(cpuBuild.getMessage().startsWith("--device gpu: this build loaded TensorFlow's CPU"
        + " library (linux-x86_64)"), cpuBuild.getMessage());
    assertTrue(cpuBuild.getMessage().contains("-Pgpu"), cpuBuild.getMessage());

    // The GPU library and no GPU, asked for explicitly or by auto: stop with the reason.
    for (DeviceOptions.Device mode : List.of(DeviceOptions.Device.GPU, DeviceOptions.Device.AUTO)) {
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> Devices.choose(mode, GPU_LIB, CPU_ONLY, why));
      String m = e.getMessage();
      assertTrue(m.contains("no GPU found"), m);
      assertTrue(m.contains("no NVIDIA kernel driver loaded"), m);
      assertTrue(m.contains("cuDNN libcudnn.so.9: NOT FOUND on the loader's path; need >= 9.3"), m);
      assertTrue(m.contains("CUDA >= 12.5 and cuDNN >= 9.3"), m);
      assertTrue(m.contains("LD_LIBRARY_PATH=/opt/cuda/lib64"), m);
      assertTrue(m.contains("pass --device cpu"), m);
      assertTrue(m.contains("selfie doctor"), m);
    }
    assertEquals(2, asked.get());
  }

  @Test
  void deviceFlagValues() {
    assertEquals(DeviceOptions.Device.GPU, DeviceOptions.Device.parse("GPU"));
    IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
        () -> DeviceOptions.Device.parse("tpu"));
    assertEquals("--device must be cpu, gpu or auto, got 'tpu'", bad.getMessage());
    for (double f : new double[] {0, -0.5, 1.01, Double.NaN}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> new DeviceOptions(DeviceOptions.Device.AUTO, f));
      assertTrue(e.getMessage().startsWith("--gpu-memory-fraction must be in (0, 1]"),
          e.getMessage());
    }
  }

  @Test
  void gpuMemoryOptionsInEverySessionConfigIncludingTheFirst() {
    // Default: grow on demand, in the listing session and in training sessions (CPU or GPU).
    assertTrue(Devices.listConfig().getGpuOptions().getAllowGrowth());
    assertTrue(SessionConfigs.configProto(SessionConfigs.Options.defaults()).getGpuOptions()
        .getAllowGrowth());
    ConfigProto gpu = SessionConfigs.configProto(new SessionConfigs.Options(0, 0, false, true));
    assertTrue(gpu.getAllowSoftPlacement());
    assertTrue(gpu.getGpuOptions().getAllowGrowth());
    assertFalse(gpu.getDeviceCountMap().containsKey("GPU"));

    DeviceOptions.set(new DeviceOptions(DeviceOptions.Device.AUTO, 0.4));
    for (ConfigProto c : List.of(Devices.listConfig(),
        SessionConfigs.configProto(new SessionConfigs.Options(0, 0, false, true)),
        SessionConfigs.configProto(SessionConfigs.Options.defaults()),
        DataParallel.localConfig(new SessionConfigs.Options(0, 0, false, false), 2))) {
      assertEquals(0.4, c.getGpuOptions().getPerProcessGpuMemoryFraction(), 1e-12, c.toString());
      assertFalse(c.getGpuOptions().getAllowGrowth(), c.toString());
    }

    // --device cpu hides the GPUs from every session.
    DeviceOptions.set(new DeviceOptions(DeviceOptions.Device.CPU, null));
    assertEquals(0, Devices.listConfig().getDeviceCountOrThrow("GPU"));
    assertEquals(0, SessionConfigs.configProto(SessionConfigs.Options.defaults())
        .getDeviceCountOrThrow("GPU"));
    // and a session with that config still lists the CPU.
    assertTrue(Devices.hasGpu(Devices.list()) == false
        && Devices.list().stream().anyMatch(d -> d.type().equals("CPU")));
  }

  @Test
  void askingForAGpuOnThisCpuBuildStopsBeforeWritingAnything() {
    assertFalse(NativeLibrary.loaded().gpu(), "these tests expect the CPU build");
    Path out = tmp.resolve("run");
    // Both flag positions (inherited option): after the subcommand and before it.
    for (String[] args : List.of(
        new String[] {"pretrain", "--device", "gpu", "--preset", "tiny", "--out", out.toString()},
        new String[] {"--device", "gpu", "finetune", "--out", out.toString()})) {
      CliRun r = CliRun.run(args);
      assertEquals(2, r.code(), r.err());
      assertTrue(r.err().contains(": error: --device gpu: this build loaded TensorFlow's CPU"
          + " library (linux-x86_64)"), r.err());
      assertFalse(Files.exists(out), "the failed run wrote " + out);
    }
    CliRun bad = CliRun.run("pretrain", "--device", "gppu", "--out", out.toString());
    assertEquals(2, bad.code());
    assertTrue(bad.err().contains("--device must be cpu, gpu or auto, got 'gppu'"), bad.err());
    CliRun frac = CliRun.run("pretrain", "--gpu-memory-fraction", "2", "--out", out.toString());
    assertEquals(2, frac.code());
    assertTrue(frac.err().contains("--gpu-memory-fraction must be in (0, 1], got 2.0"), frac.err());
    assertFalse(Files.exists(out));
  }

  @Test
  void cliSetsTheProcessOptions() {
    CliRun r = CliRun.run("model", "summary", "--preset", "tiny", "--gpu-memory-fraction", "0.25",
        "--device", "cpu");
    assertEquals(0, r.code(), r.err());
    assertEquals(new DeviceOptions(DeviceOptions.Device.CPU, 0.25), DeviceOptions.current());
  }
}
