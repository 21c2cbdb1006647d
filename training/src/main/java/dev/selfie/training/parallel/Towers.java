package dev.selfie.training.parallel;

import dev.selfie.graph.VarStore;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import org.tensorflow.DeviceSpec;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Split;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.family.TType;

/**
 * In-graph data-parallel replication ("towers"): the input batch [B, ...] (raw uint8 from the
 * pipeline) is split into K shares of [B/K, ...] on the host CPU; tower i casts/normalises its
 * share and builds the model's forward pass on it under device i; each tower's gradients are
 * taken with {@code Graph.addGradients} under the prefix {@code tower_<i>_gradients} and
 * averaged over the towers. One step is synchronous: every tower sees the same weights and
 * contributes 1/K of the update, which is the gradient of the mean loss over the whole batch.
 *
 * <p>Where the variables live ({@link Layout}):
 * <ul>
 *   <li>{@link Layout#REPLICATED} (several local devices): tower i holds its own copy of every
 *       variable and optimizer slot on its device ({@link VarStore#replica}); tower 0's copy has
 *       the canonical names and is the one checkpoints hold. The gradients are all-reduced
 *       ({@link Replicas#allReduce}: NCCL on GPUs when TensorFlow has its kernel, else a sum on
 *       the host copied back to each tower) and every tower applies the same mean to its copy
 *       ({@link Replicas#train}), so the copies stay identical and no weights move per step.
 *   <li>{@link Layout#ON_HOST} (a {@code --cluster}; available locally): one copy of the
 *       variables on the host (this machine's or the chief's CPU); every step sends the weights
 *       to each tower and the gradients back, averaged and applied once on the host.
 * </ul>
 *
 * <p>Batch norm: each tower normalises with the statistics of its own share (B/K images), as in
 * TensorFlow's multi-GPU models; the moving averages are updated from tower 0's statistics only
 * (in both layouts; replicated, the other towers' copies of them are not updated during training,
 * where batch norm does not read them, and are refreshed from tower 0 after a restore).
 *
 * <p>Devices: {@code addGradients} in TF Java 1.1.0 gives gradient ops no device, so they would all
 * run on the default device (device 0, or the chief's task). {@link GraphPlacement#placeGradients}
 * therefore rewrites the GraphDef: every node under {@code tower_<i>_gradients/} without a device
 * (and without a colocation constraint of its own) gets tower i's device, and every node taking a
 * variable's ref input (updates, BN moving-average updates) is put on that variable's device, where
 * TensorFlow requires it. The rewritten GraphDef is imported into a new {@link Graph} ({@link
 * GraphPlacement#rebuild}), which is the graph the session runs; operations are then looked up
 * there by name.
 */
public final class Towers {
  private Towers() {}

  /** Op types holding a variable's buffer (ops taking their output take a ref). */
  static final List<String> VARIABLE_OPS = List.of("VariableV2", VarStore.REPLICA_OP);

  /** Where the variables live (see the class comment). */
  public enum Layout {
    /** One copy on the host device; weights sent to the towers every step. */
    ON_HOST,
    /** One copy per tower on its device; gradients all-reduced. */
    REPLICATED
  }

  /** How replicated towers sum their gradients ({@link Replicas#allReduce}). */
  public enum Reduction {
    /** add_n on the host device, the result copied to each tower. */
    HOST,
    /** One {@code NcclAllReduce} per gradient and tower (GPU towers only). */
    NCCL
  }

