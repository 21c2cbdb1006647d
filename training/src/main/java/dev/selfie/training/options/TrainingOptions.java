package dev.selfie.training.options;

import java.nio.file.Path;

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
}
