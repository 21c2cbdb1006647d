package dev.selfie.cli.flags;

import dev.selfie.training.jobs.Pretrain;
import picocli.CommandLine.Option;

/**
 * The pretraining-variant flags, shared by every command that pretrains ({@code pretrain},
 * {@code experiment}, {@code quickstart}). Without them: the paper's formulation.
 */
public final class VariantFlags {

  @Option(names = "--context-positions", negatable = false,
      description = "Add the row+column position embeddings to the visible patches entering the"
          + " attention pooling A (and to every patch in a hybrid-head finetune of this model)."
          + " Default: off (the paper).")
  public boolean contextPositions;

  @Option(names = "--query-mode", defaultValue = "add",
      description = "Query of a masked location j: add (the paper: v = u + e_row + e_col), mlp"
          + " (v = u + e_j + MLP(LN(u) + e_j), one GELU hidden layer of width d), attend (a query token"
          + " q + e_j per masked location appended to A's input; v_j = A's output there; query"
          + " tokens see only positions and the visible patches).")
  public String queryMode;

  @Option(names = "--mask-content", negatable = false,
      description = "Mask patches with content first: blank patches (pixel std ~0) are masked only"
          + " when an image has fewer than --num-masked patches with content. Default: uniform.")
  public boolean maskContent;

  @Option(names = "--temperature", defaultValue = "0",
      description = "Divide the patch-selection logits by T (0 = the preset's, 1: the paper's raw"
          + " dot product).")
  public double temperature;

  /** The parsed variants; errors name the flag. */
  public Pretrain.Variants variants() {
    return Pretrain.Variants.parse(contextPositions, queryMode, maskContent, temperature);
  }
}
