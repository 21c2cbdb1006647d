package dev.selfie.cli;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.cli.terminal.ProgressBars;
import dev.selfie.training.loop.Progress;
import dev.selfie.training.loop.TerminalBars;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ProgressBarsTest {
  @Test
  void theCommandLineGivesTheLibraryItsBars() {
    assertTrue(TerminalBars.installed().isPresent(), "META-INF/services registration missing");
    assertInstanceOf(ProgressBars.class, TerminalBars.installed().orElseThrow());
  }

  @Test
  void barsRunWithoutATerminal() {
    TerminalBars bars = new ProgressBars();
    try (Progress p = bars.steps("test", 0, 3)) {
      p.update(1, 0.5, 10);
      p.evaluated(3, Map.of("validation_accuracy", 0.5));
      p.update(3, 0.25, 10);
    }
    try (TerminalBars.Counter c = bars.bytes("download", 3 << 20)) {
      c.stepTo(1 << 20);
      c.stepTo(3 << 20);
    }
    try (TerminalBars.Counter c = bars.bytes("unknown size", -1)) {
      c.stepTo(100);
    }
  }
}
