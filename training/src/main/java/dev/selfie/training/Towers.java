package dev.selfie.training;

import dev.selfie.graph.VarStore;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.DeviceSpec;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Split;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * In-graph data-parallel replication ("towers"): the batch [B, ...] is split into K shares of
 * [B/K, ...]; tower i builds the model's forward pass on its share under device i, with the
 * SAME variables (one {@link VarStore}: builders name their variables explicitly, so calling a
 * builder K times shares the weights); each tower's gradients are taken with {@code
 * Graph.addGradients} under the prefix {@code tower_<i>_gradients}; the K gradients are averaged
 * on the variables' device and applied once ({@link Optimizers#applyGradients}). One step is
 * synchronous: every tower sees the same weights and contributes 1/K of the update, which is the
 * gradient of the mean loss over the whole batch.
 *
 * <p>Batch norm: each tower normalises with the statistics of its own share (B/K images), as in
 * TensorFlow's multi-GPU models; the moving averages are updated from tower 0's statistics only.
 *
 * <p>Devices: {@code addGradients} in TF Java 1.1.0 gives gradient ops no device, so they would all
 * run on the default device (device 0, or the chief's task). {@link #placeGradients} therefore
 * rewrites the GraphDef: every node under {@code tower_<i>_gradients/} without a device (and
 * without a colocation constraint of its own) gets tower i's device, and every node taking a variable's ref input (BN moving-average updates built inside
 * a tower) is put on that variable's device, where TensorFlow requires it. The rewritten GraphDef
 * is imported into a new {@link Graph} ({@link #rebuild}), which is the graph the session runs;
 * operations are then looked up there by name.
 */
public final class Towers {
  private Towers() {}

  /** Op types holding a variable's buffer (ops taking their output take a ref). */
  private static final List<String> VARIABLE_OPS = List.of("VariableV2", "Variable");

  /**
   * Where the towers and the variables go.
   *
   * @param towers device of each tower, K = size
   * @param variables device of the variables, the gradient average and the optimizer update
   */
  public record Placement(List<DeviceSpec> towers, DeviceSpec variables) {
    public Placement {
      if (towers == null || towers.isEmpty()) {
        throw new IllegalArgumentException("a placement needs at least one tower device");
      }
      towers = List.copyOf(towers);
    }

    /**
     * K towers on this machine: {@code /device:GPU:i} with GPUs, else {@code /device:CPU:i}
     * (virtual CPU devices: the session needs {@code device_count {CPU: K}}); variables and the
     * update on {@code /device:CPU:0} (TensorFlow's multi-GPU layout: no GPU holds the master copy).
     */
    public static Placement local(int k, boolean gpu) {
      if (k < 1) {
        throw new IllegalArgumentException("--replicas must be >= 1, got " + k);
      }
      List<DeviceSpec> t = new ArrayList<>();
      for (int i = 0; i < k; i++) {
        t.add(DeviceSpec.newBuilder()
            .deviceType(gpu ? DeviceSpec.DeviceType.GPU : DeviceSpec.DeviceType.CPU)
            .deviceIndex(i).build());
      }
      return new Placement(t, DeviceSpec.newBuilder()
          .deviceType(DeviceSpec.DeviceType.CPU).deviceIndex(0).build());
    }

    /**
     * One tower per task of {@code cluster} ({@code /job:worker/replica:0/task:i}, the placer picks
     * the task's GPU when it has one); variables and the update on the chief's CPU.
     */
    public static Placement cluster(Cluster cluster) {
      List<DeviceSpec> t = new ArrayList<>();
      for (int i = 0; i < cluster.size(); i++) {
        t.add(cluster.device(i));
      }
      return new Placement(t, cluster.cpu(0));
    }

    /** K. */
    public int size() {
      return towers.size();
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
     * @param images this tower's share [B/K, ...]
     * @param seed int64 [2], distinct per tower ({@link #towerSeed})
     */
    TowerOutputs build(Ops tf, Operand<TFloat32> images, Operand<TInt64> seed);
  }

  /**
   * The replicated graph.
   *
   * @param loss mean of the towers' losses {@code []} (= the mean over the whole batch)
   * @param metrics means of the towers' metrics
   * @param gradients averaged gradient of each {@code vars.trainable()} entry, in order
   * @param updates the BN moving-average updates of tower 0
   * @param placement where things go
   */
  public record Replicated(
      Operand<TFloat32> loss,
      Map<String, Operand<TFloat32>> metrics,
      List<Operand<TFloat32>> gradients,
      List<Op> updates,
      Placement placement) {}

  /** Name prefix of tower {@code i}'s gradient ops. */
  public static String gradientScope(int i) {
    return "tower_" + i + "_gradients";
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
   * Builds K towers on shares of {@code images} and their averaged gradients. The first
   * dimension of {@code images} must be divisible by K at run time.
   *
   * @param tf ops for the split and the averages (both placed on the variables' device)
   * @param images the whole batch [B, ...]
   * @param seed int64 [2] step seed
   * @throws IllegalArgumentException if a trainable variable gets no gradient from a tower
   */
  public static Replicated build(Ops tf, Graph g, VarStore vars, Placement placement,
      Operand<TFloat32> images, Operand<TInt64> seed, Tower tower) {
    int k = placement.size();
    List<Operand<TFloat32>> shares = new ArrayList<>();
    if (k == 1) {
      shares.add(images);
    } else {
      // On the variables' device (this machine's or the chief's CPU, where the input pipeline
      // runs): left unplaced, the placer would put the split of the whole batch on GPU:0, which
      // then sends every other GPU its share.
      Ops onHost = tf.withDevice(placement.variables()).withSubScope("split_batch");
      Split<TFloat32> split = onHost.split(onHost.constant(0), images, (long) k);
      shares.addAll(split.output());
    }
    List<TowerOutputs> outs = new ArrayList<>();
    List<Op> updates = new ArrayList<>();
    List<List<Operand<TFloat32>>> grads = new ArrayList<>();
    for (int i = 0; i < k; i++) {
      Ops t = tf.withDevice(placement.towers().get(i)).withSubScope("tower_" + i);
      int before = vars.updates().size();
      TowerOutputs o = tower.build(t, shares.get(i), towerSeed(t, seed, i));
      if (o.loss().shape().numDimensions() > 0) {
        throw new IllegalArgumentException("tower loss must be a scalar, got " + o.loss().shape());
      }
      if (i == 0) {
        updates.addAll(vars.updates().subList(before, vars.updates().size()));
      }
      outs.add(o);
      List<VarStore.Entry> trainable = vars.trainable();
      if (trainable.isEmpty()) {
        throw new IllegalArgumentException("towers: the model created no trainable variables");
      }
      Output<?>[] xs = trainable.stream().map(e -> e.value().asOutput()).toArray(Output<?>[]::new);
      Output<?>[] dys = g.addGradients(gradientScope(i), new Output<?>[] {o.loss().asOutput()},
          xs, null);
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
      grads.add(gi);
    }
    int nVars = grads.get(0).size();
    for (int i = 1; i < k; i++) {
      if (grads.get(i).size() != nVars) {
        throw new IllegalStateException("tower " + i + " created variables tower 0 did not ("
            + grads.get(i).size() + " vs " + nVars + " trainable)");
      }
    }
    Ops avg = tf.withDevice(placement.variables()).withSubScope("tower_average");
    Operand<TFloat32> invK = avg.constant(1f / k);
    List<Operand<TFloat32>> mean = new ArrayList<>();
    for (int j = 0; j < nVars; j++) {
      if (k == 1) {
        mean.add(grads.get(0).get(j));
      } else {
        List<Operand<TFloat32>> parts = new ArrayList<>();
        for (List<Operand<TFloat32>> gi : grads) {
          parts.add(gi.get(j));
        }
        mean.add(avg.math.mul(avg.math.addN(parts), invK));
      }
    }
    Operand<TFloat32> loss = average(avg, outs.stream().map(TowerOutputs::loss).toList(), invK);
    Map<String, Operand<TFloat32>> metrics = new LinkedHashMap<>();
    for (String name : outs.get(0).metrics().keySet()) {
      metrics.put(name, average(avg, outs.stream().map(o -> o.metrics().get(name)).toList(), invK));
    }
    return new Replicated(loss, metrics, mean, List.copyOf(updates), placement);
  }

  private static Operand<TFloat32> average(
      Ops tf, List<Operand<TFloat32>> xs, Operand<TFloat32> invK) {
    if (xs.size() == 1) {
      return tf.identity(xs.get(0));
    }
    return tf.math.mul(tf.math.addN(xs), invK);
  }

  /**
   * The GraphDef with gradient ops and variable-ref consumers placed (see the class comment).
   * Nodes that already have a device keep it, except ref consumers whose variable has a device.
   */
  public static GraphDef placeGradients(GraphDef def, Placement placement) {
    Map<String, String> variableDevice = new LinkedHashMap<>();
    for (NodeDef n : def.getNodeList()) {
      if (VARIABLE_OPS.contains(n.getOp())) {
        variableDevice.put(n.getName(), n.getDevice());
      }
    }
    GraphDef.Builder b = def.toBuilder();
    for (NodeDef.Builder n : b.getNodeBuilderList()) {
      // Nodes the gradient code colocated with another node ("_class": "loc:@..."; e.g. the
      // Shape of a gathered variable) follow that node, as TensorFlow requires.
      if (n.getDevice().isEmpty() && !n.containsAttr("_class")) {
        for (int i = 0; i < placement.size(); i++) {
          if (n.getName().startsWith(gradientScope(i) + "/")) {
            n.setDevice(placement.towers().get(i).toString());
            break;
          }
        }
      }
      if (VARIABLE_OPS.contains(n.getOp())) {
        continue;
      }
      for (String input : n.getInputList()) {
        if (input.startsWith("^")) {
          continue;
        }
        String node = input.contains(":") ? input.substring(0, input.indexOf(':')) : input;
        String device = variableDevice.get(node);
        if (device != null && !device.isEmpty()) {
          n.setDevice(device);
          break;
        }
      }
    }
    return b.build();
  }

  /**
   * A new graph holding {@code built}'s operations (same names) with {@link #placeGradients}
   * applied, and its initializers (TF Java carries them as the {@code Init} op of the GraphDef).
   * The caller owns (closes) the returned graph.
   */
  public static Graph rebuild(Graph built, Placement placement) {
    GraphDef def = placeGradients(built.toGraphDef(), placement);
    Graph g = new Graph();
    try {
      g.importGraphDef(def);
    } catch (RuntimeException e) {
      g.close();
      throw e;
    }
    return g;
  }

  /** The output {@code o} of {@code built} in {@code rebuilt} (looked up by op name and index). */
  @SuppressWarnings("unchecked")
  public static <T extends org.tensorflow.types.family.TType> Operand<T> find(
      Graph rebuilt, Operand<T> o) {
    Output<T> out = o.asOutput();
    return (Operand<T>) rebuilt.operationOrThrow(out.op().name()).output(out.index());
  }

  /** The operation {@code op} of {@code built} in {@code rebuilt}. */
  public static Op findOp(Graph rebuilt, Op op) {
    org.tensorflow.GraphOperation o = rebuilt.operationOrThrow(op.op().name());
    return () -> o;
  }
}
