package dev.selfie.training.parallel;

import dev.selfie.data.ImageSource;
import dev.selfie.data.Split;
import dev.selfie.data.pipeline.PipelineOptions;
import dev.selfie.data.pipeline.Pipelines;
import dev.selfie.data.pipeline.RawPipeline;
import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.loop.RunSession;
import dev.selfie.training.loop.Summaries;
import dev.selfie.training.loop.Trainer;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.run.MetricsWriter;
import dev.selfie.training.runtime.Devices;
import dev.selfie.training.runtime.SessionConfigs;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.RemoteSessions;
import org.tensorflow.Result;
import org.tensorflow.Server;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.RunOptions;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TUint8;

/**
 * Data-parallel pretraining on TensorFlow's own runtime, with {@link Towers}:
 * <ul>
 *   <li>{@code --replicas K}: K towers on this machine's GPUs, or on K virtual CPU devices
 *       ({@code device_count {CPU: K}}) without GPUs; each tower holds a copy of the variables
 *       and applies the all-reduced gradients to it ({@link Towers.Layout#REPLICATED});
 *   <li>{@code --cluster h0:p,h1:p --task 0}: this process is the chief (task 0). It starts its
 *       own TensorFlow server, waits (up to a timeout) until every other task accepts
 *       connections, places tower i on {@code /job:worker/task:i}, creates its session against
 *       its own server ({@code grpc://localhost:p}), initialises the variables, trains, writes
 *       checkpoints and summaries on its own file system. Variables live on the chief (no
 *       {@code ps} job): every step sends the weights to each task and the gradients back.
 *       Other tasks only serve ({@code selfie worker}, {@link #serve}).
 * </ul>
 */
public final class DataParallel {
  private static final Logger LOG = LoggerFactory.getLogger(DataParallel.class);

  private DataParallel() {}

  /**
   * How a run is spread.
   *
   * @param replicas towers on this machine (1 = none); with a cluster, 1 or the task count
   * @param cluster the cluster, or null for one machine
   * @param task this process's task in the cluster (0 = chief)
   * @param startTimeout how long the chief waits for the other tasks to accept connections
   * @param layout where the variables of local towers live (null: replicated on each tower);
   *     a cluster keeps them on the chief ({@link Towers.Layout#ON_HOST})
   */
  public record Options(int replicas, Cluster cluster, int task, Duration startTimeout,
      Towers.Layout layout) {
    public Options {
      if (cluster != null && layout == Towers.Layout.REPLICATED) {
        throw new IllegalArgumentException("--tower-variables replicated: a --cluster keeps the"
            + " variables on the chief (use --tower-variables host or leave it out)");
      }
      if (replicas < 1) {
        throw new IllegalArgumentException("--replicas must be >= 1, got " + replicas);
      }
      if (cluster != null) {
        cluster.checkTask(task);
        if (replicas != 1 && replicas != cluster.size()) {
          throw new IllegalArgumentException("--replicas " + replicas + " with --cluster of "
              + cluster.size() + " tasks: a cluster runs one tower per task; leave --replicas"
              + " out or set it to " + cluster.size());
        }
      } else if (task != 0) {
        throw new IllegalArgumentException("--task " + task + " needs --cluster");
      }
      if (startTimeout == null || startTimeout.isNegative()) {
        throw new IllegalArgumentException("the cluster start timeout must be >= 0");
      }
    }

    /** Local towers with replicated variables, or a cluster with the variables on the chief. */
    public Options(int replicas, Cluster cluster, int task, Duration startTimeout) {
      this(replicas, cluster, task, startTimeout, null);
    }

    /** One device, no cluster: plain training. */
    public static Options single() {
      return new Options(1, null, 0, Duration.ofSeconds(120));
    }

    /** True when the graph must be replicated (several towers or a cluster). */
    public boolean replicated() {
      return replicas > 1 || cluster != null;
    }

    /** Number of towers. */
    public int towers() {
      return cluster != null ? cluster.size() : replicas;
    }

    /** Checks that the batch splits into equal shares. */
    public void checkBatch(int batchSize) {
      if (batchSize % towers() != 0) {
        throw new IllegalArgumentException("--batch-size " + batchSize + " must be divisible by"
            + " the number of towers (" + towers() + ")" + (cluster != null
            ? ", one per --cluster task" : ", --replicas"));
      }
    }
  }

  /**
   * Starts task {@code task}'s TensorFlow server and blocks while it serves (until the process is
   * killed: TensorFlow Java cannot stop a server).
   */
  public static void serve(Cluster cluster, int task, SessionConfigs.Options session) {
    Server server = cluster.startServer(task, SessionConfigs.configProto(session));
    LOG.info("worker: task " + task + " of " + cluster.size() + " serving on "
        + cluster.tasks().get(task) + " (job " + Cluster.JOB + "); waiting for the chief (task 0)");
    server.join();
  }

