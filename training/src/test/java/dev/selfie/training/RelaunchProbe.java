package dev.selfie.training;

import dev.selfie.training.runtime.Relauncher;

/** A main for RelauncherTest's child JVMs: prints what it got and exits with code 3. */
public final class RelaunchProbe {
  public static void main(String[] args) {
    Relauncher.ensureEnv(args, RelaunchProbe.class.getName());
    System.out.println("flags=" + System.getenv(Relauncher.ENV));
    System.out.println("onednn=" + System.getenv(Relauncher.ONEDNN_ENV));
    System.out.println("pool=" + System.getenv(Relauncher.THREADPOOL_ENV));
    System.out.println("args=" + String.join(",", args));
    System.exit(3);
  }
}
