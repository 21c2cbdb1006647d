package dev.selfie.training;

import dev.selfie.training.run.RunDir;
import dev.selfie.training.run.RunLock;
import java.nio.file.Path;

/**
 * A main for RunLockTest's child JVM: locks the run directory {@code args[0]}, prints "locked",
 * and holds the lock until it is killed.
 */
public final class RunLockHolder {
  public static void main(String[] args) throws InterruptedException {
    RunLock lock = RunLock.acquire(new RunDir(Path.of(args[0])));
    System.out.println("locked " + lock.file());
    System.out.flush();
    Thread.sleep(Long.MAX_VALUE);
  }
}
