package dev.selfie.training.parallel;

import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeleteBuffer;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_GetRegisteredKernelsForOp;

import dev.selfie.graph.VarStore;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.optim.Optimizers;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.tensorflow.Operand;
import org.tensorflow.TensorFlow;
import org.tensorflow.internal.c_api.TF_Buffer;
import org.tensorflow.internal.c_api.TF_Status;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.NcclAllReduce;
import org.tensorflow.proto.KernelList;
import org.tensorflow.types.TFloat32;

/**
 * Replicated variables for {@link Towers} ({@link Towers.Layout#REPLICATED}): the all-reduce of
 * the towers' gradients, one optimizer update per tower on its own copy, and the op that copies
 * tower 0's variables into the other towers' after a restore.
 *
 * <p>All-reduce: with {@link Towers.Reduction#NCCL}, one {@code NcclAllReduce(sum)} per gradient
 * and tower on the tower's GPU (the K ops of a gradient share a {@code shared_name}), then a
 * multiplication by 1/K on each GPU; NCCL's ring gives every GPU the same sum. With
 * {@link Towers.Reduction#HOST}, one {@code add_n} of the K gradients times 1/K on the host
 * device, copied to each tower by an {@code identity} placed there: the same tensor reaches every
 * tower. Either way, every tower applies the same mean to identical copies with the same ops, so
 * the copies stay identical (bit for bit with the host reduction) and equal to one update of a
 * single copy with the mean gradient, which is what {@link Towers.Layout#ON_HOST} does.
 */
public final class Replicas {
  private Replicas() {}

  /** Name of the op that copies tower 0's variables into the other towers' copies. */
  public static final String SYNC_OP = "sync_replicas";

  /**
   * True when the loaded TensorFlow has a GPU kernel for {@code NcclAllReduce} (TensorFlow's GPU
   * builds compile NCCL in; the CPU build has the op's definition but no kernel). A graph with an
   * op that has no kernel anywhere fails at the session's first run, even with soft placement.
   */
  public static boolean ncclAvailable() {
    TensorFlow.version(); // loads the native library
    try (TF_Status status = TF_Status.newStatus()) {
      TF_Buffer b = TF_GetRegisteredKernelsForOp(NcclAllReduce.OP_NAME, status);
      status.throwExceptionIfNotOK();
      try {
        byte[] bytes = new byte[(int) b.length()];
        new BytePointer(b.data()).get(bytes);
        return KernelList.parseFrom(bytes).getKernelList().stream()
            .anyMatch(k -> k.getDeviceType().equals("GPU"));
      } finally {
        TF_DeleteBuffer(b);
      }
    } catch (com.google.protobuf.InvalidProtocolBufferException | RuntimeException e) {
      return false;
    }
  }

  /**
   * The mean over towers of each gradient, as seen by each tower.
   *
   * @param grads per tower, its gradients (same count and shapes in every tower)
   * @return per tower, the means, each on the tower's device
   */
  static List<List<Operand<TFloat32>>> allReduce(Ops tf, Towers.Placement p,
      List<List<Operand<TFloat32>>> grads) {
    int k = p.size();
    int n = grads.get(0).size();
    List<List<Operand<TFloat32>>> out = new ArrayList<>();
    if (k == 1) {
      out.add(grads.get(0));
      return out;
    }
    List<Ops> towers = new ArrayList<>();
    for (int i = 0; i < k; i++) {
      towers.add(tf.withDevice(p.towers().get(i)).withSubScope("all_reduce_" + i));
      out.add(new ArrayList<>());
    }
    if (p.reduction() == Towers.Reduction.NCCL) {
      for (int j = 0; j < n; j++) {
        for (int i = 0; i < k; i++) {
          Ops t = towers.get(i);
          Operand<TFloat32> sum = t.ncclAllReduce(grads.get(i).get(j), "sum", (long) k,
              "gradient_" + j);
          out.get(i).add(t.math.mul(sum, t.constant(1f / k)));
        }
      }
      return out;
    }
    Ops host = tf.withDevice(p.host()).withSubScope("all_reduce_host");
    List<Operand<TFloat32>> mean = hostMean(host, grads, host.constant(1f / k));
    for (int j = 0; j < n; j++) {
      for (int i = 0; i < k; i++) {
        out.get(i).add(towers.get(i).identity(mean.get(j)));
      }
    }
    return out;
  }

  /** The mean over towers of each gradient, on {@code avg}'s device. */
  static List<Operand<TFloat32>> hostMean(Ops avg, List<List<Operand<TFloat32>>> grads,
      Operand<TFloat32> invK) {
    List<Operand<TFloat32>> mean = new ArrayList<>();
    for (int j = 0; j < grads.get(0).size(); j++) {
      if (grads.size() == 1) {
        mean.add(grads.get(0).get(j));
      } else {
        List<Operand<TFloat32>> parts = new ArrayList<>();
        for (List<Operand<TFloat32>> gi : grads) {
          parts.add(gi.get(j));
        }
        mean.add(avg.math.mul(avg.math.addN(parts), invK));
      }
    }
    return mean;
  }

  /**
   * The training op and, for replicated variables, the copy op.
   *
   * @param train one step: every update, tower 0's BN updates, one step increment
   * @param sync copies tower 0's variables (weights, slots, BN statistics) into the other
   *     towers' copies; run it after every restore. Null with variables on the host.
   */
  public record Train(Optimizers.TrainOp train, Op sync) {}

  /**
   * Applies {@code rep}'s averaged gradients: ON_HOST, once on the host
   * ({@link Optimizers#applyGradients}); REPLICATED, once per tower on its copy and device (tower
   * 0's update ops keep the names of a single-device run), then one step increment.
   */
  static Train train(Ops tf, Towers.Replicated rep, OptimizerConfig c, GlobalStep step) {
    Towers.Placement p = rep.placement();
    if (p.layout() == Towers.Layout.ON_HOST) {
      return new Train(Optimizers.applyGradients(tf.withDevice(p.host()), rep.loss(),
          rep.gradients().get(0), rep.updates(), rep.stores().get(0), c, step), null);
    }
    List<Op> all = new ArrayList<>();
    Optimizers.Applied first = null;
    for (int i = 0; i < p.size(); i++) {
      Ops t = tf.withDevice(p.towers().get(i));
      if (i > 0) {
        t = t.withSubScope(Towers.replicaScope(i));
      }
      Optimizers.Applied a = Optimizers.apply(t, rep.loss(), rep.gradients().get(i),
          rep.stores().get(i), c, step, null, null);
      all.addAll(a.updates());
      if (i == 0) {
        first = a;
      }
    }
    all.addAll(rep.updates());
    Optimizers.TrainOp train = Optimizers.incrementStep(first.ops(), all, step, first, List.of());
    return new Train(train, sync(tf, rep));
  }

  /**
   * One op assigning each copy of tower i &gt; 0 from tower 0's variable; created after the
   * optimizer so that slots are included.
   */
  static Op sync(Ops tf, Towers.Replicated rep) {
    List<Op> assigns = new ArrayList<>();
    for (int i = 1; i < rep.stores().size(); i++) {
      Ops t = tf.withDevice(rep.placement().towers().get(i))
          .withSubScope(Towers.replicaScope(i) + "_sync");
      for (VarStore.Entry[] pair : rep.stores().get(i).copies()) {
        assigns.add(t.assign(pair[0].variable(), pair[1].value()));
      }
    }
    return tf.withControlDependencies(assigns).withName(SYNC_OP).noOp();
  }
}
