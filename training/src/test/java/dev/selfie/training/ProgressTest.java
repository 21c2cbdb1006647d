package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.loop.Progress;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ProgressTest {
  @Test
  void interactiveOnlyOnAConsoleOutsideCi() {
    assertTrue(Progress.interactive(true, null));
    assertTrue(Progress.interactive(true, "false"));
    assertFalse(Progress.interactive(true, "true"));
    assertFalse(Progress.interactive(true, "1"));
    assertFalse(Progress.interactive(false, null));
  }

  @Test
  void logLinesEveryNStepsAndAtTheEnd() {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (Progress p = new Progress.LogLines("finetune", 0, 7, 3,
        new PrintStream(buf, true, StandardCharsets.UTF_8))) {
      for (int s = 1; s <= 7; s++) {
        p.update(s, 1.0 / s, 250);
      }
    }
    String[] lines = buf.toString(StandardCharsets.UTF_8).split("\n");
    assertEquals(3, lines.length);
    assertTrue(lines[0].startsWith("finetune step 3/7 (42.9%) loss 0.3333 250 img/s eta "),
        lines[0]);
    assertTrue(lines[2].startsWith("finetune step 7/7 (100.0%) loss 0.1429"), lines[2]);
  }

  @Test
  void barRunsWithoutATerminal() {
    try (Progress p = new Progress.Bar("test", 0, 3)) {
      p.update(1, 0.5, 10);
      p.update(3, 0.25, 10);
    }
  }

  @Test
  void durationFormat() {
    assertEquals("1:01:01", Progress.LogLines.formatDuration(3661));
  }
}
