package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The oneDNN switch works: Maven's Surefire sets TF_ENABLE_ONEDNN_OPTS=1 (as the launcher and the
 * CLI's relaunch do), and a traced convolution then runs as a oneDNN kernel.
 */
class OnednnTest {
  @Test
  void requestedOnednnKernelsAreUsed() {
    assertTrue(SessionConfigs.onednnRequested(),
        Relauncher.ONEDNN_ENV + " is not 1 in the test JVM (Surefire environmentVariables)");
    assertEquals(true, SessionConfigs.onednnActive(), "the convolution ran without oneDNN");
  }
}
