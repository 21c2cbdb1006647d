package dev.selfie.training.loop;

import dev.selfie.training.run.Logs;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ctrl-C / SIGTERM during training: a JVM shutdown hook that asks the training loop to stop at
 * the next step boundary and waits (up to {@link #WAIT_MINUTES} minutes) until the loop has
 * saved the checkpoint of the current step and said how to resume ({@link #close()}). The hook
 * thread never touches the session: the loop's own thread saves the checkpoint, then closes the
 * session as usual. The JVM then exits with 128 + the signal (130 for SIGINT, 143 for SIGTERM).
 *
 * <p>Installed around one {@link TrainingLoop} run ({@code try (GracefulStop s =
 * GracefulStop.install()) {...}}); removed when the loop is over, so a signal during the final
 * evaluation or the export just ends the process as before.
 */
public final class GracefulStop implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(GracefulStop.class);

  /** How long the hook waits for the current step and its checkpoint. */
  static final long WAIT_MINUTES = 10;

  private static volatile String command;

  private final Thread hook;
  private final Map<String, String> logContext = Logs.context();
  private final CountDownLatch done = new CountDownLatch(1);
  private volatile boolean requested;

  private GracefulStop(boolean withHook) {
    this.hook = withHook ? new Thread(this::onShutdown, "selfie-graceful-stop") : null;
  }

  /** Registers the shutdown hook. */
  public static GracefulStop install() {
    GracefulStop s = new GracefulStop(true);
    Runtime.getRuntime().addShutdownHook(s.hook);
    return s;
  }

  /** Without a shutdown hook: stops only when {@link #request()} is called (tests). */
  public static GracefulStop manual() {
    return new GracefulStop(false);
  }

  private void onShutdown() {
    requested = true;
    Logs.adopt(logContext); // the hook thread logs into the run's train.log too
    LOG.info("stopping: finishing the current step and saving a checkpoint...");
    try {
      if (!done.await(WAIT_MINUTES, TimeUnit.MINUTES)) {
        LOG.info("stopping: no checkpoint after " + WAIT_MINUTES + " minutes; exiting without");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Records the process's command line ({@code selfie} arguments, called by the CLI's main), for
   * the resume hint and the header of {@code train.log}.
   */
  public static void setCommand(String[] args) {
    StringBuilder sb = new StringBuilder("./selfie");
    for (String a : args) {
      sb.append(' ').append(a.matches("[A-Za-z0-9_@%+=:,./-]+") ? a : "'" + a.replace("'",
          "'\\''") + "'");
    }
    command = sb.toString();
  }

  /** The command line recorded by {@link #setCommand}, or null. */
  public static String command() {
    return command;
  }

  /**
   * The command that continues the run: for {@code pretrain} and {@code finetune} the recorded
   * command line with {@code --resume} added (unless it is there); other commands that train
   * ({@code experiment}, {@code quickstart}) resume their runs when rerun as they were; a
   * description when no command was recorded (called from Java).
   */
  public static String resumeCommand() {
    String c = command;
    if (c == null) {
      return "the same command with --resume";
    }
    boolean hasFlag = c.startsWith("./selfie pretrain ") || c.startsWith("./selfie finetune ");
    return !hasFlag || (" " + c + " ").contains(" --resume ") ? c : c + " --resume";
  }

  /** Asks the loop to stop at the next step boundary. */
  public void request() {
    requested = true;
  }

  /** True once a stop was asked for. */
  public boolean requested() {
    return requested;
  }

  /**
   * The loop is over (stopped with its checkpoint saved, finished or failed): releases a waiting
   * hook and removes it (not possible, and not needed, once the JVM is shutting down).
   */
  @Override
  public void close() {
    done.countDown();
    if (hook != null) {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running: it returns now that done is counted down
      }
    }
  }
}
