package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.runtime.CudaCheck;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CUDA/cuDNN check on fake library trees: what is found, versions, what is only elsewhere. */
class CudaCheckTest {
  @TempDir Path tmp;

  /** {@code dir/soname -> dir/real} (a symlink, as the CUDA packages install them). */
  static void lib(Path dir, String soname, String real) throws Exception {
    Files.createDirectories(dir);
    Files.write(dir.resolve(real), new byte[] {1});
    if (!soname.equals(real)) {
      Files.createSymbolicLink(dir.resolve(soname), dir.resolve(real).getFileName());
    }
  }

  static final String PROC = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar"
      + "  5 22:23:56 UTC 2024\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n";

  @Test
  void completeInstallationPasses() throws Exception {
    Path ld = tmp.resolve("cuda/lib64");
    lib(ld, "libcuda.so.1", "libcuda.so.550.54.15");
    lib(ld, "libcudart.so.12", "libcudart.so.12.5.82");
    lib(ld, "libcublas.so.12", "libcublas.so.12.5.3.2");
    lib(ld, "libcublasLt.so.12", "libcublasLt.so.12.5.3.2");
    lib(ld, "libcufft.so.11", "libcufft.so.11.2.3.61");
    lib(ld, "libcusolver.so.11", "libcusolver.so.11.6.3.83");
    lib(ld, "libcusparse.so.12", "libcusparse.so.12.5.1.3");
    lib(ld, "libcudnn.so.9", "libcudnn.so.9.10.2"); // 9.10 > 9.3: numeric comparison
    Path cuda = tmp.resolve("cuda");
    Files.createDirectories(cuda.resolve("nvvm/libdevice"));
    Files.write(cuda.resolve("nvvm/libdevice/libdevice.10.bc"), new byte[] {1});
    Files.createDirectories(cuda.resolve("bin"));
    Path ptxas = Files.write(cuda.resolve("bin/ptxas"), new byte[] {1});
    ptxas.toFile().setExecutable(true);
    CudaCheck.Report r = CudaCheck.check(new CudaCheck.Machine(
        Map.of("LD_LIBRARY_PATH", ld.toString(), "PATH", ""), List.of(), Optional.of(PROC),
        List.of(), List.of(cuda)));
    assertTrue(r.ok(), r.problems().toString());
    assertEquals(List.of(), r.problems());
    assertEquals(Optional.of("550.54.15"), r.driverVersion());
    assertEquals(Optional.of(cuda), r.cudaDataDir());
    assertEquals(Optional.of(ptxas), r.ptxas());
    CudaCheck.Found cudnn = r.libraries().stream()
        .filter(f -> f.library().soname().equals("libcudnn.so.9")).findFirst().orElseThrow();
    assertEquals("9.10.2", cudnn.version());
    assertEquals("cuDNN libcudnn.so.9: " + ld.resolve("libcudnn.so.9") + " (9.10.2)",
        cudnn.describe());
  }

