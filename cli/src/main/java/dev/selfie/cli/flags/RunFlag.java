package dev.selfie.cli.flags;

import java.nio.file.Path;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;

/**
 * {@code --run DIR} on the commands that read a run (evaluate, linear-probe, knn), with the
 * flag's earlier name {@code --model} still accepted (hidden from --help, with a note on stderr).
 */
public final class RunFlag {
  private RunFlag() {}

  /**
   * The run directory given by {@code --run} or its old name {@code --model}; null when neither
   * is given and the flag is optional. A usage error when both are given, or neither and the
   * flag is required.
   */
  public static Path resolve(CommandSpec spec, Path run, Path oldName, boolean required) {
    if (run != null && oldName != null) {
      throw new ParameterException(spec.commandLine(),
          "give the run once: --run (--model is its old name)");
    }
    if (oldName != null) {
      spec.commandLine().getErr().println(
          spec.qualifiedName() + ": --model is now --run (the old name still works for now)");
      return oldName;
    }
    if (run == null && required) {
      throw new ParameterException(spec.commandLine(), "Missing required option: '--run=DIR'");
    }
    return run;
  }
}
