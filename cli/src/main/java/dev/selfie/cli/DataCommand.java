package dev.selfie.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.selfie.data.DatasetInspection;
import dev.selfie.data.DatasetProvider;
import dev.selfie.data.Datasets;
import dev.selfie.data.ImageSource;
import dev.selfie.data.OpenOptions;
import dev.selfie.data.Split;
import dev.selfie.data.pipeline.PipelineBench;
import dev.selfie.data.pipeline.PipelineOptions;
import dev.selfie.training.loop.FetchProgress;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine;

/**
 * {@code selfie data}: inspect, benchmark and fetch datasets. Each subcommand parses its flags and
 * calls a plain library method returning a result record ({@link DatasetInspection}, {@link
 * PipelineBench}, {@link DatasetProvider#fetch}).
 */
@Command(
    name = "data",
    mixinStandardHelpOptions = true,
    description = "Datasets: inspect counts, benchmark the input pipeline, fetch the official files.",
    subcommands = {DataCommand.Inspect.class, DataCommand.Bench.class, DataCommand.Fetch.class})
public final class DataCommand implements Runnable {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** Registered dataset names, for help and completion. */
  static final class Names implements Iterable<String> {
    @Override
    public java.util.Iterator<String> iterator() {
      return Datasets.names().iterator();
    }
  }

  // ---------------------------------------------------------------- inspect

  @Command(
      name = "inspect",
      mixinStandardHelpOptions = true,
      showDefaultValues = true,
      description = "Validate a dataset and print counts per split and class and the image shapes.")
  static final class Inspect implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;
    @CommandLine.Mixin DatasetOptionsMixin d;

    @Option(names = "--json", description = "Print JSON instead of a table.")
    boolean json;