  /** The session config of a local replicated run: K virtual CPU devices when on the CPU. */
  public static ConfigProto localConfig(SessionConfigs.Options o, int k) {
    ConfigProto c = SessionConfigs.configProto(o);
    return o.gpu() ? c : c.toBuilder().putDeviceCount("CPU", k).build();
  }

  /** Checks that this machine has K GPUs when the towers go to GPUs. */
  static void checkLocalDevices(SessionConfigs.Options o, int k) {
    if (!o.gpu()) {
      return;
    }
    long gpus = Devices.list().stream().filter(d -> d.type().equals("GPU")).count();
    if (gpus < k) {
      throw new IllegalArgumentException("--replicas " + k + " needs " + k + " GPUs; this machine"
          + " has " + gpus);
    }
  }

  /** The graph handles of a replicated pretraining graph, in the graph the session runs. */
  public record Built(
      Graph graph,
      Placeholder<TInt64> seed,
      Optimizers.TrainOp train,
      Operand<TFloat32> loss,
      Map<String, Operand<TFloat32>> metrics,
      Operand<TInt64> globalStep,
      Op sync) {

    /**
     * After a restore (which fills tower 0's copy, the saved one): copies it into the other
     * towers' copies. A no-op with variables on the host.
     */
    public void syncReplicas(Session session) {
      if (sync != null) {
        session.runner().addTarget(sync).run().close();
      }
    }
  }

  /**
   * Builds the replicated pretraining graph (towers of {@link Selfie#pretrain}, averaged
   * gradients, the update: once on the host, or once per tower on its copy of the variables) and
   * returns it rebuilt with every tower's gradients placed on the tower's device. The caller
   * closes {@code Built.graph()}.
   *
   * @param input the batch the towers split, and the preprocessing each tower applies to its share
   * @param training BN with batch statistics per tower and dropout (false: frozen BN, no dropout)
   */
  public static Built buildPretrain(ModelConfig model, OptimizerConfig optimizer, long initSeed,
      Towers.Placement placement, Function<Ops, Towers.Input<?>> input, boolean training) {
    try (Graph built = new Graph()) {
      Ops tf = Ops.create(built);
      Towers.Input<?> batch = input.apply(tf);
      VarStore vars = new VarStore(Ops.create(built).withDevice(placement.variables()), initSeed);
      GlobalStep step = GlobalStep.create(tf);
      Placeholder<TInt64> seed = tf.withName("seed")
          .placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
      Towers.Replicated rep = Towers.build(tf, built, vars, placement, batch, seed,
          (t, v, share, s) -> {
            Selfie.PretrainOutputs out = Selfie.pretrain(t, v, model, share, s, training);
            return new Towers.TowerOutputs(out.loss(), Map.of("patch_accuracy", out.accuracy()));
          });
      Replicas.Train rt = Replicas.train(tf, rep, optimizer, step);
      Optimizers.TrainOp train = rt.train();
      Graph g = GraphPlacement.rebuild(built, placement);
      Map<String, Operand<TFloat32>> metrics = new LinkedHashMap<>();
      rep.metrics().forEach((k, v) -> metrics.put(k, GraphPlacement.find(g, v)));
      metrics.put("learning_rate", GraphPlacement.find(g, train.learningRate()));
      @SuppressWarnings("unchecked")
      Placeholder<TInt64> seedB = new Placeholder<>(g.operationOrThrow(seed.op().name()));
      return new Built(g, seedB,
          new Optimizers.TrainOp(GraphPlacement.findOp(g, train.trainOp()),
              GraphPlacement.find(g, train.learningRate()), GraphPlacement.find(g, train.gradientNorm()),
              List.of()),
          GraphPlacement.find(g, rep.loss()), metrics, GraphPlacement.find(g, step.value()),
          rt.sync() == null ? null : GraphPlacement.findOp(g, rt.sync()));
    }
  }

  /** The raw uint8 pipeline batch, split on the host; each tower normalises its own share. */
  static Towers.Input<TUint8> rawInput(RawPipeline p) {
    return new Towers.Input<>(p.images(), p::normalize);
  }

