package dev.selfie.cli;

import dev.selfie.cli.flags.ParamLabels;
import dev.selfie.training.runtime.DeviceOptions;
import dev.selfie.training.runtime.Devices;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import picocli.CommandLine.Command;
import picocli.CommandLine;

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
      DoctorCommand.class,
    })
public final class Main implements Runnable {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @CommandLine.Option(names = "--device", defaultValue = "auto", paramLabel = "NAME",
      scope = CommandLine.ScopeType.INHERIT,
      description = "cpu, gpu or auto: auto trains on GPU:0 when TensorFlow's GPU library is"
          + " loaded (and then stops if no GPU is found), else on the CPU.")
  String device;

  @CommandLine.Option(names = "--gpu-memory-fraction", paramLabel = "X",
      scope = CommandLine.ScopeType.INHERIT,
      description = "Reserve this fraction (0-1] of each GPU's memory at start (default: grow on"
          + " demand).")
  Double gpuMemoryFraction;

  /**
   * Commands that run no TensorFlow session on a device: no device check before them ({@code
   * doctor} reports on the devices instead of failing).
   */
  static final java.util.Set<String> NO_DEVICE_CHECK = java.util.Set.of("help", "doctor", "model",
      "data");

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** The configured command line (exception handling, help with defaults, device check). */
  public static CommandLine commandLine() {
    Main main = new Main();
    CommandLine cl = new CommandLine(main);
    cl.setUsageHelpAutoWidth(true);
    cl.setExecutionExceptionHandler(Main::handleError);
    cl.setParameterExceptionHandler(Main::handleUsageError);
    cl.setExecutionStrategy(main::execute);
    ParamLabels.apply(cl);
    return cl;
  }

  /**
   * Sets the process's {@link DeviceOptions} from {@code --device} and {@code
   * --gpu-memory-fraction}, then, before the command writes anything, checks the device choice
   * against the machine ({@link Devices#check}: a GPU was asked for and none is found -> error
   * with the reason). The check creates the process's first TensorFlow session, with the GPU
   * memory options every later session also gets.
   */
  int execute(CommandLine.ParseResult parsed) {
    CommandLine.ParseResult leaf = parsed;
    boolean help = false;
    for (CommandLine.ParseResult p = parsed; p != null; p = p.subcommand()) {
      leaf = p;
      help |= p.isUsageHelpRequested() || p.isVersionHelpRequested();
    }
    if (!help && leaf != parsed) {
      CommandLine command = leaf.commandSpec().commandLine();
      try {
        DeviceOptions.set(new DeviceOptions(DeviceOptions.Device.parse(device),
            gpuMemoryFraction));
        String top = parsed.subcommand().commandSpec().name();
        if (!NO_DEVICE_CHECK.contains(top)) {
          Devices.check();
        }
      } catch (RuntimeException e) {
        throw new CommandLine.ExecutionException(command, e.getMessage(), e);
      }
    }
    return new CommandLine.RunLast().execute(parsed);
  }

  /**
   * A usage error (unknown flag, missing or malformed value) in one line naming the full command
   * ({@code selfie data fetch: ...}) and a hint to its help, not the whole help page; exit code 2.
   */
  static int handleUsageError(CommandLine.ParameterException e, String[] args) {
    CommandLine cl = e.getCommandLine();
    String name = cl.getCommandSpec().qualifiedName();
    PrintWriter err = cl.getErr();
    err.println(name + ": " + e.getMessage());
    err.println("Try '" + name + " --help' for the flags.");
    err.flush();
    return 2;
  }

  /**
   * Bad input (a flag, a file) is reported in one line naming what was wrong, exit code 2; other
   * failures keep their stack trace, exit code 1.
   */
  static int handleError(Exception e, CommandLine cl, CommandLine.ParseResult parsed) {
    PrintWriter err = cl.getErr();
    if (e instanceof dev.selfie.training.loop.TrainingLoop.Stopped) {
      // Ctrl-C/SIGTERM: the checkpoint and the resume command are printed already. (Under a
      // signal the JVM exits with 128 + the signal number, 130 or 143, whatever this returns.)
      return 130;
    }
    if (e instanceof IllegalArgumentException
        || e instanceof IllegalStateException
        || e instanceof UncheckedIOException
        || e instanceof java.io.IOException) {
      // UncheckedIOException(cause) only wraps: print the cause; with its own message (which
      // names the file), print that.
      String message = e instanceof UncheckedIOException u && u.getCause() != null
          && u.getMessage().equals(u.getCause().toString()) ? u.getCause().getMessage()
          : e.getMessage();
      err.println(cl.getCommandSpec().qualifiedName() + ": error: " + message);
      err.flush();
      return 2;
    }
    err.println(cl.getCommandSpec().qualifiedName() + ": failed: " + e);
    e.printStackTrace(err);
    err.flush();
    return 1;
  }

  public static void main(String[] args) {
    // TF_ENABLE_ONEDNN_OPTS (and TF_XLA_FLAGS for --xla) must be set before TensorFlow's native
    // library loads: re-exec in a child JVM when they are missing (not under ./selfie).
    dev.selfie.training.runtime.Relauncher.ensureEnv(args);
    dev.selfie.training.loop.GracefulStop.setCommand(args);
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
