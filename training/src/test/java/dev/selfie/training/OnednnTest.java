package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.runtime.Relauncher;
import dev.selfie.training.runtime.SessionConfigs;
import org.junit.jupiter.api.Test;

/**
 * The oneDNN switch works: Maven's Surefire sets TF_ENABLE_ONEDNN_OPTS=1 (as the launcher and the
 * CLI's relaunch do), and a traced convolution then runs as a oneDNN kernel. The probe is pinned
 * to the CPU, so on a GPU machine its convolution does not land on GPU:0 (where no oneDNN kernel
 * can run and the test would fail).
 */
class OnednnTest {
  @Test
  void requestedOnednnKernelsAreUsed() {
    assertTrue(SessionConfigs.onednnRequested(),
        Relauncher.ONEDNN_ENV + " is not 1 in the test JVM (Surefire environmentVariables)");
    assertEquals(true, SessionConfigs.onednnActive(), "the convolution ran without oneDNN");
  }

  @Test
  void probeRunsOnTheCpuDevice() {
    SessionConfigs.OnednnProbe probe = SessionConfigs.onednnProbe();
    assertFalse(probe.convDevices().isEmpty(), "no device ran the convolution");
    assertTrue(probe.convDevices().stream().allMatch(d -> d.endsWith("/device:CPU:0")),
        probe.convDevices().toString());
  }
}