    @Override
    public Integer call() throws IOException {
      DatasetInspection.Result r = DatasetInspection.inspect(d.dataset, d.dataDir, d.openOptions());
      PrintWriter out = spec.commandLine().getOut();
      if (json) {
        out.println(JSON.writeValueAsString(r));
      } else {
        out.printf("dataset   %s%nlocation  %s%n", r.dataset(), r.location());
        out.printf("native    %dx%dx%d%ninput     %dx%dx%d%n",
            r.nativeShape()[0], r.nativeShape()[1], r.nativeShape()[2],
            r.inputShape()[0], r.inputShape()[1], r.inputShape()[2]);
        out.printf("%-4s %-14s", "", "class");
        for (String split : r.counts().keySet()) {
          out.printf(" %8s", split);
        }
        out.println();
        for (int k = 0; k < r.classNames().size(); k++) {
          out.printf("%-4d %-14s", k, r.classNames().get(k));
          for (int[] c : r.countsPerClass().values()) {
            out.printf(" %8d", c[k]);
          }
          out.println();
        }
        if (r.unlabeled().values().stream().anyMatch(u -> u > 0)) {
          out.printf("%-4s %-14s", "", "unlabeled");
          for (int c : r.unlabeled().values()) {
            out.printf(" %8d", c);
          }
          out.println();
        }
        out.printf("%-4s %-14s", "", "total");
        for (int c : r.counts().values()) {
          out.printf(" %8d", c);
        }
        out.println();
        for (String w : r.warnings()) {
          out.println("warning: " + w);
        }
      }
      out.flush();
      return 0;
    }
  }

  /** Picocli mixin form of {@link DatasetOptions}. */
  static final class DatasetOptionsMixin {
    @Option(
        names = "--dataset",
        required = true,
        description = "Dataset: ${COMPLETION-CANDIDATES}.",
        completionCandidates = Names.class)
    String dataset;

    @Option(
        names = "--data-dir",
        description = "Data home (default: $SELFIE_DATA, else ~/.cache/selfie; Fashion-MNIST is first looked up in "
            + "/usr/share/datasets/fashion-mnist). For --dataset folder: DIR with train/<class>/* and test/<class>/*.")
    Path dataDir;

    @Option(
        names = "--image-size",
        defaultValue = "0",
        description = "imagenet and folder: model input side the images are resized to (0 = the dataset's default:"
            + " imagenet 224, folder 32). Others have a fixed size.")
    int imageSize;

    @Option(names = "--unlabeled-dir", description = "folder: unlabeled images (any nesting) added to the train split.")
    Path unlabeledDir;

    OpenOptions openOptions() {
      return new OpenOptions(imageSize, unlabeledDir);
    }
  }

  // ---------------------------------------------------------------- bench

  @Command(
      name = "bench",
      mixinStandardHelpOptions = true,
      showDefaultValues = true,
      description = "Measure the input pipeline's throughput (images/second, with augmentation) in a session.")
  static final class Bench implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;
    @CommandLine.Mixin DatasetOptionsMixin d;

    @Option(names = "--batch-size", defaultValue = "128", description = "Batch size.")
    int batchSize;

    @Option(names = "--seconds", defaultValue = "10", description = "How long to measure.")
    double seconds;

    @Option(names = "--split", defaultValue = "train", description = "Split: train or test.")
    String split;

    @Option(names = "--no-augment", description = "Measure without augmentation.")
    boolean noAugment;

    @Option(names = "--parallelism", defaultValue = "-1",
        description = "Parallel map calls (-1: the number of processors).")
    int parallelism;

    @Option(names = "--seed", defaultValue = "0", description = "Shuffle and augmentation seed.")
    long seed;

    @Option(names = "--json", description = "Print JSON.")
    boolean json;

    @Override
    public Integer call() throws IOException {
      Split sp = parseSplit(split);
      ImageSource src = Datasets.open(d.dataset, d.dataDir, d.openOptions());
      PipelineOptions o = PipelineOptions.train(batchSize, seed).withAugment(!noAugment);
      if (parallelism != -1) {
        o = o.withParallelism(parallelism);
      }
      PipelineBench.Result r = PipelineBench.run(src, sp, o, seconds);
      PrintWriter out = spec.commandLine().getOut();
      if (json) {
        out.println(JSON.writeValueAsString(r));
      } else {
        out.printf(
            "%s %s: %.0f images/s (batch %d, augment %s, parallelism %d; %d batches in %.1f s; setup %.1f s)%n",
            r.dataset(), r.split(), r.imagesPerSecond(), r.batchSize(), r.augment(), r.parallelism(), r.batches(),
            r.seconds(), r.initSeconds());
      }
      out.flush();
      return 0;
    }
  }

  static Split parseSplit(String s) {
    for (Split v : Split.values()) {
      if (v.id().equals(s)) {
        return v;
      }
    }
    throw new IllegalArgumentException("--split must be train or test, got '" + s + "'");
  }

  // ---------------------------------------------------------------- fetch

  @Command(
      name = "fetch",
      mixinStandardHelpOptions = true,
      showDefaultValues = true,
      description = {
        "Download the official files of a dataset, verify their published md5 and unpack them atomically "
            + "into <data home>/<name>.",
        "Without --data-dir, Fashion-MNIST is found in /usr/share/datasets/fashion-mnist (Debian package "
            + "dataset-fashion-mnist) if installed, without downloading."
      })
  static final class Fetch implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", description = "Dataset: ${COMPLETION-CANDIDATES}.", completionCandidates = Names.class)
    String dataset;

    @Option(names = "--data-dir", description = "Data home (default: $SELFIE_DATA, else ~/.cache/selfie).")
    Path dataDir;

    @Option(names = "--base-url", description = "Mirror holding the official file names (default: the official site).")
    URI baseUrl;

    @Override
    public Integer call() throws IOException {
      PrintWriter out = spec.commandLine().getOut();
      DatasetProvider p = Datasets.provider(dataset);
      DatasetProvider.FetchResult r;
      try (FetchProgress progress = new FetchProgress(out, System.console() != null)) {
        r = p.fetch(dataDir, baseUrl, progress);
      }
      if (r.downloaded()) {
        out.printf("%s: downloaded %.1f MB, verified, unpacked to %s%n", dataset, r.bytes() / 1e6, r.location());
      } else {
        out.printf("%s: already present in %s (nothing downloaded)%n", dataset, r.location());
      }
      out.flush();
      return 0;
    }
  }
}
