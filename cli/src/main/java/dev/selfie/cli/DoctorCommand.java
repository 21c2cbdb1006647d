package dev.selfie.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.selfie.training.runtime.CudaCheck;
import dev.selfie.training.runtime.Doctor;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/** {@code selfie doctor}: checks the machine and the build (exit 1 when a check FAILs). */
@Command(
    name = "doctor",
    mixinStandardHelpOptions = true,
    showDefaultValues = true,
    description = {
      "Checks what runs here: TensorFlow and its native library (CPU/GPU build), oneDNN, the"
          + " CPU's AVX2/AVX-512/AVX512_BF16/AMX flags, GPUs and the CUDA/cuDNN libraries found"
          + " (or why none), XLA (CPU JIT, CUDA libdevice/ptxas), the data home and which"
          + " datasets are present and readable. Exit code 1 when a check FAILs."
    })
public final class DoctorCommand implements Callable<Integer> {

  @Option(names = "--data-dir", description = "Data home to check (else $SELFIE_DATA, else"
      + " ~/.cache/selfie).")
  Path dataDir;

  @Option(names = "--json", description = "Print the checks as JSON.")
  boolean json;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    Doctor.Report r = Doctor.run(dataDir, Doctor.cpuinfo(), CudaCheck.check());
    PrintWriter out = spec.commandLine().getOut();
    if (json) {
      out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
          .writeValueAsString(r));
    } else {
      r.checks().forEach(c -> out.println(c.line()));
      out.println(r.failed() ? "doctor: some checks FAILED (see above)" : "doctor: no failures");
    }
    out.flush();
    return r.failed() ? 1 : 0;
  }
}