  @Test
  void oldCudnnMissingLibrariesAndCopiesOffThePath() throws Exception {
    Path ld = tmp.resolve("ld");
    lib(ld, "libcuda.so.1", "libcuda.so.550.54.15");
    lib(ld, "libcudart.so.12", "libcudart.so.12.2.140"); // CUDA 12.2 < 12.5
    lib(ld, "libcudnn.so.9", "libcudnn.so.9.1.0"); // cuDNN 9.1 aborts at the first convolution
    lib(ld, "libcublas.so.12", "libcublas.so.12"); // no version in the name: passes, unknown
    Path cuda = tmp.resolve("usr-local-cuda");
    lib(cuda.resolve("lib64"), "libcufft.so.11", "libcufft.so.11.2.3.61");
    CudaCheck.Report r = CudaCheck.check(new CudaCheck.Machine(
        Map.of("LD_LIBRARY_PATH", ld + ":"), List.of(), Optional.of(PROC), List.of(),
        List.of(cuda)));
    assertFalse(r.ok());
    String all = String.join("\n", r.problems());
    assertTrue(all.contains("CUDA runtime libcudart.so.12: " + ld.resolve("libcudart.so.12")
        + " (12.2.140) TOO OLD: need >= 12.5"), all);
    assertTrue(all.contains("cuDNN libcudnn.so.9: " + ld.resolve("libcudnn.so.9")
        + " (9.1.0) TOO OLD: need >= 9.3"), all);
    assertTrue(all.contains("cuFFT libcufft.so.11: NOT FOUND on the loader's path (a copy is in "
        + cuda.resolve("lib64") + ": add that to LD_LIBRARY_PATH)"), all);
    assertTrue(all.contains("cuSOLVER libcusolver.so.11: NOT FOUND"), all);
    assertFalse(all.contains("libcublas.so.12:"), all);
    assertFalse(all.contains("libcupti"), "an optional library was reported: " + all);
    assertFalse(all.contains("driver"), all);
    assertEquals(Optional.empty(), r.cudaDataDir());
    assertTrue(r.explain().contains("LD_LIBRARY_PATH=" + ld + ":"), r.explain());
  }

  @Test
  void noDriverAndOldDriver() {
    CudaCheck.Machine none = new CudaCheck.Machine(Map.of(), List.of(), Optional.empty(),
        List.of(), List.of());
    CudaCheck.Report r = CudaCheck.check(none);
    assertFalse(r.ok());
    assertTrue(r.problems().get(0).startsWith("no NVIDIA kernel driver loaded"), r.problems().get(0));
    assertTrue(r.explain().contains("LD_LIBRARY_PATH=(unset)"), r.explain());
    CudaCheck.Report old = CudaCheck.check(new CudaCheck.Machine(Map.of(), List.of(),
        Optional.of(PROC.replace("550.54.15", "470.82.01")), List.of(), List.of()));
    assertTrue(old.problems().get(0).startsWith("NVIDIA driver 470.82.01 is older than 525.60.13"),
        old.problems().get(0));
  }

  @Test
  void xlaFlagsNameTheCudaDirectory() throws Exception {
    Path cuda = tmp.resolve("elsewhere/cuda-12.5");
    Files.createDirectories(cuda.resolve("nvvm/libdevice"));
    Files.write(cuda.resolve("nvvm/libdevice/libdevice.10.bc"), new byte[] {1});
    CudaCheck.Report r = CudaCheck.check(new CudaCheck.Machine(
        Map.of("XLA_FLAGS", "--xla_gpu_autotune_level=2 --xla_gpu_cuda_data_dir=" + cuda),
        List.of(), Optional.empty(), List.of(), List.of()));
    assertEquals(Optional.of(cuda), r.cudaDataDir());
    assertEquals(Optional.empty(), r.ptxas());
  }

  @Test
  void versions() {
    assertTrue(CudaCheck.compareVersions("9.10.0", "9.3") > 0);
    assertTrue(CudaCheck.compareVersions("9.3", "9.3.0") == 0);
    assertTrue(CudaCheck.compareVersions("12.4.131", "12.5") < 0);
    assertEquals("535.104.05", CudaCheck.driverVersion("NVRM version: NVIDIA UNIX Open Kernel"
        + " Module for x86_64  535.104.05  Release Build  (dvs-builder@U16-I3-B03-4-3)"));
    assertNull(CudaCheck.driverVersion("garbage"));
  }

  @Test
  void thisMachineIsCheckedWithoutLoadingAnything() {
    // No GPU on the CI machines: the real check must run and report at least the driver.
    CudaCheck.Report r = CudaCheck.check();
    if (Files.exists(Path.of("/proc/driver/nvidia/version"))) {
      System.out.println("CudaCheckTest: NVIDIA driver present, not asserting its absence");
      return;
    }
    assertFalse(r.ok());
    assertTrue(r.problems().get(0).startsWith("no NVIDIA kernel driver loaded"));
  }
}
