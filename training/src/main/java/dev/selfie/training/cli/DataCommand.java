package dev.selfie.training.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.selfie.data.DatasetProvider;
import dev.selfie.data.DatasetSpec;
import dev.selfie.data.Datasets;
import dev.selfie.data.ImageSource;
import dev.selfie.data.LabelFractions;
import dev.selfie.data.OpenOptions;
import dev.selfie.data.Pipeline;
import dev.selfie.data.PipelineOptions;
import dev.selfie.data.Pipelines;
import dev.selfie.data.Split;
import dev.selfie.training.FetchProgress;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code selfie data}: inspect, benchmark and fetch datasets. Each subcommand parses its flags and
 * calls a plain static method returning a result record.
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

  /**
   * What {@code data inspect} reports.
   *
   * @param countsPerClass per split, examples per class
   * @param nativeShape {@code [H, W, C]} on disk
   * @param inputShape {@code [S, S, C]} model input
   */
  public record InspectResult(
      String dataset,
      String location,
      Map<String, Integer> counts,
      Map<String, int[]> countsPerClass,
      List<String> classNames,
      int[] nativeShape,
      int[] inputShape,
      float[] mean,
      float[] std,
      Map<String, Integer> unlabeled,
      List<String> warnings) {}

  /** Opens (validates) the dataset and counts its examples per split and class. */
  public static InspectResult inspect(String dataset, Path dataDir) throws IOException {
    return inspect(dataset, dataDir, OpenOptions.DEFAULT);
  }

  /**
   * {@link #inspect(String, Path)} with open options (image size, unlabeled folder). Images
   * without a label (a folder's --unlabeled-dir, label -1) are counted in {@code unlabeled}.
   */
  public static InspectResult inspect(String dataset, Path dataDir, OpenOptions options) throws IOException {
    ImageSource src = Datasets.open(dataset, dataDir, options);
    DatasetSpec s = src.spec();
    Map<String, Integer> counts = new LinkedHashMap<>();
    Map<String, int[]> perClass = new LinkedHashMap<>();
    Map<String, Integer> unlabeled = new LinkedHashMap<>();
    for (Split split : Split.values()) {
      int[] labels = src.labels(split);
      counts.put(split.id(), labels.length);
      int[] labeled = java.util.stream.IntStream.range(0, labels.length).filter(i -> labels[i] >= 0).toArray();
      perClass.put(split.id(), LabelFractions.countsPerClass(labels, labeled, s.numClasses()));
      unlabeled.put(split.id(), labels.length - labeled.length);
    }
    return new InspectResult(
        s.name(), src.location().toString(), counts, perClass, s.classNames(),
        new int[] {s.height(), s.width(), s.channels()},
        new int[] {s.imageSize(), s.imageSize(), s.channels()},
        s.mean(), s.std(), unlabeled, src.warnings());
  }

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
      InspectResult r = inspect(d.dataset, d.dataDir, d.openOptions());
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

  /**
   * What {@code data bench} measured.
   *
   * @param initSeconds building the graph and making the iterator (reads the split's files)
   * @param imagesPerSecond after two warm-up batches
   */
  public record BenchResult(
      String dataset, String split, int batchSize, boolean augment, int parallelism, long batches, long images,
      double seconds, double initSeconds, double imagesPerSecond) {}

  /**
   * Runs the training pipeline (shuffle, augmentation as configured, repeat) in a session for
   * about {@code seconds}, fetching each batch (images and labels) and closing the tensors.
   */
  public static BenchResult bench(ImageSource src, Split split, PipelineOptions o, double seconds) {
    if (!(seconds > 0)) {
      throw new IllegalArgumentException("--seconds must be > 0, got " + seconds);
    }
    long t0 = System.nanoTime();
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Pipeline p = Pipelines.build(tf, src, split, o.withRepeat(true));
      s.initialize();
      for (int i = 0; i < 2; i++) {
        try (Result r = s.runner().fetch(p.images()).fetch(p.labels()).run()) {
          // warm-up
        }
      }
      double init = (System.nanoTime() - t0) / 1e9;
      long batches = 0;
      long images = 0;
      long start = System.nanoTime();
      long end = start + (long) (seconds * 1e9);
      while (System.nanoTime() < end) {
        try (Result r = s.runner().fetch(p.images()).fetch(p.labels()).run()) {
          images += r.get(1).shape().get(0);
          batches++;
        }
      }
      double took = (System.nanoTime() - start) / 1e9;
      return new BenchResult(
          src.spec().name(), split.id(), o.batchSize(), o.augment(), o.parallelism(), batches, images, took, init,
          images / took);
    }
  }

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
      BenchResult r = bench(src, sp, o, seconds);
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