  /**
   * Where the towers and the variables go.
   *
   * @param towers device of each tower, K = size
   * @param host device of the input split, the loss average and (ON_HOST) the variables, the
   *     gradient average and the update, (HOST reduction) the gradient sums
   * @param layout where the variables live
   * @param reduction how replicated gradients are summed (ignored ON_HOST)
   */
  public record Placement(List<DeviceSpec> towers, DeviceSpec host, Layout layout,
      Reduction reduction) {
    public Placement {
      if (towers == null || towers.isEmpty()) {
        throw new IllegalArgumentException("a placement needs at least one tower device");
      }
      towers = List.copyOf(towers);
      if (reduction == Reduction.NCCL && (layout != Layout.REPLICATED || towers.stream()
          .anyMatch(t -> t.deviceType() != DeviceSpec.DeviceType.GPU))) {
        throw new IllegalArgumentException("the NCCL all-reduce needs replicated variables on GPU"
            + " towers, got " + layout + " on " + towers);
      }
    }

    /**
     * K towers on this machine: {@code /device:GPU:i} with GPUs, else {@code /device:CPU:i}
     * (virtual CPU devices: the session needs {@code device_count {CPU: K}}); replicated
     * variables, summed with NCCL on GPUs when TensorFlow has its kernel
     * ({@link Replicas#ncclAvailable}), else on {@code /device:CPU:0}.
     */
    public static Placement local(int k, boolean gpu) {
      return local(k, gpu, Layout.REPLICATED);
    }

    /** {@link #local(int, boolean)} with the variables where {@code layout} says. */
    public static Placement local(int k, boolean gpu, Layout layout) {
      if (k < 1) {
        throw new IllegalArgumentException("--replicas must be >= 1, got " + k);
      }
      List<DeviceSpec> t = new ArrayList<>();
      for (int i = 0; i < k; i++) {
        t.add(DeviceSpec.newBuilder()
            .deviceType(gpu ? DeviceSpec.DeviceType.GPU : DeviceSpec.DeviceType.CPU)
            .deviceIndex(i).build());
      }
      Reduction r = gpu && k > 1 && layout == Layout.REPLICATED && Replicas.ncclAvailable()
          ? Reduction.NCCL : Reduction.HOST;
      return new Placement(t, DeviceSpec.newBuilder()
          .deviceType(DeviceSpec.DeviceType.CPU).deviceIndex(0).build(), layout, r);
    }

    /**
     * One tower per task of {@code cluster} ({@code /job:worker/replica:0/task:i}, the placer picks
     * the task's GPU when it has one); variables and the update on the chief's CPU (ON_HOST).
     */
    public static Placement cluster(Cluster cluster) {
      List<DeviceSpec> t = new ArrayList<>();
      for (int i = 0; i < cluster.size(); i++) {
        t.add(cluster.device(i));
      }
      return new Placement(t, cluster.cpu(0), Layout.ON_HOST, Reduction.HOST);
    }

    /** This placement with gradients summed by {@code r}. */
    public Placement withReduction(Reduction r) {
      return new Placement(towers, host, layout, r);
    }

    /** Device of the canonical (saved) copy of the variables: the host, or tower 0's device. */
    public DeviceSpec variables() {
      return layout == Layout.REPLICATED ? towers.get(0) : host;
    }

    /** K. */
    public int size() {
      return towers.size();
    }

    /** A one-line description for logs. */
    public String describe() {
      return layout == Layout.REPLICATED && size() > 1
          ? "variables replicated on each tower, gradients all-reduced "
              + (reduction == Reduction.NCCL ? "with NCCL" : "on " + host)
          : "variables on " + variables();
    }
  }

  /**
   * The batch the towers share, and what each tower does to its share before the model.
   *
   * @param batch the whole batch [B, ...] (e.g. raw uint8 images from the pipeline)
   * @param preprocess share [B/K, ...] -> model input float, built with the tower's Ops (so on
   *     its device): e.g. cast and normalise
   */
  public record Input<T extends TType>(Operand<T> batch,
      BiFunction<Ops, Operand<T>, Operand<TFloat32>> preprocess) {

    /** Model-ready float images, used as they are. */
    public static Input<TFloat32> floats(Operand<TFloat32> images) {
      return new Input<>(images, (tf, x) -> x);
    }
  }

  /**
   * What one tower computes.
   *
   * @param loss scalar mean loss over the tower's share {@code []}
   * @param metrics scalar metrics over the share (averaged over towers), by name
   */
  public record TowerOutputs(Operand<TFloat32> loss, Map<String, Operand<TFloat32>> metrics) {}

  /** Builds one tower's forward pass. */
  @FunctionalInterface
  public interface Tower {
    /**
     * @param tf ops scoped and placed for this tower
     * @param vars this tower's variables (ON_HOST: the same store for every tower)
     * @param images this tower's share [B/K, ...], preprocessed
     * @param seed int64 [2], distinct per tower ({@link #towerSeed})
     */
    TowerOutputs build(Ops tf, VarStore vars, Operand<TFloat32> images, Operand<TInt64> seed);
  }

  /**
   * The replicated graph.
   *
   * @param loss mean of the towers' losses {@code []} (= the mean over the whole batch)
   * @param metrics means of the towers' metrics
   * @param gradients per tower, the averaged gradient of each of its store's trainable variables,
   *     in order (ON_HOST: one list, the average on the host)
   * @param stores per tower, its variables (ON_HOST: one store)
   * @param updates the BN moving-average updates of tower 0
   * @param placement where things go
   */
  public record Replicated(
      Operand<TFloat32> loss,
      Map<String, Operand<TFloat32>> metrics,
      List<List<Operand<TFloat32>>> gradients,
      List<VarStore> stores,
      List<Op> updates,
      Placement placement) {}

  /** Name prefix of tower {@code i}'s gradient ops. */
  public static String gradientScope(int i) {
    return "tower_" + i + "_gradients";
  }

  /** Name prefix of tower {@code i}'s copies of the variables (REPLICATED, i &gt; 0). */
  public static String replicaScope(int i) {
    return "replica_" + i;
  }

  /**
   * The seed of tower {@code i}: {@code seed + [i * 0xD1B54A32D192ED03, 0]}, so the towers draw
   * different masks and dropout; tower 0's seed is {@code seed} itself.
   */
  public static Operand<TInt64> towerSeed(Ops tf, Operand<TInt64> seed, int i) {
    if (i == 0) {
      return seed;
    }
    return tf.math.add(seed, tf.constant(new long[] {i * 0xD1B54A32D192ED03L, 0L}));
  }

