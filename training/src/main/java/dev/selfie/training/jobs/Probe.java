package dev.selfie.training.jobs;

import dev.selfie.data.ImageSource;
import dev.selfie.data.LabelFractions;
import dev.selfie.data.Split;
import dev.selfie.data.pipeline.Pipeline;
import dev.selfie.data.pipeline.PipelineOptions;
import dev.selfie.data.pipeline.Pipelines;
import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.savedmodels.WeightLoader;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.run.ModelFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TFOutOfRangeException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.StdArrays;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The standard protocols for self-supervised features: a linear classifier and a k-nearest-
 * neighbour classifier on FROZEN embeddings, of a pretraining run or of the same network at
 * random init (the reference the pretrained features must beat).
 *
 * <p>Features: {@code image} = the patch network's layers on the whole image, pooled
 * ({@link Selfie#imageEmbedding}, [N, d]); {@code attention} = the attention pooling over all
 * patches ({@link Selfie#attentionPoolAll}, u [N, d]). BN in inference mode.
 */
public final class Probe {
  private static final Logger LOG = LoggerFactory.getLogger(Probe.class);

  private Probe() {}

  /** Which frozen embedding to probe. */
  public enum Features { IMAGE, ATTENTION }

  /**
   * @param pretrained a pretraining run dir or its savedmodel dir; null = random init of the preset
   * @param labelFraction fraction of the training labels used to fit the probe (class-balanced)
   */
  public record Options(
      String dataset,
      Path dataDir,
      Path pretrained,
      String preset,
      Features features,
      double labelFraction,
      long seed,
      int k,
      int epochs,
      int batchSize,
      boolean recalibrateBn,
      int bnBatches) {

    /** Default number of batches of {@link #recalibrateBatchNorm}. */
    public static final int DEFAULT_BN_BATCHES = 100;

    public Options {
      if (bnBatches < 1) {
        throw new IllegalArgumentException("--bn-batches must be >= 1, got " + bnBatches);
      }
      if (batchSize < 1) {
        throw new IllegalArgumentException("--batch-size must be >= 1, got " + batchSize);
      }
    }

    /** With BN recalibration of {@code image} features on, {@link #DEFAULT_BN_BATCHES}. */
    public Options(String dataset, Path dataDir, Path pretrained, String preset,
        Features features, double labelFraction, long seed, int k, int epochs, int batchSize) {
      this(dataset, dataDir, pretrained, preset, features, labelFraction, seed, k, epochs,
          batchSize, true, DEFAULT_BN_BATCHES);
    }
  }

  /** Features of a split: rows [N, D] and labels [N]. */
  public record FeatureSet(float[][] x, int[] y) {}

  public record Result(String model, String features, double linearAccuracy, double knnAccuracy,
      int trainExamples, int testExamples, int dim) {}

  /** Extracts features of the train subset and the test split, then runs both probes. */
  public static Result run(Options o) throws IOException {
    ModelConfig base = o.pretrained() != null ? PretrainedRun.config(o.pretrained()).model()
        : ModelFiles.resolve(o.preset());
    ImageSource src = RunData.open(o.dataset(), o.dataDir(), base.imageSize(), null);
    ModelConfig model = base.withData(src.spec().channels(), src.spec().numClasses());
    Path weights = o.pretrained() != null ? PretrainedRun.weights(o.pretrained()) : null;
    int[] trainIdx = o.labelFraction() >= 1.0 ? null
        : LabelFractions.select(src.labels(Split.TRAIN), src.spec().numClasses(),
            o.labelFraction(), o.seed());
    FeatureSet train;
    FeatureSet test;
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Pipeline trainData = Pipelines.build(tf.withSubScope("train_data"), src, Split.TRAIN,
          PipelineOptions.eval(o.batchSize()).withIndices(trainIdx));
      Pipeline testData = Pipelines.build(tf.withSubScope("test_data"), src, Split.TEST,
          PipelineOptions.eval(o.batchSize()));
      VarStore vars = new VarStore(Ops.create(g), o.seed());
      Operand<TFloat32> fTrain = embed(tf.withSubScope("train"), vars, model, o.features(),
          trainData.images());
      Operand<TFloat32> fTest = embed(tf.withSubScope("test"), vars, model, o.features(),
          testData.images());
      boolean recalibrate = o.recalibrateBn() && o.features() == Features.IMAGE;
      List<Op> bnUpdates = List.of();
      if (recalibrate) {
        // Whole training images (all of them, labels unused), shuffled, repeated, no augmentation.
        Pipeline bnData = Pipelines.build(tf.withSubScope("bn_data"), src, Split.TRAIN,
            PipelineOptions.train(o.batchSize(), o.seed()).withAugment(false));
        int before = vars.updates().size();
        Selfie.imageEmbedding(tf.withSubScope("bn_recalibration"), vars, model, bnData.images(),
            true);
        bnUpdates = List.copyOf(vars.updates().subList(before, vars.updates().size()));
      }
      try (Session s = new Session(g)) {
        s.initialize();
        if (weights != null) {
          // Every variable the embedding uses must come from the pretraining run.
          Predicate<String> all = n -> true;
          WeightLoader.Report r = WeightLoader.restore(s, weights, all, true);
          LOG.info("features from " + weights + ": " + r.restored().size()
              + " variables restored");
        } else {
          LOG.info("features from a random init of preset " + o.preset()
              + " (seed " + o.seed() + ")");
        }
        if (recalibrate) {
          double left = recalibrateBatchNorm(s, bnUpdates, o.bnBatches(), model.bnMomentum());
          LOG.info(String.format(
              "BN statistics re-estimated on whole training images: %d batches of %d"
              + " (weight of the pretraining statistics left: %.1e)", o.bnBatches(),
              o.batchSize(), left));
          if (left > 1e-3) {
            LOG.warn(String.format(
                "warning: --bn-batches %d is too few for BN momentum %s: use at least %d",
                o.bnBatches(), model.bnMomentum(), batchesToConverge(model.bnMomentum())));
          }
        } else if (o.features() == Features.IMAGE) {
          LOG.info("BN statistics: as collected on patches during pretraining"
              + " (not re-estimated on whole images)");
        }
        train = extract(s, trainData, fTrain);
        test = extract(s, testData, fTest);
      }
    }
    int dim = train.x()[0].length;
    double linear = linearProbe(train, test, src.spec().numClasses(), o.epochs(), o.seed());
    double knn = knn(train, test, src.spec().numClasses(), o.k());
    String name = o.pretrained() == null ? "random-init" : o.pretrained().toString();
    LOG.info(String.format(
        "%s %s features (d=%d): linear probe %.2f%%, %d-NN %.2f%% (%d train, %d test)",
        name, o.features().name().toLowerCase(), dim, 100 * linear, o.k(), 100 * knn,
        train.y().length, test.y().length));
    return new Result(name, o.features().name().toLowerCase(), linear, knn, train.y().length,
        test.y().length, dim);
  }

  /**
   * Re-estimates BN moving statistics: runs {@code updates} (the moving-average updates of a
   * training-mode forward graph, see {@code ResNet.batchNorm}) {@code batches} times; no gradient,
   * no weight changes. Each run moves every statistic to {@code momentum * old + (1 - momentum) *
   * batch}, so after k runs the old statistics keep weight {@code momentum^k} (returned) and the
   * rest is an exponential average of the last ~1/(1 - momentum) batches.
   *
   * @return {@code momentum^batches}, the weight the previous statistics keep
   */
  public static double recalibrateBatchNorm(
      Session s, List<Op> updates, int batches, double momentum) {
    if (updates.isEmpty()) {
      throw new IllegalArgumentException("recalibrateBatchNorm: no BN updates in the graph"
          + " (was the embedding built in training mode?)");
    }
    for (int i = 0; i < batches; i++) {
      Session.Runner r = s.runner();
      updates.forEach(r::addTarget);
      r.run().close();
    }
    return Math.pow(momentum, batches);
  }

  /** Batches after which the previous BN statistics keep a weight below 1e-3. */
  public static int batchesToConverge(double momentum) {
    return (int) Math.ceil(Math.log(1e-3) / Math.log(momentum));
  }

  static Operand<TFloat32> embed(Ops tf, VarStore vars, ModelConfig model, Features f,
      Operand<TFloat32> images) {
    return switch (f) {
      case IMAGE -> Selfie.imageEmbedding(tf, vars, model, images, false);
      case ATTENTION -> Selfie.attentionPoolAll(tf, vars, model, images, null, false);
    };
  }

  /** One pass of a non-repeating pipeline: features [N, D] and labels [N]. */
  static FeatureSet extract(Session s, Pipeline data, Operand<TFloat32> features) {
    java.util.List<float[]> rows = new java.util.ArrayList<>();
    java.util.List<Integer> labels = new java.util.ArrayList<>();
    while (true) {
      try (org.tensorflow.Result r = s.runner().fetch(features).fetch(data.labels()).run()) {
        float[][] x = StdArrays.array2dCopyOf((TFloat32) r.get(0));
        int[] y = StdArrays.array1dCopyOf((TInt32) r.get(1));
        rows.addAll(Arrays.asList(x));
        for (int v : y) {
          labels.add(v);
        }
      } catch (TFOutOfRangeException end) {
        break;
      }
    }
    return new FeatureSet(rows.toArray(new float[0][]),
        labels.stream().mapToInt(Integer::intValue).toArray());
  }

  /**
   * Multinomial logistic regression on standardised features (mean/std of the training rows),
   * full-batch Adam in a small TensorFlow graph; returns test accuracy.
   */
  static double linearProbe(FeatureSet train, FeatureSet test, int classes, int epochs, long seed) {
    int d = train.x()[0].length;
    float[] mean = new float[d];
    float[] std = new float[d];
    for (float[] row : train.x()) {
      for (int j = 0; j < d; j++) {
        mean[j] += row[j] / train.x().length;
      }
    }
    for (float[] row : train.x()) {
      for (int j = 0; j < d; j++) {
        std[j] += (row[j] - mean[j]) * (row[j] - mean[j]) / train.x().length;
      }
    }
    for (int j = 0; j < d; j++) {
      std[j] = (float) Math.sqrt(std[j]) + 1e-6f;
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, d)));
      Placeholder<TInt32> y = tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
      Operand<TFloat32> xs = tf.math.div(tf.math.sub(x, tf.constant(mean)), tf.constant(std));
      VarStore vars = new VarStore(tf, seed);
      Operand<TFloat32> w = vars.variable("probe/kernel", Shape.of(d, classes),
          VarStore.Kind.KERNEL, (ops, s) -> ops.zeros(ops.constant(s), TFloat32.class));
      Operand<TFloat32> b = vars.variable("probe/bias", Shape.of(classes),
          VarStore.Kind.TRAINABLE, (ops, s) -> ops.zeros(ops.constant(s), TFloat32.class));
      Operand<TFloat32> logits = tf.math.add(tf.linalg.matMul(xs, w), b);
      Operand<TFloat32> loss = dev.selfie.graph.Losses.crossEntropy(tf, logits, y, classes);
      Operand<TFloat32> acc = dev.selfie.graph.Losses.accuracy(tf, logits, y);
      GlobalStep step = GlobalStep.create(tf);
      OptimizerConfig opt = OptimizerConfig.adam(0.01, 0, epochs).withWeightDecay(1e-4);
      Optimizers.TrainOp train1 = Optimizers.minimize(tf, g, loss, vars, opt, step);
      try (Session s = new Session(g);
          TFloat32 xTrain = TFloat32.tensorOf(StdArrays.ndCopyOf(train.x()));
          TInt32 yTrain = TInt32.vectorOf(train.y());
          TFloat32 xTest = TFloat32.tensorOf(StdArrays.ndCopyOf(test.x()));
          TInt32 yTest = TInt32.vectorOf(test.y())) {
        s.initialize();
        for (int e = 0; e < epochs; e++) {
          s.runner().feed(x, xTrain).feed(y, yTrain).addTarget(train1.trainOp()).run().close();
        }
        try (org.tensorflow.Result r = s.runner().feed(x, xTest).feed(y, yTest).fetch(acc).run()) {
          return ((TFloat32) r.get(0)).getFloat();
        }
      }
    }
  }

  /**
   * k-nearest-neighbour classification with cosine similarity, votes weighted by similarity;
   * the similarity matrix and top-k run in TensorFlow, chunked over the test rows.
   */
  static double knn(FeatureSet train, FeatureSet test, int classes, int k) {
    int kk = Math.min(k, train.y().length);
    int d = train.x()[0].length;
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> bank = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, d)));
      Placeholder<TFloat32> q = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, d)));
      Operand<TFloat32> bn = l2normalize(tf, bank);
      Operand<TFloat32> qn = l2normalize(tf, q);
      Operand<TFloat32> sim = tf.linalg.matMul(qn, bn, org.tensorflow.op.linalg.MatMul.transposeB(true));
      var top = tf.nn.topK(sim, tf.constant(kk), TInt32.class);
      long correct = 0;
      int chunk = 1000;
      try (Session s = new Session(g);
          TFloat32 bankT = TFloat32.tensorOf(StdArrays.ndCopyOf(train.x()))) {
        for (int start = 0; start < test.y().length; start += chunk) {
          int end = Math.min(test.y().length, start + chunk);
          float[][] rows = Arrays.copyOfRange(test.x(), start, end);
          try (TFloat32 qT = TFloat32.tensorOf(StdArrays.ndCopyOf(rows));
              org.tensorflow.Result r = s.runner().feed(bank, bankT).feed(q, qT)
                  .fetch(top.values()).fetch(top.indices()).run()) {
            float[][] vals = StdArrays.array2dCopyOf((TFloat32) r.get(0));
            int[][] idx = StdArrays.array2dCopyOf((TInt32) r.get(1));
            for (int i = 0; i < rows.length; i++) {
              double[] votes = new double[classes];
              for (int j = 0; j < kk; j++) {
                votes[train.y()[idx[i][j]]] += Math.exp(vals[i][j] / 0.07);
              }
              int best = 0;
              for (int c = 1; c < classes; c++) {
                if (votes[c] > votes[best]) {
                  best = c;
                }
              }
              if (best == test.y()[start + i]) {
                correct++;
              }
            }
          }
        }
      }
      return (double) correct / test.y().length;
    }
  }

  private static Operand<TFloat32> l2normalize(Ops tf, Operand<TFloat32> x) {
    Operand<TFloat32> norm = tf.math.sqrt(tf.math.add(
        tf.sum(tf.math.square(x), tf.constant(1), org.tensorflow.op.core.Sum.keepDims(true)),
        tf.constant(1e-12f)));
    return tf.math.div(x, norm);
  }
}
