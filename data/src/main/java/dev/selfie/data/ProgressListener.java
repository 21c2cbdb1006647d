package dev.selfie.data;

/** Progress of a long download/unpack. Called from the thread doing the work. */
@FunctionalInterface
public interface ProgressListener {
  /**
   * @param task what is being done (e.g. the file being downloaded)
   * @param done units done so far (bytes)
   * @param total total units, or -1 when unknown
   */
  void progress(String task, long done, long total);

  /** A one-line message between tasks, e.g. that a download falls back to another source. */
  default void note(String message) {}

  /** Ignores progress. */
  ProgressListener NONE = (task, done, total) -> {};
}
