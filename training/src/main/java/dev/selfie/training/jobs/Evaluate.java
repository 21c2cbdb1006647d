package dev.selfie.training.jobs;

import dev.selfie.data.ImageSource;
import dev.selfie.data.Split;
import dev.selfie.data.pipeline.Pipeline;
import dev.selfie.data.pipeline.PipelineOptions;
import dev.selfie.data.pipeline.Pipelines;
import dev.selfie.graph.Classifier;
import dev.selfie.graph.VarStore;
import dev.selfie.savedmodels.WeightLoader;
import dev.selfie.training.run.CheckpointManager;
import dev.selfie.training.run.RunDir;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;

/**
 * Test accuracy of a finetuning run: rebuilds the classifier from the run's config.json in
 * inference mode (BN moving statistics, no dropout), restores the newest checkpoint (every model
 * variable must be found), and makes one pass over the test split.
 */
public final class Evaluate {
  private static final Logger LOG = LoggerFactory.getLogger(Evaluate.class);

  private Evaluate() {}

  public record Result(Path model, String dataset, double accuracy, long correct, long total) {}

  public static Result run(Path runDir, String dataset, Path dataDir, int batchSize)
      throws IOException {
    RunDir dir = new RunDir(runDir);
    if (!Files.isRegularFile(dir.config())) {
      throw new IllegalArgumentException("--run " + runDir + ": no config.json (expected a"
          + " finetuning run directory)");
    }
    Finetune.Config cfg = dir.readConfig(Finetune.Config.class);
    CheckpointManager.Checkpoint ckpt = new CheckpointManager(dir.checkpoints(), Integer.MAX_VALUE)
        .latest().orElseThrow(() -> new IllegalArgumentException("--run " + runDir
            + ": no valid checkpoint under " + dir.checkpoints()));
    String ds = dataset == null ? cfg.dataset() : dataset;
    ImageSource src = RunData.open(ds, dataDir, cfg.model().imageSize(), null);
    if (src.spec().numClasses() != cfg.model().numClasses()
        || src.spec().channels() != cfg.model().channels()) {
      throw new IllegalArgumentException("--dataset " + ds + " (" + src.spec().numClasses()
          + " classes, " + src.spec().channels() + " channels) does not fit the model of "
          + runDir + " (" + cfg.model().numClasses() + " classes, " + cfg.model().channels()
          + " channels)");
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Pipeline test = Pipelines.build(tf.withSubScope("test_data"), src, Split.TEST,
          PipelineOptions.eval(batchSize));
      VarStore vars = new VarStore(Ops.create(g), cfg.seed());
      Classifier.ClassifierOutputs out =
          Classifier.build(tf, vars, cfg.model(), test.images(), cfg.head(), null, false);
      Evaluation evaluation = new Evaluation(tf, test, out.logits());
      try (Session s = new Session(g)) {
        s.initialize();
        WeightLoader.restore(s, Path.of(ckpt.prefix()), n -> true, true);
        Evaluation.Accuracy acc = evaluation.run(s);
        LOG.info(String.format(
            "%s on %s test: accuracy %.2f%% (%d/%d), checkpoint step %d", runDir, ds,
            100 * acc.value(), acc.correct(), acc.total(), ckpt.step()));
        return new Result(dir.root(), ds, acc.value(), acc.correct(), acc.total());
      }
    }
  }
}