  /**
   * Builds K towers on shares of {@code input} and their averaged gradients. The first
   * dimension of the batch must be divisible by K at run time.
   *
   * @param tf ops for the split and the averages (placed on the host device)
   * @param vars the canonical variables (tower 0's), created under {@code placement.variables()}
   * @param seed int64 [2] step seed
   * @throws IllegalArgumentException if a trainable variable gets no gradient from a tower
   */
  public static <T extends TType> Replicated build(Ops tf, Graph g, VarStore vars,
      Placement placement, Input<T> input, Operand<TInt64> seed, Tower tower) {
    int k = placement.size();
    List<Operand<T>> shares = new ArrayList<>();
    if (k == 1) {
      shares.add(input.batch());
    } else {
      // On the host (this machine's or the chief's CPU, where the input pipeline runs), before
      // any cast: left unplaced, the placer would put the split of the whole batch on GPU:0,
      // which then sends every other GPU its share.
      Ops onHost = tf.withDevice(placement.host()).withSubScope("split_batch");
      Split<T> split = onHost.split(onHost.constant(0), input.batch(), (long) k);
      shares.addAll(split.output());
    }
    boolean replicated = placement.layout() == Layout.REPLICATED;
    List<VarStore> stores = new ArrayList<>();
    List<TowerOutputs> outs = new ArrayList<>();
    List<Op> updates = new ArrayList<>();
    List<List<Operand<TFloat32>>> grads = new ArrayList<>();
    for (int i = 0; i < k; i++) {
      Ops onTower = tf.withDevice(placement.towers().get(i));
      VarStore store = i == 0 || !replicated ? vars
          : vars.replica(replicaScope(i), Ops.create(g).withDevice(placement.towers().get(i)));
      stores.add(store);
      Ops t = onTower.withSubScope("tower_" + i);
      int before = store.updates().size();
      Operand<TFloat32> images = input.preprocess().apply(t.withSubScope("preprocess"),
          shares.get(i));
      TowerOutputs o = tower.build(t, store, images, towerSeed(t, seed, i));
      if (o.loss().shape().numDimensions() > 0) {
        throw new IllegalArgumentException("tower loss must be a scalar, got " + o.loss().shape());
      }
      if (i == 0) {
        updates.addAll(store.updates().subList(before, store.updates().size()));
      }
      outs.add(o);
      grads.add(gradients(g, i, store, o.loss()));
    }
    int nVars = grads.get(0).size();
    for (int i = 1; i < k; i++) {
      if (grads.get(i).size() != nVars) {
        throw new IllegalStateException("tower " + i + " created variables tower 0 did not ("
            + grads.get(i).size() + " vs " + nVars + " trainable)");
      }
    }
    Ops avg = tf.withDevice(placement.host()).withSubScope("tower_average");
    Operand<TFloat32> invK = avg.constant(1f / k);
    List<List<Operand<TFloat32>>> reduced = replicated
        ? Replicas.allReduce(tf, placement, grads)
        : List.of(Replicas.hostMean(avg, grads, invK));
    Operand<TFloat32> loss = average(avg, outs.stream().map(TowerOutputs::loss).toList(), invK);
    Map<String, Operand<TFloat32>> metrics = new LinkedHashMap<>();
    for (String name : outs.get(0).metrics().keySet()) {
      metrics.put(name, average(avg, outs.stream().map(o -> o.metrics().get(name)).toList(), invK));
    }
    return new Replicated(loss, metrics, reduced, replicated ? List.copyOf(stores) : List.of(vars),
        List.copyOf(updates), placement);
  }

  /** Tower {@code i}'s gradients of {@code loss} over {@code store.trainable()}. */
  private static List<Operand<TFloat32>> gradients(Graph g, int i, VarStore store,
      Operand<TFloat32> loss) {
    List<VarStore.Entry> trainable = store.trainable();
    if (trainable.isEmpty()) {
      throw new IllegalArgumentException("towers: the model created no trainable variables");
    }
    Output<?>[] xs = trainable.stream().map(e -> e.value().asOutput()).toArray(Output<?>[]::new);
    Output<?>[] dys = g.addGradients(gradientScope(i), new Output<?>[] {loss.asOutput()}, xs,
        null);
    List<Operand<TFloat32>> gi = new ArrayList<>();
    for (int j = 0; j < dys.length; j++) {
      if (dys[j] == null) {
        throw new IllegalArgumentException("tower " + i + ": no gradient for trainable variable "
            + trainable.get(j).name());
      }
      @SuppressWarnings("unchecked")
      Operand<TFloat32> d = (Operand<TFloat32>) dys[j];
      gi.add(d);
    }
    return gi;
  }

  private static Operand<TFloat32> average(
      Ops tf, List<Operand<TFloat32>> xs, Operand<TFloat32> invK) {
    if (xs.size() == 1) {
      return tf.identity(xs.get(0));
    }
    return tf.math.mul(tf.math.addN(xs), invK);
  }
}
