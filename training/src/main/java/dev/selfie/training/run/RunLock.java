package dev.selfie.training.run;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;

/**
 * The lock of a run directory ({@value #FILE}): a training process holds an OS file lock on it
 * ({@link FileChannel#tryLock}) from before it writes anything until it ends, so a second process
 * started on the same {@code --out} (a second terminal, a cron job) is refused instead of
 * interleaving checkpoints with the first. The lock dies with its process, so a crashed run
 * leaves a stale file that the next run simply locks again; the file is never deleted (deleting
 * it would let two processes lock two different files of the same name). It holds the holder's
 * pid and start time, which the refusal message quotes.
 */
public final class RunLock implements AutoCloseable {

  /** The lock file's name in the run directory. */
  public static final String FILE = ".lock";

  private final Path file;
  private final FileChannel channel;
  private final FileLock lock;

  private RunLock(Path file, FileChannel channel, FileLock lock) {
    this.file = file;
    this.channel = channel;
    this.lock = lock;
  }

  /**
   * Locks {@code dir} (which must exist) for this process.
   *
   * @throws IllegalStateException naming the directory and the holder when another process, or
   *     another run in this process, holds it
   */
  public static RunLock acquire(RunDir dir) {
    Path file = dir.root().resolve(FILE);
    FileChannel ch = null;
    try {
      ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
          StandardOpenOption.WRITE);
      FileLock lock;
      try {
        lock = ch.tryLock();
      } catch (OverlappingFileLockException e) {
        lock = null; // this JVM holds it already (another run on the same directory)
      }
      if (lock == null) {
        String holder = holder(file);
        ch.close();
        throw new IllegalStateException("run directory " + dir.root() + " is in use by another"
            + " run (" + (holder.isEmpty() ? "" : holder + "; ") + "lock file " + file
            + "): wait for it to end, or choose another --out");
      }
      ch.truncate(0);
      String name = ManagementFactory.getRuntimeMXBean().getName(); // pid@host
      String host = name.contains("@") ? " on " + name.substring(name.indexOf('@') + 1) : "";
      ch.write(ByteBuffer.wrap(("pid " + ProcessHandle.current().pid() + host + ", started "
          + Instant.now() + "\n").getBytes(StandardCharsets.UTF_8)), 0);
      ch.force(false);
      return new RunLock(file, ch, lock);
    } catch (IOException e) {
      closeQuietly(ch);
      throw new UncheckedIOException("cannot lock run directory " + dir.root() + " (" + file
          + "): " + e.getMessage(), e);
    }
  }

  /** What the holder wrote into the lock file ("pid N, started ..."), or "" if unreadable. */
  private static String holder(Path file) {
    try {
      return Files.readString(file, StandardCharsets.UTF_8).strip();
    } catch (IOException | RuntimeException e) {
      return "";
    }
  }

  private static void closeQuietly(FileChannel ch) {
    if (ch != null) {
      try {
        ch.close();
      } catch (IOException ignored) {
        // the lock goes with the channel or the process anyway
      }
    }
  }

  /** The lock file. */
  public Path file() {
    return file;
  }

  /** Releases the lock (the file stays). */
  @Override
  public void close() {
    try {
      if (lock.isValid()) {
        lock.release();
      }
    } catch (IOException ignored) {
      // closing the channel releases it too
    }
    closeQuietly(channel);
  }
}
