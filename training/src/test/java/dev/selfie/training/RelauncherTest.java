package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.runtime.Relauncher;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RelauncherTest {
  @Test
  void addsOnednnWhenUnsetAndXlaFlagsOnlyWithXla() {
    String dnn = Relauncher.ONEDNN_ENV;
    String pool = Relauncher.THREADPOOL_ENV;
    assertEquals(Map.of(dnn, "1", pool, "1", Relauncher.ENV, Relauncher.XLA_FLAGS),
        Relauncher.missingEnv(new String[] {"pretrain", "--xla"}, Map.of(), true));
    assertEquals(Map.of(dnn, "1", pool, "1"),
        Relauncher.missingEnv(new String[] {"pretrain"}, Map.of(), true));
    // A value the user set (also 0 = off) is respected.
    assertEquals(Map.of(), Relauncher.missingEnv(new String[] {"pretrain"},
        Map.of(dnn, "0", pool, "0"), true));
    assertEquals(Map.of(pool, "1"), Relauncher.missingEnv(new String[] {"pretrain"},
        Map.of(dnn, "0"), true));
    assertEquals(Map.of(), Relauncher.missingEnv(new String[] {"--xla"},
        Map.of(Relauncher.ENV, Relauncher.XLA_FLAGS, dnn, "1", pool, "1"), true));
    assertEquals(Map.of(Relauncher.ENV, Relauncher.XLA_FLAGS),
        Relauncher.missingEnv(new String[] {"--xla"}, Map.of(dnn, "1", pool, "1"), true));
    // The child never relaunches again.
    assertEquals(Map.of(), Relauncher.missingEnv(new String[] {"--xla"},
        Map.of(Relauncher.MARKER, "1"), false));
  }

  /** Without an NVIDIA driver a relaunch adds the CPU op lists too, unless set (even empty). */
  @Test
  void addsTheCpuMixedPrecisionListsWithoutAGpuDriver() {
    Map<String, String> all = new java.util.HashMap<>(Relauncher.CPU_MIXED_PRECISION_LISTS);
    all.put(Relauncher.ONEDNN_ENV, "1");
    all.put(Relauncher.THREADPOOL_ENV, "1");
    assertEquals(all, Relauncher.missingEnv(new String[] {"pretrain"}, Map.of(), false));
    String allow = "TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_ALLOWLIST_REMOVE";
    assertEquals("Conv2DBackpropFilter", Relauncher.CPU_MIXED_PRECISION_LISTS.get(allow));
    Map<String, String> userLists = Map.of(allow, "",
        "TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_INFERLIST_REMOVE", "",
        Relauncher.ONEDNN_ENV, "1", Relauncher.THREADPOOL_ENV, "1");
    assertEquals(Map.of(), Relauncher.missingEnv(new String[] {"pretrain"}, userLists, false));
    // The lists alone never start a second JVM (a test's child, a user who set the rest).
    assertEquals(Map.of(), Relauncher.missingEnv(new String[] {"pretrain"},
        Map.of(Relauncher.ONEDNN_ENV, "1", Relauncher.THREADPOOL_ENV, "1"), false));
  }

  @Test
  void commandKeepsJvmOptionsClassPathAndArgs() {
    assertEquals(List.of("/jdk/bin/java", "-Xmx1g", "-cp", "a.jar:b", "x.Main", "--xla", "q"),
        Relauncher.command("/jdk", List.of("-Xmx1g"), "a.jar:b", "x.Main",
            new String[] {"--xla", "q"}));
  }

  @Test
  void childGetsTheFlagsAndItsExitCodeIsPropagated() throws IOException, InterruptedException {
    String javaBin = java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(javaBin, "-cp", System.getProperty("java.class.path"),
        RelaunchProbe.class.getName(), "pretrain", "--xla", "--steps", "2")
        .redirectErrorStream(true);
    pb.environment().remove(Relauncher.ENV);
    pb.environment().remove(Relauncher.MARKER);
    pb.environment().remove(Relauncher.ONEDNN_ENV);
    pb.environment().remove(Relauncher.THREADPOOL_ENV);
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(3, p.waitFor(), out);
    assertTrue(out.contains("flags=" + Relauncher.XLA_FLAGS), out);
    assertTrue(out.contains("onednn=1"), out);
    assertTrue(out.contains("pool=1"), out);
    assertTrue(out.contains("args=pretrain,--xla,--steps,2"), out);
    // Exactly one child ran the program (the parent exited with the child's code).
    assertEquals(1, out.split("flags=", -1).length - 1, out);
  }
}
