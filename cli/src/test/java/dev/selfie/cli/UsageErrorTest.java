package dev.selfie.cli;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** Usage errors are one line naming the full command plus a hint, not the whole help page. */
class UsageErrorTest {


  @Test
  void unknownFlagOfANestedCommandIsOneLineWithTheFullName() {
    CliRun r = CliRun.run("data", "fetch", "--no-such-flag", "fashion-mnist");
    assertEquals(2, r.code(), r.err());
    String[] lines = r.err().strip().split("\n");
    assertEquals(2, lines.length, r.err());
    assertTrue(lines[0].startsWith("selfie data fetch: "), lines[0]);
    assertTrue(lines[0].contains("--no-such-flag"), lines[0]);
    assertEquals("Try 'selfie data fetch --help' for the flags.", lines[1]);
    assertFalse(r.err().contains("Usage:"), r.err());
  }

  @Test
  void missingRequiredOptionNamesTheCommand() {
    CliRun r = CliRun.run("pretrain", "--steps", "5");
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().startsWith("selfie pretrain: Missing required option"), r.err());
    assertFalse(r.err().contains("Usage:"), r.err());
  }

  @Test
  void badInputOfANestedCommandNamesTheFullCommand() {
    CliRun r = CliRun.run("data", "fetch", "nosuch");
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().startsWith("selfie data fetch: error: "), r.err());
  }
}
