package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.loop.Progress;
import dev.selfie.training.loop.TerminalBars;
import java.util.ArrayList;
import java.util.List;
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
    List<String> out = new ArrayList<>();
    try (Progress p = new Progress.LogLines("finetune", 0, 7, 3, out::add)) {
      for (int s = 1; s <= 7; s++) {
        p.update(s, 1.0 / s, 250);
      }
    }
    String[] lines = out.toArray(new String[0]);
    assertEquals(3, lines.length);
    assertTrue(lines[0].startsWith("finetune step 3/7 (42.9%) loss 0.3333 250 img/s eta "),
        lines[0]);
    assertTrue(lines[2].startsWith("finetune step 7/7 (100.0%) loss 0.1429"), lines[2]);
  }

  @Test
  void theLibraryAloneDrawsNoBar() {
    // Bars come from the application (the cli module's ProgressBars); the library logs lines.
    assertTrue(TerminalBars.installed().isEmpty());
    assertFalse(Progress.showsBar());
  }

  @Test
  void durationFormat() {
    assertEquals("1:01:01", Progress.LogLines.formatDuration(3661));
  }
}
