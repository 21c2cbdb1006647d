package dev.selfie.cli.flags;

import dev.selfie.training.options.CheckpointOptions;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The flags several commands share word for word (name, default, help), each defined once as a
 * picocli mixin. Flags whose default or help differs between commands (e.g. {@code --dataset},
 * {@code --steps}, {@code --seed}, {@code --keep}) stay in their command.
 */
public final class SharedFlags {

  private SharedFlags() {}

  /** {@code --data-dir}: the data home. */
  public static final class DataDir {
    @Option(names = "--data-dir", description = "Data home (else $SELFIE_DATA, else ~/.cache/selfie).")
    public Path dataDir;
  }

  /** {@code --batch-size} of a training step. */
  public static final class BatchSize {
    @Option(names = "--batch-size", defaultValue = "64", description = "Images per step.")
    public int batchSize;
  }

  /** {@code --threads}: TensorFlow's intra-op threads. */
  public static final class Threads {
    @Option(names = "--threads", defaultValue = "0", description = "Intra-op threads (0 = all cores).")
    public int threads;
  }

  /** {@code --precision} of the training step. */
  public static final class Precision {
    @Option(names = "--precision", defaultValue = "auto", description = "Arithmetic of the"
        + " training step: float32, bfloat16 (CPUs with AVX512_BF16/AMX-BF16, oneDNN), float16"
        + " (GPU; emulated and slow on a CPU), auto (bfloat16 where the CPU has it, float16 on a"
        + " GPU, else float32). Weights, checkpoints and SavedModels stay float32.")
    public String precision;
  }

  /**
   * Checkpointing and logging of a training run: {@code --resume}, {@code --checkpoint-every},
   * {@code --log-every}, {@code --summary-every} ({@code --keep}'s default differs per command).
   */
  public static final class Checkpointing {
    @Option(names = "--resume", description = "Continue the run in --out from its newest checkpoint.")
    public boolean resume;

    @Option(names = "--checkpoint-every", defaultValue = "500", description = "Steps between checkpoints.")
    public long checkpointEvery;

    @Option(names = "--log-every", defaultValue = "50", description = "Steps between log lines (no TTY) and metrics.jsonl lines.")
    public int logEvery;

    @Option(names = "--summary-every", defaultValue = "20", description = "Steps between TensorBoard summaries.")
    public int summaryEvery;

    /** These flags with the command's {@code --keep}. */
    public CheckpointOptions options(int keep) {
      return new CheckpointOptions(resume, checkpointEvery, keep, logEvery, summaryEvery);
    }
  }
}
