package dev.selfie.training.jobs;

import dev.selfie.data.ImageSource;
import dev.selfie.data.Split;
import dev.selfie.data.pipeline.Pipeline;
import dev.selfie.data.pipeline.PipelineOptions;
import dev.selfie.data.pipeline.Pipelines;
import dev.selfie.graph.Classifier;
import dev.selfie.graph.Losses;
import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.loop.RunSession;
import dev.selfie.training.loop.Summaries;
import dev.selfie.training.loop.Trainer;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.run.MetricsWriter;
import dev.selfie.training.runtime.Devices;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * The graph of a finetuning run and what runs on it besides the training steps: the classifier
 * trained on the labeled batches (loss, accuracy, the layer-wise train op, summaries), its
 * inference copies on the test split and on the validation split, the split of its variables
 * into those pretraining provides and the fresh ones, and the evaluation at the end.
 *
 * @param train the training step's handles
 * @param step the global step
 * @param vars the model's variables
 * @param transfer which variables come from pretraining (taken before the optimizer's slots)
 * @param test one pass over the test split
 * @param validation one pass over the validation split; null without one
 */
record FinetuneGraph(Trainer.Graphs train, GlobalStep step, VarStore vars,
    Selfie.Transfer transfer, Evaluation test, Evaluation validation) {
  private static final Logger LOG = LoggerFactory.getLogger(FinetuneGraph.class);


  /**
   * Builds the finetuning graph of {@code run} into {@code graph}: training on the {@code
   * subset}'s labels of {@code src}, evaluation in batches of {@code evalBatchSize}.
   */
  static FinetuneGraph build(Graph graph, RunSession<Finetune.Config> run, ImageSource src,
      LabeledSubset subset, int evalBatchSize) {
    Finetune.Config config = run.config();
    Finetune.Recipe recipe = config.recipe();
    ModelConfig model = config.model();
    boolean gpu = run.sessionOptions().gpu();
    Ops tf = Ops.create(graph);
    Pipeline train = Pipelines.build(tf.withSubScope("train_data"), src, Split.TRAIN,
        run.trainPipeline().withIndices(subset.labels().indices()));
    Pipeline test = Pipelines.build(tf.withSubScope("test_data"), src, Split.TEST,
        PipelineOptions.eval(evalBatchSize));
    Ops mtf = tf.withDevice(Devices.modelDevice(gpu));
    VarStore vars =
        new VarStore(Ops.create(graph).withDevice(Devices.modelDevice(gpu)), config.seed());
    GlobalStep step = GlobalStep.create(tf);
    Placeholder<TInt64> seed = tf.withName("seed")
        .placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
    Classifier.ClassifierOutputs out = Classifier.build(mtf.withSubScope("train"), vars, model,
        train.images(), config.head(), seed, true);
    Operand<TFloat32> loss = Losses.crossEntropy(mtf, out.logits(), train.labels());
    Operand<TFloat32> accuracy = Losses.accuracy(mtf, out.logits(), train.labels());
    Classifier.ClassifierOutputs eval = Classifier.build(mtf.withSubScope("eval"), vars, model,
        test.images(), config.head(), null, false);
    Evaluation evaluation = new Evaluation(tf, test, eval.logits());
    Evaluation validating = null;
    if (subset.validation() != null) {
      Pipeline val = Pipelines.build(tf.withSubScope("validation_data"), src, Split.TRAIN,
          PipelineOptions.eval(evalBatchSize).withIndices(subset.validation().indices()));
      validating = new Evaluation(tf, val, Classifier.build(mtf.withSubScope("validation"),
          vars, model, val.images(), config.head(), null, false).logits());
    }
    // The transfer split is taken before the optimizer adds its slots to the store.
    Selfie.Transfer transfer = Selfie.pretrainedNames(vars, config.head());
    Optimizers.Layerwise layerwise = config.pretrained() != null && recipe.layerwise()
        ? new Optimizers.Layerwise(Set.copyOf(transfer.fromPretraining()),
            recipe.pretrainedLrScale(), recipe.headSteps())
        : null;
    if (layerwise != null) {
      LOG.info(String.format("finetune: pretrained layers at %.3g x the learning rate%s",
          recipe.pretrainedLrScale(), recipe.headSteps() > 0
              ? ", frozen for the first " + recipe.headSteps() + " steps (head first)" : ""));
    }
    Optimizers.TrainOp trainOp = Optimizers.minimize(mtf, graph, loss, vars, config.optimizer(),
        step, layerwise, run.sessionOptions().precision().lossScale());
    Summaries summaries = run.summaries(tf)
        .scalar("loss", loss)
        .scalar("train_accuracy", accuracy)
        .scalar("learning_rate", trainOp.learningRate())
        .fedScalar("images_per_second")
        .fedScalar("test_accuracy")
        .fedScalar("validation_accuracy")
        .histograms(vars);
    Map<String, Operand<TFloat32>> metrics = new LinkedHashMap<>();
    metrics.put("train_accuracy", accuracy);
    metrics.put("learning_rate", trainOp.learningRate());
    return new FinetuneGraph(new Trainer.Graphs(seed, trainOp, loss, metrics, summaries), step,
        vars, transfer, evaluation, validating);
  }

  /**
   * A new run from pretraining ({@link RunSession#startsFresh}) restores the pretrained
   * variables ({@link PretrainedRun#restore}); returns their names (else none).
   */
  List<String> restorePretrained(Session session, RunSession<Finetune.Config> run)
      throws IOException {
    String pretrained = run.config().pretrained();
    return run.startsFresh() && pretrained != null
        ? PretrainedRun.restore(session, vars, transfer, Path.of(pretrained), run.dir())
        : List.of();
  }

  /** The variables that start from their initial values: all of them for the baseline. */
  List<String> fresh(Finetune.Config config) {
    return config.pretrained() == null
        ? Stream.concat(transfer.fromPretraining().stream(), transfer.fresh().stream())
            .sorted().toList()
        : transfer.fresh();
  }

  /**
   * What the run measures after its last step: validation (when the run has the split), then
   * test accuracy (unless {@code --no-test}), and how many labeled examples it trained on.
   */
  Trainer.AtEnd atEnd(boolean readTest, int labeledExamples) {
    Map<String, Evaluation> evaluations = new LinkedHashMap<>();
    if (validation != null) {
      evaluations.put("validation", validation);
    }
    if (readTest) {
      evaluations.put("test", test);
    }
    return new Trainer.AtEnd(evaluations,
        Map.of("labeled_examples", (double) labeledExamples));
  }

  /** The run's result from its metrics (as written to metrics.json), logged in one line. */
  Finetune.Result result(RunSession<Finetune.Config> run, MetricsWriter.Metrics m,
      List<String> restored) {
    Map<String, Double> all = m.metrics();
    double val = all.getOrDefault("validation_accuracy", Double.NaN);
    boolean tested = all.containsKey("test_accuracy");
    Finetune.Result r = new Finetune.Result(run.dir().root(), m.steps(), m.meanLoss(),
        all.getOrDefault("train_accuracy", Double.NaN), all.getOrDefault("test_accuracy", Double.NaN),
        all.getOrDefault("test_examples", 0.0).longValue(), val,
        all.getOrDefault("labeled_examples", 0.0).intValue(), m.imagesPerSecond(),
        m.wallSeconds(), restored, fresh(run.config()));
    String line = String.format("finetune: %d steps, loss %.4f", r.steps(), r.finalLoss());
    if (!Double.isNaN(val)) {
      line += String.format(", validation accuracy %.2f%% (%d images)", 100 * val,
          all.get("validation_examples").longValue());
    }
    LOG.info(line + (tested ? String.format(", test accuracy %.2f%% (%d images)",
        100 * r.testAccuracy(), r.testExamples()) : ", test set not read (--no-test)"));
    return r;
  }

}
