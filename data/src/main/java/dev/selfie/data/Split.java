package dev.selfie.data;

/** A dataset split. */
public enum Split {
  TRAIN,
  TEST;

  /** Lower-case name used in files, JSON and the CLI ({@code train}, {@code test}). */
  public String id() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
