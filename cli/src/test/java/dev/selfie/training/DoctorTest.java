package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.selfie.cli.Main;
import dev.selfie.training.runtime.CudaCheck;
import dev.selfie.training.runtime.Doctor;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code selfie doctor} on this CPU machine, with a given cpuinfo and CUDA picture. */
class DoctorTest {
  @TempDir Path tmp;

  static final String CPUINFO = "processor\t: 0\nmodel name\t: AMD EPYC 9B14\n"
      + "flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_bf16\n\nprocessor\t: 1\n";

  @Test
  void checksOnThisCpuBuild() throws Exception {
    CudaCheck.Report cuda = CudaCheck.check(new CudaCheck.Machine(Map.of(), List.of(),
        Optional.empty(), List.of(), List.of()));
    Path home = Files.createDirectories(tmp.resolve("home"));
    Doctor.Report r = Doctor.run(home, CPUINFO, cuda);
    assertFalse(r.failed(), r.checks().toString());

    Doctor.Check lib = r.get("native library");
    assertEquals(Doctor.Status.OK, lib.status());
    assertTrue(lib.detail().startsWith("linux-x86_64 (CPU build)"), lib.detail());
    assertTrue(r.get("tensorflow").detail().startsWith("TensorFlow 2.18"), r.get("tensorflow").detail());
    // Surefire sets TF_ENABLE_ONEDNN_OPTS=1: the probe must find oneDNN kernels.
    assertEquals("on (TF_ENABLE_ONEDNN_OPTS=1)", r.get("oneDNN").detail());
    String cpu = r.get("cpu").detail();
    assertTrue(cpu.startsWith("AMD EPYC 9B14, "), cpu);
    assertTrue(cpu.contains("has [avx2, avx512f, avx512_bf16], lacks [amx_bf16, amx_tile]"
        + " (bfloat16 kernels usable)"), cpu);
    Doctor.Check gpus = r.get("gpus");
    assertEquals(Doctor.Status.INFO, gpus.status());
    assertTrue(gpus.detail().startsWith("none used: CPU build"), gpus.detail());
    assertTrue(gpus.detail().contains("CPU:0"), gpus.detail());
    // The CUDA libraries are listed (not failures on a CPU build).
    Doctor.Check cudnn = r.get("cuDNN");
    assertEquals(Doctor.Status.INFO, cudnn.status());
    assertTrue(cudnn.detail().contains("libcudnn.so.9: NOT FOUND"), cudnn.detail());
    assertEquals(Doctor.Status.INFO, r.get("nvidia driver").status());
    Doctor.Check xla = r.get("xla");
    assertEquals(Doctor.Status.OK, xla.status(), xla.detail());
    assertTrue(xla.detail().startsWith("CPU JIT compiles; GPU: no CUDA nvvm/libdevice found"),
        xla.detail());
    assertEquals(Doctor.Status.OK, r.get("data home").status());
    Doctor.Check cifar = r.get("dataset cifar10");
    assertEquals(Doctor.Status.INFO, cifar.status());
    assertTrue(cifar.detail().startsWith("not available: "), cifar.detail());
    if (Files.isRegularFile(PretrainFixtures.FASHION_MNIST.resolve("train-images-idx3-ubyte.gz"))) {
      // Without --data-dir the Debian location is searched too.
      Doctor.Check fm = Doctor.dataset("fashion-mnist", null);
      assertEquals(Doctor.Status.OK, fm.status(), fm.detail());
      assertTrue(fm.detail().contains("60000 train, 10000 test images"), fm.detail());
    } else {
      System.out.println("DoctorTest: Fashion-MNIST absent, its doctor line not checked");
    }
  }

  @Test
  void cpuFlagsWithoutBf16() {
    assertEquals(java.util.Set.of("avx2", "fma"), Doctor.cpuFlags("flags : avx2 fma\n"));
    assertEquals("", Doctor.cpuModel(""));
  }

  @Test
  void cliPrintsJsonAndExitsZeroHere() throws Exception {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cl = Main.commandLine();
    cl.setOut(new PrintWriter(out));
    cl.setErr(new PrintWriter(err));
    int code = cl.execute("doctor", "--json", "--data-dir", tmp.toString());
    assertEquals(0, code, err + "\n" + out);
    JsonNode checks = new ObjectMapper().readTree(out.toString()).get("checks");
    assertTrue(checks.size() > 10, out.toString());
    assertEquals("native library", checks.get(1).get("name").asText());
    assertEquals("OK", checks.get(1).get("status").asText());

    StringWriter text = new StringWriter();
    cl = Main.commandLine();
    cl.setOut(new PrintWriter(text));
    assertEquals(0, cl.execute("doctor", "--data-dir", tmp.toString()));
    assertTrue(text.toString().contains("ok    native library     linux-x86_64 (CPU build)"),
        text.toString());
    assertTrue(text.toString().endsWith("doctor: no failures\n"), text.toString());
  }
}
