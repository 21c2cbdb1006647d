package dev.selfie.cli;

import dev.selfie.cli.flags.EpochsFlag;
import dev.selfie.cli.flags.ExportFlags;
import dev.selfie.cli.flags.SharedFlags;
import dev.selfie.cli.flags.VariantFlags;
import dev.selfie.cli.flags.WeightDecayFlags;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.RuntimeOptions;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.parallel.Cluster;
import dev.selfie.training.parallel.DataParallel;
import dev.selfie.training.parallel.Towers;
import dev.selfie.training.runtime.SessionConfigs;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code selfie pretrain}: Selfie pretraining on a dataset's training split, labels unused. */
@Command(
    name = "pretrain",
    mixinStandardHelpOptions = true,
    showDefaultValues = true,
    description = {
      "Selfie pretraining: masked-patch selection with a contrastive loss, on the training split"
          + " without labels. Writes config.json, checkpoints/, tensorboard/, metrics.jsonl (a"
          + " line per logged step), train.log (the console output), metrics.json and at the end"
          + " the SavedModel savedmodel/1/ (unless --no-export) into --out. Ctrl-C or SIGTERM"
          + " saves a checkpoint of the current step and prints the --resume command."
    })
public final class PretrainCommand implements Callable<Integer> {

  @Mixin SharedFlags.BatchSize batchSizeFlag;
  @Mixin SharedFlags.Threads threadsFlag;
  @Mixin SharedFlags.Precision precisionFlag;
  @Mixin SharedFlags.Checkpointing checkpointing;

  @Option(names = "--dataset", defaultValue = "fashion-mnist",
      description = "Dataset: cifar10, fashion-mnist, imagenet32, imagenet (TFRecords), folder.")
  String dataset;

  @Option(names = "--data-dir", description = "Data home (else $SELFIE_DATA, else ~/.cache/selfie);"
      + " for --dataset folder: the folder with train/<class>/* and test/<class>/*.")
  Path dataDir;

  @Option(names = "--unlabeled-dir", description = "With --dataset folder: a folder of unlabeled"
      + " images (any nesting, JPEG/PNG) to pretrain on, besides --data-dir's train/ images if given.")
  Path unlabeledDir;

  @Option(names = "--preset", defaultValue = "small",
      description = ModelCommand.PRESET_HELP)
  String preset;

  @Option(names = "--steps", defaultValue = "2000", description = "Training steps. See also --epochs.")
  long steps;

  @Mixin EpochsFlag epochsFlag;

  @Option(names = "--out", required = true, description = "Run directory.")
  Path out;

  @Option(names = "--xla", description = "Compile with XLA (JIT).")
  boolean xla;

  @Option(names = "--seed", defaultValue = "1", description = "Run seed (data order, masking, init).")
  long seed;

  @Option(names = "--optimizer", defaultValue = "sgd", description = "sgd (Nesterov) or adam.")
  String optimizer;

  @Option(names = "--lr", defaultValue = "0.1", description = "Base learning rate.")
  double lr;

  @Option(names = "--warmup", defaultValue = "200", description = "Linear warmup steps.")
  long warmup;

  @Mixin WeightDecayFlags weightDecay;

  @Mixin ExportFlags export;

  @Option(names = "--num-masked", defaultValue = "0",
      description = "Masked patches per image (0 = the preset's).")
  int numMasked;

  @picocli.CommandLine.Mixin
  VariantFlags variants;

  @Option(names = "--no-augment", negatable = false,
      description = "Turn off random crop + flip.")
  boolean noAugment;

  @Option(names = "--keep", defaultValue = "3", description = "Checkpoints to keep.")
  int keep;

  @Option(names = "--replicas", defaultValue = "1", description = "Data-parallel towers on this"
      + " machine: one per GPU, or virtual CPU devices without GPUs; --batch-size is split"
      + " evenly and the gradients averaged.")
  int replicas;

  @Option(names = "--tower-variables", description = "Where the variables of --replicas towers"
      + " live: replicated (default: a copy on each GPU, gradients all-reduced with NCCL, or on"
      + " the CPU without its kernel) or host (one copy on the CPU, weights sent to every GPU"
      + " each step). A --cluster always keeps them on the chief.")
  String towerVariables;

  @Option(names = "--cluster", description = "Distributed training on TensorFlow's runtime:"
      + " host:port of every task, task 0 (the chief) first, e.g. host1:2222,host2:2222. Start"
      + " `selfie worker` with the same --cluster on the other tasks; one tower per task.")
  String cluster;

  @Option(names = "--task", defaultValue = "0", description = "This process's task in --cluster:"
      + " 0 trains (the chief); other tasks only serve, like `selfie worker`.")
  int task;

  @Option(names = "--cluster-timeout", defaultValue = "120",
      description = "Seconds the chief waits for the other --cluster tasks to accept connections.")
  long clusterTimeout;

  @Option(names = "--clip-norm", defaultValue = "0", paramLabel = "NORM", description = "Scale"
      + " the gradients down to this global L2 norm when they exceed it (0 = no clipping). Long"
      + " runs at lr 0.1 can diverge late without it.")
  double clipNorm;

  DataParallel.Options parallel() {
    Towers.Layout layout = null;
    if (towerVariables != null) {
      layout = switch (towerVariables) {
        case "replicated" -> Towers.Layout.REPLICATED;
        case "host" -> Towers.Layout.ON_HOST;
        default -> throw new IllegalArgumentException("--tower-variables must be replicated or"
            + " host, got " + towerVariables);
      };
    }
    return new DataParallel.Options(replicas, cluster == null ? null : Cluster.parse(cluster), task,
        Duration.ofSeconds(clusterTimeout), layout);
  }

  Pretrain.Options options() {
    return Pretrain.Options.defaults(out)
        .withPreset(preset)
        .withData(DataOptions.of(dataset, dataDir).withUnlabeledDir(unlabeledDir)
            .withAugment(!noAugment).withBatchSize(batchSizeFlag.batchSize))
        .withSchedule(epochsFlag.applyTo(weightDecay.applyTo(ScheduleOptions.defaults()
            .withSteps(steps).withOptimizer(optimizer).withLr(lr).withWarmup(warmup)
            .withClipNorm(clipNorm))))
        .withCheckpoints(checkpointing.options(keep))
        .withRuntime(RuntimeOptions.defaults().withSeed(seed).withThreads(threadsFlag.threads)
            .withXla(xla).withPrecision(precisionFlag.precision))
        .withNumMasked(numMasked)
        .withVariants(variants.variants())
        .withExport(export.export());
  }

  @Override
  public Integer call() throws Exception {
    DataParallel.Options parallel = parallel();
    if (parallel.cluster() != null && parallel.task() != 0) {
      DataParallel.serve(parallel.cluster(), parallel.task(),
          new SessionConfigs.Options(threadsFlag.threads, 0, false, false));
      return 0;
    }
    Pretrain.run(options(), parallel);
    return 0;
  }
}
