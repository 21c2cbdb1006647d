package dev.selfie.training.options;

/**
 * How a run saves its state and reports progress, and whether it continues an earlier run.
 *
 * @param resume {@code --resume}: continue the run in the output directory from its newest
 *     checkpoint (its config.json decides the model and the schedule)
 * @param checkpointEvery {@code --checkpoint-every}: steps between checkpoints (one is always
 *     written at the last step)
 * @param keep {@code --keep}: checkpoints kept
 * @param logEvery {@code --log-every}: steps between log lines and metrics.jsonl lines
 * @param summaryEvery {@code --summary-every}: steps between TensorBoard summaries
 */
public record CheckpointOptions(
    boolean resume, long checkpointEvery, int keep, int logEvery, int summaryEvery) {

  /** The defaults of {@code selfie pretrain}: a new run, a checkpoint every 500 steps, 3 kept. */
  public static CheckpointOptions defaults() {
    return new CheckpointOptions(false, 500, 3, 50, 20);
  }

  public CheckpointOptions withResume(boolean r) {
    return new CheckpointOptions(r, checkpointEvery, keep, logEvery, summaryEvery);
  }

  public CheckpointOptions withCheckpointEvery(long n) {
    return new CheckpointOptions(resume, n, keep, logEvery, summaryEvery);
  }

  public CheckpointOptions withKeep(int n) {
    return new CheckpointOptions(resume, checkpointEvery, n, logEvery, summaryEvery);
  }

  public CheckpointOptions withLogEvery(int n) {
    return new CheckpointOptions(resume, checkpointEvery, keep, n, summaryEvery);
  }

  public CheckpointOptions withSummaryEvery(int n) {
    return new CheckpointOptions(resume, checkpointEvery, keep, logEvery, n);
  }
}
