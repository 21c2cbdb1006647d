package dev.selfie.training.jobs;

import dev.selfie.data.ImageSource;
import dev.selfie.data.Split;
import dev.selfie.data.pipeline.Pipeline;
import dev.selfie.data.pipeline.PipelineOptions;
import dev.selfie.data.pipeline.Pipelines;
import dev.selfie.graph.ContextDiagnostic;
import dev.selfie.graph.Layers;
import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.VarStore;
import dev.selfie.savedmodels.WeightLoader;
import dev.selfie.training.run.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TFOutOfRangeException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * The context diagnostic of a pretraining run ({@link ContextDiagnostic#build}): patch-selection
 * accuracy of the trained model in inference mode (BN moving statistics, no dropout) on a split's
 * images in order, without augmentation, with masks drawn from {@code [seed, batch index]} — as
 * trained, with the context zeroed, and with the context of the next image in the batch. With
 * query mode ADD the zeroed accuracy is what the position term {@code e_row + e_col} alone gets.
 */
public final class Diagnose {
  private static final Logger LOG = LoggerFactory.getLogger(Diagnose.class);

  private Diagnose() {}

  /**
   * @param run pretraining run directory (newest checkpoint) or its savedmodel
   * @param dataset null = the run's
   * @param images at most this many images (0 = the whole split)
   * @param json where to write the result (null = {@code RUN/diagnose-<split>.json})
   */
  public record Options(Path run, String dataset, Path dataDir, Split split, int images,
      int batchSize, long seed, Path json) {
    public Options {
      if (run == null) {
        throw new IllegalArgumentException("--run is required");
      }
      if (batchSize < 2) {
        throw new IllegalArgumentException(
            "--batch-size must be >= 2 (the shuffled context comes from another image), got "
                + batchSize);
      }
      if (images < 0) {
        throw new IllegalArgumentException("--images must be >= 0, got " + images);
      }
    }
  }

  /**
   * Accuracies over {@code images} images ({@code images * numMasked} queries).
   *
   * @param context what is zeroed/shuffled: "u" (query modes add, mlp) or "context tokens" (attend)
   */
  public record Result(String run, String split, int images, int numMasked, double chance,
      String queryMode, boolean contextPositions, boolean maskContent, String context,
      double accuracy, double zeroedAccuracy, double shuffledAccuracy, long seed) {}

  public static Result run(Options o) throws IOException {
    Pretrain.Config cfg = PretrainedRun.config(o.run());
    String dataset = o.dataset() == null ? cfg.dataset() : o.dataset();
    ImageSource src = RunData.open(dataset, o.dataDir(), cfg.model().imageSize(), null);
    ModelConfig model = cfg.model().withData(src.spec().channels(), src.spec().numClasses());
    Path weights = PretrainedRun.weights(o.run());
    double[] sums = new double[3];
    int seen = 0;
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Pipeline data = Pipelines.build(tf.withSubScope("data"), src, o.split(),
          PipelineOptions.eval(o.batchSize()));
      VarStore vars = new VarStore(Ops.create(g), 0);
      Placeholder<TInt64> seed = tf.withName("seed")
          .placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
      ContextDiagnostic d = ContextDiagnostic.build(tf, vars, model, data.images(), seed);
      Operand<TInt32> batchSize = Layers.batchSize(tf, data.images());
      try (Session s = new Session(g)) {
        s.initialize();
        WeightLoader.Report r = WeightLoader.restore(s, weights, n -> true, true);
        LOG.info("diagnose: " + r.restored().size() + " variables from " + weights);
        for (long batch = 0; o.images() == 0 || seen < o.images(); batch++) {
          try (TInt64 sd = TInt64.vectorOf(o.seed(), batch);
              org.tensorflow.Result out = s.runner().feed(seed, sd).fetch(batchSize)
                  .fetch(d.normal())
                  .fetch(d.zeroed()).fetch(d.shuffled()).run()) {
            int b = ((TInt32) out.get(0)).getInt();
            if (b < 2) {
              break; // a last batch of one image has no other image to shuffle with
            }
            int take = o.images() == 0 ? b : Math.min(b, o.images() - seen);
            if (take < b) {
              break; // keep whole batches: their accuracies are means over the batch
            }
            for (int i = 0; i < 3; i++) {
              sums[i] += ((TFloat32) out.get(1 + i)).getFloat() * (double) b;
            }
            seen += b;
          } catch (TFOutOfRangeException end) {
            break;
          }
        }
      }
    }
    if (seen == 0) {
      throw new IllegalArgumentException("diagnose: no complete batch of " + o.batchSize()
          + " images in the " + o.split().id() + " split (--images " + o.images() + ")");
    }
    boolean attend = model.queryMode() == ModelConfig.QueryMode.ATTEND;
    Result res = new Result(o.run().toString(), o.split().id(), seen, model.numMasked(),
        1.0 / model.numMasked(), model.queryMode().name().toLowerCase(java.util.Locale.ROOT),
        model.contextPositions(), model.maskContent(), attend ? "context tokens" : "u",
        sums[0] / seen, sums[1] / seen, sums[2] / seen, o.seed());
    Path json = o.json() != null ? o.json()
        : (Files.isDirectory(o.run()) ? o.run() : o.run().getParent())
            .resolve("diagnose-" + o.split().id() + ".json");
    Json.writeAtomic(json, res);
    LOG.info(String.format(
        "patch accuracy on %d %s images (m=%d, chance %.3f): normal %.4f, %s zeroed %.4f,"
            + " %s shuffled %.4f -> %s", seen, o.split().id(), model.numMasked(), res.chance(),
        res.accuracy(), res.context(), res.zeroedAccuracy(), res.context(),
        res.shuffledAccuracy(), json));
    return res;
  }
}
