package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RelauncherTest {
  @Test
  void needsRelaunchOnlyWithXlaAndNoFlags() {
    assertTrue(Relauncher.needsRelaunch(new String[] {"pretrain", "--xla"}, Map.of()));
    assertFalse(Relauncher.needsRelaunch(new String[] {"pretrain"}, Map.of()));
    assertFalse(Relauncher.needsRelaunch(new String[] {"--xla"},
        Map.of(Relauncher.ENV, Relauncher.XLA_FLAGS)));
    assertFalse(Relauncher.needsRelaunch(new String[] {"--xla"}, Map.of(Relauncher.MARKER, "1")));
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
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(3, p.waitFor(), out);
    assertTrue(out.contains("flags=" + Relauncher.XLA_FLAGS), out);
    assertTrue(out.contains("args=pretrain,--xla,--steps,2"), out);
    // Exactly one child ran the program (the parent exited with the child's code).
    assertEquals(1, out.split("flags=", -1).length - 1, out);
  }
}
