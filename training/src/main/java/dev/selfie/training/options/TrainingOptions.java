package dev.selfie.training.options;

import java.nio.file.Path;
import java.util.Objects;

/**
 * The options every training job has (the jobs' {@code Options} records implement it): what the
 * shared run skeleton reads to open, train and export a run.
 */
public interface TrainingOptions {
  /** The run directory. */
  Path out();

  /** The images. */
  DataOptions data();

  /** Steps, optimizer and learning-rate schedule. */
  ScheduleOptions schedule();

  /** Checkpointing, logging and resume. */
  CheckpointOptions checkpoints();

  /** Seed, threads, XLA and precision. */
  RuntimeOptions runtime();

  /** Export the run as a SavedModel at its end. */
  boolean export();

  /** Checks that a job's options have a run directory and every shared group (none null). */
  static void requireShared(Path out, DataOptions data, ScheduleOptions schedule,
      CheckpointOptions checkpoints, RuntimeOptions runtime) {
    Objects.requireNonNull(out, "out: the run directory is required");
    Objects.requireNonNull(data, "data");
    Objects.requireNonNull(schedule, "schedule");
    Objects.requireNonNull(checkpoints, "checkpoints");
    Objects.requireNonNull(runtime, "runtime");
  }
}
