package dev.selfie.cli;

import dev.selfie.cli.flags.SharedFlags;
import dev.selfie.experiments.Benchmark;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/** {@code selfie benchmark}: pretraining step throughput, FLOP/s vs CPU peak, pipeline, RSS. */
@Command(
    name = "benchmark",
    mixinStandardHelpOptions = true,
    showDefaultValues = true,
    description = {
      "Measures in one process: a CPU peak reference (large float32 matmul), the pretraining"
          + " step's images/s per preset with and without XLA on a fixed random batch, FLOPs per"
          + " step and achieved GFLOP/s, the input pipeline's images/s vs the step's consumption,"
          + " and RSS over a long run of steps. Writes --out as JSON. The Python reference of the"
          + " same step is bench/selfie_bench.py; bench/compare.py runs both alternately."
    })
public final class BenchmarkCommand implements Callable<Integer> {

  @Mixin SharedFlags.DataDir dataDirFlag;
  @Mixin SharedFlags.BatchSize batchSizeFlag;
  @Mixin SharedFlags.Threads threadsFlag;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--out", required = true, description = "Output JSON file.")
  Path out;

  @Option(names = "--presets", defaultValue = "small,paper", split = ",",
      description = "Model presets to time (32x32x3 images, 10 classes).")
  List<String> presets;

  @Option(names = "--steps", defaultValue = "20,3", split = ",",
      description = "Timed steps per preset (same order as --presets).")
  List<Long> steps;

  @Option(names = "--warmup", defaultValue = "2",
      description = "Untimed warm-up steps per configuration (graph optimisation, XLA compile).")
  int warmup;

  // Not "--xla": that flag makes the launcher set TF_XLA_FLAGS for the whole process, which would
  // JIT-compile the "off" configurations too; here XLA is switched per session (ConfigProto).
  @Option(names = "--xla-modes", defaultValue = "both",
      description = "XLA settings to time: off, on, both (per session, in this one process).")
  String xla;

  @Option(names = "--matmul-size", defaultValue = "2048",
      description = "N of the CPU peak reference matmul [N,N]x[N,N] (0 = skip).")
  int matmulSize;

  @Option(names = "--pipeline-dataset", defaultValue = "fashion-mnist",
      description = "Dataset of the pipeline and RSS measurements (none = skip both).")
  String pipelineDataset;

  @Option(names = "--pipeline-seconds", defaultValue = "10", description = "Seconds of pipeline pulling.")
  double pipelineSeconds;

  @Option(names = "--rss-steps", defaultValue = "300",
      description = "Steps of the long RSS run (first preset, real pipeline; 0 = skip).")
  int rssSteps;

  @Option(names = "--profile", defaultValue = "12",
      description = "After timing each configuration, trace one more step and report its top N op"
          + " types by time (0 = skip).")
  int profile;

  @Option(names = "--precision", defaultValue = "float32,auto", split = ",",
      description = "Precisions to time, each of float32, bfloat16, float16, auto (resolved on this"
          + " machine: bfloat16 with AVX512_BF16/AMX-BF16 and oneDNN, else float32); a comma list"
          + " times each.")
  List<String> precision;

  @Override
  public Integer call() throws Exception {
    List<Boolean> x = switch (xla.toLowerCase()) {
      case "off" -> List.of(false);
      case "on" -> List.of(true);
      case "both" -> List.of(false, true);
      default -> throw new IllegalArgumentException("--xla-modes must be off, on or both, got " + xla);
    };
    List<String> args = new ArrayList<>(List.of("selfie"));
    args.addAll(spec.commandLine().getParseResult().originalArgs());
    String dataset = "none".equalsIgnoreCase(pipelineDataset) ? null : pipelineDataset;
    Benchmark.Report r = Benchmark.run(new Benchmark.Options(presets, steps, warmup, x, batchSizeFlag.batchSize,
        matmulSize, dataset, dataDirFlag.dataDir, pipelineSeconds, rssSteps, threadsFlag.threads, profile,
        String.join(" ", args), precision));
    Benchmark.write(out, r);
    System.out.println("wrote " + out.toAbsolutePath());
    return 0;
  }
}
