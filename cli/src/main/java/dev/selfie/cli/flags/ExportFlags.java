package dev.selfie.cli.flags;

import picocli.CommandLine.Option;

/**
 * {@code --no-export}, the same flag (name, help) in the commands that end with a SavedModel
 * export by default: pretrain and finetune.
 */
public final class ExportFlags {
  @Option(names = "--no-export", negatable = false,
      description = "Do not export the SavedModel at the end (default: the newest checkpoint goes"
          + " to OUT/savedmodel/1/, as `selfie export --run OUT` does).")
  public boolean noExport;

  /** True unless {@code --no-export}. */
  public boolean export() {
    return !noExport;
  }
}
