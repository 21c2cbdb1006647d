package dev.selfie.training.cli;

import java.io.PrintWriter;
import java.io.UncheckedIOException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code selfie} command line: one entry point, one subcommand per job. Each subcommand
 * parses its flags into records and calls a plain method that returns a result object, so tests
 * call those methods without going through the parser.
 */
@Command(
    name = "selfie",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Self-supervised image pretraining (Selfie) on TensorFlow Java.",
    subcommands = {
      CommandLine.HelpCommand.class,
      ModelCommand.class,
      DataCommand.class,
      PretrainCommand.class,
      WorkerCommand.class,
      FinetuneCommand.class,
      EvaluateCommand.class,
      ExportCommand.class,
      ServeCommand.class,
      PredictCommand.class,
      QuickstartCommand.class,
      ProbeCommands.LinearProbe.class,
      ProbeCommands.Knn.class,
      DiagnoseCommand.class,
      ExperimentCommand.class,
      BenchmarkCommand.class,
    })
public final class Main implements Runnable {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** The configured command line (exception handling, help with defaults). */
  public static CommandLine commandLine() {
    CommandLine cl = new CommandLine(new Main());
    cl.setUsageHelpAutoWidth(true);
    cl.setExecutionExceptionHandler(Main::handleError);
    return cl;
  }

  /**
   * Bad input (a flag, a file) is reported in one line naming what was wrong, exit code 2; other
   * failures keep their stack trace, exit code 1.
   */
  static int handleError(Exception e, CommandLine cl, CommandLine.ParseResult parsed) {
    PrintWriter err = cl.getErr();
    if (e instanceof IllegalArgumentException
        || e instanceof IllegalStateException
        || e instanceof UncheckedIOException
        || e instanceof java.io.IOException) {
      Throwable t = e instanceof UncheckedIOException u && u.getCause() != null ? u.getCause() : e;
      err.println("selfie " + cl.getCommandName() + ": error: " + t.getMessage());
      err.flush();
      return 2;
    }
    err.println("selfie " + cl.getCommandName() + ": failed: " + e);
    e.printStackTrace(err);
    err.flush();
    return 1;
  }

  public static void main(String[] args) {
    // TF_ENABLE_ONEDNN_OPTS (and TF_XLA_FLAGS for --xla) must be set before TensorFlow's native
    // library loads: re-exec in a child JVM when they are missing (not under ./selfie).
    dev.selfie.training.Relauncher.ensureEnv(args);
    int code = commandLine().execute(args);
    System.exit(code);
  }

  /** Version from the jar manifest when packaged, else "dev". */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Main.class.getPackage().getImplementationVersion();
      return new String[] {"selfie " + (v == null ? "dev" : v) + ", TensorFlow Java 1.1.0"};
    }
  }
}