  /**
   * The replicated (or distributed) branch of {@link Pretrain#run}: same run directory, config,
   * checkpoints, summaries and metrics as a single-device run.
   */
  public static Pretrain.Result pretrain(Options d, RunSession<Pretrain.Config> run,
      ImageSource src) {
    Pretrain.Config config = run.config();
    SessionConfigs.Options sessionOptions = run.sessionOptions();
    int k = d.towers();
    d.checkBatch(config.batchSize());
    Towers.Placement placement;
    ConfigProto proto;
    if (d.cluster() != null) {
      if (d.task() != 0) {
        throw new IllegalArgumentException("--task " + d.task() + ": only the chief (task 0)"
            + " trains; start the other tasks with `selfie worker --cluster ... --task N`");
      }
      placement = Towers.Placement.cluster(d.cluster());
      proto = SessionConfigs.configProto(sessionOptions);
      d.cluster().startServer(0, proto);
      LOG.info("chief: task 0 of " + k + " serving on " + d.cluster().tasks().get(0));
      d.cluster().awaitTasks(0, d.startTimeout());
    } else {
      checkLocalDevices(sessionOptions, k);
      placement = Towers.Placement.local(k, sessionOptions.gpu(),
          d.layout() == null ? Towers.Layout.REPLICATED : d.layout());
      proto = localConfig(sessionOptions, k);
    }
    LOG.info("data-parallel: " + k + " towers " + placement.towers().stream()
        .map(Object::toString).toList() + ", " + config.batchSize() / k + " images each; "
        + placement.describe());
    PipelineOptions po = run.trainPipeline();
    long t0 = System.nanoTime();
    Built b = buildPretrain(config.model(), config.optimizer(), config.seed(), placement,
        tf -> rawInput(Pipelines.buildRaw(tf.withSubScope("data"), src, Split.TRAIN, po)), true);
    try (Graph graph = b.graph()) {
      Summaries summaries = run.summaries(Ops.create(graph))
          .scalar("loss", b.loss())
          .scalar("patch_accuracy", b.metrics().get("patch_accuracy"))
          .scalar("learning_rate", b.train().learningRate())
          .fedScalar("images_per_second");
      try (Session session = d.cluster() != null
          ? RemoteSessions.open(graph, d.cluster().localTarget(0), proto)
          : new Session(graph, proto)) {
        session.initialize();
        LOG.info(String.format("data-parallel: graph built, placed and initialised in %.1f s",
            (System.nanoTime() - t0) / 1e9));
        MetricsWriter.Metrics m = run.fit(session, new Trainer.Graphs(b.seed(), b.train(),
            b.loss(), b.metrics(), summaries), b.globalStep(), b::syncReplicas, null,
            Trainer.AtEnd.NONE);
        Pretrain.Result r = Pretrain.result(run.dir(), m, config.model());
        if (run.complete()) {
          return r;
        }
        RunMetadata trace = traceGradients(session, b, config.seed());
        LOG.info("data-parallel: kernels of a traced forward+backward pass ran on "
            + kernelDevices(trace));
        LOG.info("data-parallel: gradient kernels per tower ran on "
            + gradientDevices(trace, k));
        LOG.info(String.format(
            "pretrain: %d steps, loss %.4f, patch accuracy %.3f (chance %.3f), %.1f img/s"
                + " (%d towers)", r.steps(), r.finalLoss(), r.patchAccuracy(),
            r.chanceAccuracy(), r.imagesPerSecond(), k));
        return r;
      }
    }
  }

  /**
   * Runs every tower's forward and backward pass once (fetching the gradient norm, no update)
   * with a full trace; returns the run metadata.
   */
  static RunMetadata traceGradients(Session session, Built b, long seed) {
    try (TInt64 s = TInt64.vectorOf(seed, -1L);
        Result r = session.runner().feed(b.seed(), s).fetch(b.train().gradientNorm())
            .setOptions(RunOptions.newBuilder().setTraceLevel(RunOptions.TraceLevel.FULL_TRACE)
                .build())
            .runAndFetchMetadata()) {
      return r.getMetadata().orElseThrow();
    }
  }

  /** The devices that ran each tower's gradient kernels ({@code tower_<i>_gradients/...}). */
  public static Map<String, java.util.Set<String>> gradientDevices(RunMetadata meta, int towers) {
    Map<String, java.util.Set<String>> out = new TreeMap<>();
    for (DeviceStepStats d : meta.getStepStats().getDevStatsList()) {
      for (org.tensorflow.proto.NodeExecStats n : d.getNodeStatsList()) {
        for (int i = 0; i < towers; i++) {
          if (n.getNodeName().startsWith(Towers.gradientScope(i) + "/")) {
            out.computeIfAbsent(Towers.gradientScope(i), x -> new java.util.TreeSet<>())
                .add(d.getDevice());
          }
        }
      }
    }
    return out;
  }

  /** Number of kernels run per device in a traced step, by device name. */
  public static Map<String, Integer> kernelDevices(RunMetadata meta) {
    Map<String, Integer> out = new TreeMap<>();
    for (DeviceStepStats d : meta.getStepStats().getDevStatsList()) {
      if (d.getNodeStatsCount() > 0) {
        out.merge(d.getDevice(), d.getNodeStatsCount(), Integer::sum);
      }
    }
    return out;
  }
}
