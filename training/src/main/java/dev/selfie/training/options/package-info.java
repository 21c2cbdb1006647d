/**
 * The options a training job shares with the others, one small record per concern: where the
 * images come from ({@link dev.selfie.training.options.DataOptions}), how long and how fast it
 * trains ({@link dev.selfie.training.options.ScheduleOptions}), how it checkpoints and logs
 * ({@link dev.selfie.training.options.CheckpointOptions}) and what it runs on ({@link
 * dev.selfie.training.options.RuntimeOptions}). Each has {@code defaults()} (the command line's)
 * and withers; the jobs' own options hold them beside their job-specific fields.
 */
package dev.selfie.training.options;
