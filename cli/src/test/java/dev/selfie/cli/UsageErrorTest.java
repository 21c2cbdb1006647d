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
  void commandsReadingARunTakeRunAndStillAcceptTheOldModelName() {
    CliRun missing = CliRun.run("evaluate");
    assertEquals(2, missing.code(), missing.err());
    assertTrue(missing.err().startsWith("selfie evaluate: Missing required option: '--run=DIR'"),
        missing.err());
    CliRun both = CliRun.run("knn", "--run", "a", "--model", "b");
    assertEquals(2, both.code(), both.err());
    assertTrue(both.err().startsWith("selfie knn: give the run once"), both.err());
    // The old name reaches the job (which then names the missing directory) with a note.
    CliRun old = CliRun.run("evaluate", "--model", "/no/such/run");
    assertNotEquals(0, old.code());
    assertTrue(old.err().contains("selfie evaluate: --model is now --run"), old.err());
    assertTrue(old.err().contains("/no/such/run"), old.err());
    CliRun help = CliRun.run("linear-probe", "--help");
    assertTrue(help.out().contains("--run=DIR"), help.out());
    assertFalse(help.out().contains("--model"), help.out());
  }

  @Test
  void badInputOfANestedCommandNamesTheFullCommand() {
    CliRun r = CliRun.run("data", "fetch", "nosuch");
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().startsWith("selfie data fetch: error: "), r.err());
  }
}
