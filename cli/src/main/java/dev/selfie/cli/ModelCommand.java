package dev.selfie.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.selfie.graph.FlopCounter;
import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.ModelConfigBuilder;
import dev.selfie.training.run.ModelFiles;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/**
 * {@code selfie model}: describe model presets. {@code selfie model summary --preset paper}
 * prints the parameter count of each component and the forward FLOPs per image, computed
 * analytically from the {@link ModelConfig} (no graph is built).
 */
@Command(
    name = "model",
    mixinStandardHelpOptions = true,
    description = "Model presets: parameter counts and FLOPs.",
    subcommands = {ModelCommand.Summary.class})
public final class ModelCommand implements Runnable {
  /** The help of every {@code --preset}: a preset name or a model file ({@code ModelFiles}). */
  static final String PRESET_HELP = "Model: a preset (paper, paper224, small, tiny) or a .json"
      + " model file, e.g. {\"preset\": \"small\", \"depth\": 26} for small with ResNet-26's"
      + " blocks (fields of the \"model\" object of a run's config.json).";

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** Preset names, for help and completion. */
  static final class Presets implements Iterable<String> {
    @Override
    public java.util.Iterator<String> iterator() {
      return ModelConfig.PRESETS.iterator();
    }
  }

  /**
   * The summary of a preset, optionally for a dataset's channels and classes.
   *
   * @param channels image channels, or null for the preset's (3)
   * @param classes classes, or null for the preset's
   */
  public static FlopCounter.Summary summary(String preset, Integer channels, Integer classes) {
    ModelConfigBuilder c = ModelFiles.resolve(preset).toBuilder();
    if (channels != null) {
      c.channels(channels);
    }
    if (classes != null) {
      c.numClasses(classes);
    }
    return FlopCounter.summarize(c.build());
  }

  /** A readable table of a summary. */
  public static String table(String preset, FlopCounter.Summary s) {
    ModelConfig c = s.config();
    StringBuilder b = new StringBuilder();
    b.append(String.format(Locale.ROOT,
        "preset %s: %dx%dx%d images, %dx%d patches (n=%d, m=%d masked), stem %s %d,%n"
            + "  stages %s x blocks %s, d=%d, L=%d, heads=%d, ffn=%d, classes=%d%n%n",
        preset, c.imageSize(), c.imageSize(), c.channels(), c.patchSize(), c.patchSize(),
        c.numPatches(), c.numMasked(), c.stem(), c.stemWidth(), c.stageWidths(),
        c.stageBlocks(), c.d(), c.layers(), c.heads(), c.ffn(), c.numClasses()));
    b.append(String.format(Locale.ROOT, "%-20s %14s %12s  %s%n", "component", "parameters",
        "BN state", "contents"));
    for (FlopCounter.Component comp : s.components()) {
      b.append(String.format(Locale.ROOT, "%-20s %14s %12s  %s%n", comp.name(),
          grouped(comp.params()), grouped(comp.stateParams()), comp.description()));
    }
    FlopCounter.Flops f = s.flopsPerImage();
    b.append(String.format(Locale.ROOT, "%nforward FLOPs per image (%s)%n", f.convention()));
    row(b, "pretrain step", f.pretrain());
    row(b, "  patch network P", f.patchNetwork());
    row(b, "  attention pool A", f.attentionPool());
    row(b, "  selfie loss", f.selfieLoss());
    row(b, "finetune RESNET", f.finetuneResnet());
    row(b, "finetune HYBRID", f.finetuneHybrid());
    row(b, "image embedding", f.imageEmbedding());
    return b.toString();
  }

  private static void row(StringBuilder b, String name, long flops) {
    b.append(String.format(Locale.ROOT, "%-20s %14s  (%s)%n", name, grouped(flops), human(flops)));
  }

  private static String grouped(long v) {
    return String.format(Locale.ROOT, "%,d", v);
  }

  private static String human(long v) {
    if (v >= 1_000_000_000L) {
      return String.format(Locale.ROOT, "%.2f G", v / 1e9);
    }
    if (v >= 1_000_000L) {
      return String.format(Locale.ROOT, "%.2f M", v / 1e6);
    }
    return String.format(Locale.ROOT, "%.2f K", v / 1e3);
  }

  /** {@code selfie model summary}. */
  @Command(
      name = "summary",
      mixinStandardHelpOptions = true,
      description = "Parameter counts per component and forward FLOPs per image of a preset.")
  static final class Summary implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--preset", required = true, completionCandidates = Presets.class,
        description = PRESET_HELP)
    String preset;

    @Option(names = "--channels", description = "Image channels (default: the preset's, 3).")
    Integer channels;

    @Option(names = "--classes", description = "Number of classes (default: the preset's).")
    Integer classes;

    @Option(names = "--json", description = "Print JSON instead of a table.")
    boolean json;

    @Override
    public Integer call() throws IOException {
      FlopCounter.Summary s = summary(preset, channels, classes);
      PrintWriter out = spec.commandLine().getOut();
      out.print(json ? JSON.writeValueAsString(s) + System.lineSeparator() : table(preset, s));
      out.flush();
      return 0;
    }
  }
}
