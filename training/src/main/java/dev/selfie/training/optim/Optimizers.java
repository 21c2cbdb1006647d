package dev.selfie.training.optim;

import dev.selfie.graph.VarStore;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.runtime.LossScale;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.train.ApplyAdam;
import org.tensorflow.op.train.ApplyMomentum;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;

/**
 * Builds the training op: gradients of the loss with {@code Graph.addGradients} over the trainable
 * variables' reads, L2 weight decay on kernels ({@code grad += wd*w}) if configured, optional
 * global-norm clipping, decoupled weight decay on kernels ({@code w -= lr*wd*w}, the default
 * {@link OptimizerConfig.WeightDecayType}) if configured, then SGD
 * (Nesterov) momentum or Adam with raw {@code ApplyMomentum}/{@code ApplyAdam} ops on the
 * {@code VariableV2} refs, the model's extra updates (BN moving averages), and the step increment.
 *
 * <p>Ordering inside one {@code session.run(trainOp)}: all gradients (and thus the loss and every
 * forward read) are computed first; then each kernel is decayed and updated; then the global step
 * is incremented. The learning rate of a step is the schedule at the step value before the
 * increment. Optimizer slots are STATE variables of the same {@link VarStore} named
 * {@code <var>/momentum}, {@code <var>/adam_m}, {@code <var>/adam_v}, so checkpoints include them;
 * Adam's bias corrections use {@code beta^(step+1)} computed from the global step.
 */
public final class Optimizers {
  private Optimizers() {}

  /**
   * The training op and what it computes.
   *
   * @param trainOp run this once per step
   * @param learningRate scalar {@code []} learning rate used by this step
   * @param gradientNorm scalar {@code []} global L2 norm of the gradients before clipping
   * @param slots the optimizer slot entries created (STATE kind)
   */
  public record TrainOp(
      Op trainOp,
      Operand<TFloat32> learningRate,
      Operand<TFloat32> gradientNorm,
      List<VarStore.Entry> slots) {}

  /**
   * A different treatment of some variables (the layers restored from pretraining, when
   * finetuning): their learning rate is {@code lr * lrScale}, and before step {@code frozenUntil}
   * their gradient and learning rate are zero, so neither the update, the momentum slot nor the
   * weight decay moves them (LP-FT: the head trains first, then all layers).
   *
   * @param names the variables concerned (VarStore names)
   * @param lrScale learning-rate multiplier, &gt;= 0
   * @param frozenUntil first step at which they train; 0 = from the start
   */
  public record Layerwise(java.util.Set<String> names, double lrScale, long frozenUntil) {
    public Layerwise {
      names = java.util.Set.copyOf(names);
      if (!(lrScale >= 0 && Double.isFinite(lrScale))) {
        throw new IllegalArgumentException("lrScale must be >= 0, got " + lrScale);
      }
      if (frozenUntil < 0) {
        throw new IllegalArgumentException("frozenUntil must be >= 0, got " + frozenUntil);
      }
    }
  }

  /**
   * Creates slots and update ops minimising {@code loss} over {@code vars.trainable()}.
   *
   * @param loss scalar float loss {@code []}
   * @throws IllegalArgumentException if there is nothing to train or a variable gets no gradient
   */
  public static TrainOp minimize(
      Ops tf, Graph g, Operand<TFloat32> loss, VarStore vars, OptimizerConfig c, GlobalStep step) {
    return minimize(tf, g, loss, vars, c, step, null, null);
  }

  /**
   * {@link #minimize(Ops, Graph, Operand, VarStore, OptimizerConfig, GlobalStep)} with a
   * {@link Layerwise} treatment of some variables; {@code layerwise} null = the same for all.
   */
  public static TrainOp minimize(Ops tf, Graph g, Operand<TFloat32> loss, VarStore vars,
      OptimizerConfig c, GlobalStep step, Layerwise layerwise) {
    return minimize(tf, g, loss, vars, c, step, layerwise, null);
  }

  /**
   * {@link #minimize} with dynamic loss scaling ({@link LossScale}; null = none): the scaled loss
   * is differentiated, the gradients unscaled, and a step with a non-finite gradient skipped.
   */
  public static TrainOp minimize(Ops tf, Graph g, Operand<TFloat32> loss, VarStore vars,
      OptimizerConfig c, GlobalStep step, LossScale.Config lossScale) {
    return minimize(tf, g, loss, vars, c, step, null, lossScale);
  }

  /**
   * {@link #minimize} with a {@link Layerwise} treatment (null = none) and dynamic loss scaling
   * (null = none). The layer-wise gate and learning-rate scale, and L2 weight decay, act on the
   * unscaled gradients.
   */
  public static TrainOp minimize(Ops tf, Graph g, Operand<TFloat32> loss, VarStore vars,
      OptimizerConfig c, GlobalStep step, Layerwise layerwise, LossScale.Config lossScale) {
    List<VarStore.Entry> trainable = vars.trainable();
    if (trainable.isEmpty()) {
      throw new IllegalArgumentException("minimize: the VarStore has no trainable variables");
    }
    if (loss.shape().numDimensions() > 0) {
      throw new IllegalArgumentException("minimize: loss must be a scalar, got " + loss.shape());
    }
    Output<?>[] xs = trainable.stream().map(e -> e.value().asOutput()).toArray(Output<?>[]::new);
    // Created after the trainable list is taken: STATE variables, never differentiated.
    LossScale.State ls = lossScale == null ? null : LossScale.create(vars, lossScale);
    Operand<TFloat32> differentiated = ls == null ? loss : LossScale.scaleLoss(tf, loss, ls);
    Output<?>[] dys = g.addGradients(differentiated.asOutput(), xs);
    List<Operand<TFloat32>> grads = new ArrayList<>();
    for (int i = 0; i < dys.length; i++) {
      if (dys[i] == null) {
        throw new IllegalArgumentException(
            "minimize: no gradient for trainable variable " + trainable.get(i).name());
      }
      @SuppressWarnings("unchecked")
      Operand<TFloat32> gi = (Operand<TFloat32>) dys[i];
      grads.add(gi);
    }
    return applyGradients(tf, loss, grads, vars.updates(), vars, c, step, layerwise, ls);
  }

  /**
   * The update of {@link #minimize} from gradients computed elsewhere, e.g. the average of the
   * towers' gradients in data-parallel training ({@link dev.selfie.training.parallel.Towers}).
   *
   * @param loss scalar loss {@code []}; the updates also wait for it
   * @param gradients one gradient per entry of {@code vars.trainable()}, same order and shapes
   * @param updates extra ops each step runs with the update (BN moving averages)
   */
  public static TrainOp applyGradients(Ops tf, Operand<TFloat32> loss,
      List<Operand<TFloat32>> gradients, List<Op> updates, VarStore vars, OptimizerConfig c,
      GlobalStep step) {
    return applyGradients(tf, loss, gradients, updates, vars, c, step, null, null);
  }

  /** {@link #applyGradients} with a {@link Layerwise} treatment (null = none). */
  public static TrainOp applyGradients(Ops tf, Operand<TFloat32> loss,
      List<Operand<TFloat32>> gradients, List<Op> updates, VarStore vars, OptimizerConfig c,
      GlobalStep step, Layerwise layerwise) {
    return applyGradients(tf, loss, gradients, updates, vars, c, step, layerwise, null);
  }

  /** {@link #applyGradients} of gradients of the loss scaled by {@code ls} (null = unscaled). */
  public static TrainOp applyGradients(Ops tf, Operand<TFloat32> loss,
      List<Operand<TFloat32>> gradients, List<Op> updates, VarStore vars, OptimizerConfig c,
      GlobalStep step, LossScale.State ls) {
    return applyGradients(tf, loss, gradients, updates, vars, c, step, null, ls);
  }

  /**
   * {@link #applyGradients} with a {@link Layerwise} treatment (null = none) of gradients of the
   * loss scaled by {@code ls} (null = unscaled): they are divided by the scale first, so L2 weight
   * decay, clipping and the layer-wise gate/lr scale act on unscaled gradients; when any loss
   * gradient is not finite, the step's learning rate becomes 0, its gradients (with their L2 term)
   * 0 and its momentum/betas 1, which leaves variables and slots exactly as they were (no weight
   * decay either), and the scale halves ({@link LossScale#update}).
   */
  public static TrainOp applyGradients(Ops tf, Operand<TFloat32> loss,
      List<Operand<TFloat32>> gradients, List<Op> updates, VarStore vars, OptimizerConfig c,
      GlobalStep step, Layerwise layerwise, LossScale.State ls) {
    Applied a = apply(tf, loss, gradients, vars, c, step, layerwise, ls);
    List<Op> all = new ArrayList<>(a.updates());
    all.addAll(updates);
    if (ls != null) {
      all.addAll(LossScale.update(a.afterGradients(), ls, a.finite()));
    }
    return incrementStep(a.ops(), all, step, a);
  }

  /**
   * The variable updates of one {@link #applyGradients} call, before the step increment.
   *
   * @param updates the optimizer's update ops (one per trainable variable)
   * @param learningRate scheduled learning rate {@code []}
   * @param gradientNorm global gradient norm {@code []} before clipping
   * @param slots slot entries created
   * @param ops the {@code optimizer} scope the updates were built in
   * @param afterGradients {@code ops} waiting for every gradient
   * @param finite all gradients finite (loss scaling), or null
   */
  public record Applied(List<Op> updates, Operand<TFloat32> learningRate,
      Operand<TFloat32> gradientNorm, List<VarStore.Entry> slots, Ops ops, Ops afterGradients,
      Operand<TBool> finite) {}

  /**
   * Increments the global step after every op of {@code all} and returns the training op with
   * {@code a}'s learning rate, gradient norm and slots (plus {@code moreSlots}).
   */
  public static TrainOp incrementStep(Ops opt, List<Op> all, GlobalStep step, Applied a,
      List<VarStore.Entry> moreSlots) {
    Op inc = opt.withControlDependencies(all).withName("increment_step").noOp();
    Op incremented = opt.withControlDependencies(List.of(inc)).assignAdd(
        step.variable(), opt.constant(1L));
    Op train = opt.withControlDependencies(List.of(incremented)).withName("train").noOp();
    List<VarStore.Entry> slots = new ArrayList<>(a.slots());
    slots.addAll(moreSlots);
    return new TrainOp(train, a.learningRate(), a.gradientNorm(), List.copyOf(slots));
  }

  private static TrainOp incrementStep(Ops opt, List<Op> all, GlobalStep step, Applied a) {
    return incrementStep(opt, all, step, a, List.of());
  }

  /**
   * Everything of {@link #applyGradients} but the extra updates, the loss-scale update and the
   * step increment: data-parallel training with replicated variables calls it once per tower
   * ({@link dev.selfie.training.parallel.Replicas}) and increments the step once.
   */
  public static Applied apply(Ops tf, Operand<TFloat32> loss, List<Operand<TFloat32>> gradients,
      VarStore vars, OptimizerConfig c, GlobalStep step, Layerwise layerwise,
      LossScale.State ls) {
    List<VarStore.Entry> trainable = vars.trainable();
    if (gradients.size() != trainable.size()) {
      throw new IllegalArgumentException("applyGradients: " + gradients.size()
          + " gradients for " + trainable.size() + " trainable variables");
    }
    List<Operand<TFloat32>> grads = new ArrayList<>(gradients);
    Ops opt = tf.withSubScope("optimizer");
    Operand<TFloat32> scheduled = Schedules.warmupCosine(
        opt, step.value(), c.baseLr(), c.warmupSteps(), c.totalSteps());
    Operand<TFloat32> lr = scheduled;
    Operand<TBool> finite = null;
    if (ls != null) {
      grads = new ArrayList<>(LossScale.unscale(opt, grads, ls));
      finite = LossScale.allFinite(opt, grads);
    }
    boolean l2 = c.weightDecay() > 0 && c.weightDecayType() == OptimizerConfig.WeightDecayType.L2;
    boolean decoupled =
        c.weightDecay() > 0 && c.weightDecayType() == OptimizerConfig.WeightDecayType.DECOUPLED;
    if (l2) {
      // grad + wd * w: the gradient of loss + wd/2 |w|^2, so it is clipped and goes through the
      // momentum like the loss gradient. The read happens with the gradients, before any update.
      Operand<TFloat32> wd = opt.constant((float) c.weightDecay());
      for (int i = 0; i < trainable.size(); i++) {
        VarStore.Entry e = trainable.get(i);
        if (e.kind() == VarStore.Kind.KERNEL) {
          grads.set(i, opt.math.add(grads.get(i), opt.math.mul(wd, opt.identity(e.variable()))));
        }
      }
    }
    Operand<TFloat32> norm = globalNorm(opt, grads);
    if (finite != null) {
      Operand<TBool> f = finite;
      grads.replaceAll(gr -> LossScale.zeroUnlessFinite(opt, f, gr));
      lr = opt.select(f, lr, opt.constant(0f));
    }
    // 1 on a skipped step: ApplyMomentum's accum = accum * 1 + 0, Adam's m, v unchanged.
    Operand<TFloat32> keep = finite == null ? null : opt.constant(1f);
    if (c.clipGlobalNorm() > 0) {
      Operand<TFloat32> clip = opt.constant((float) c.clipGlobalNorm());
      Operand<TFloat32> scale = opt.math.div(clip, opt.math.maximum(norm, clip));
      grads.replaceAll(gr -> opt.math.mul(gr, scale));
    }

    // Every update waits for every gradient: the reads (identity of a ref) alias the variable
    // buffers, so an early in-place update would corrupt another variable's gradient.
    List<Op> gradDeps = new ArrayList<>(grads);
    gradDeps.add(loss);
    if (finite != null) {
      gradDeps.add(finite);
    }
    Ops afterGrads = opt.withControlDependencies(gradDeps);
    Operand<TFloat32> wdLr = decoupled
        ? afterGrads.math.mul(lr, afterGrads.constant((float) c.weightDecay())) : null;
    // Layer-wise: gate = 1 once step >= frozenUntil, else 0; their lr = lr * scale * gate.
    Operand<TFloat32> gate = null;
    Operand<TFloat32> scaledLr = null;
    Operand<TFloat32> scaledWdLr = null;
    if (layerwise != null) {
      gate = afterGrads.dtypes.cast(afterGrads.math.greaterEqual(step.value(),
          afterGrads.constant(layerwise.frozenUntil())), TFloat32.class);
      Operand<TFloat32> factor =
          afterGrads.math.mul(afterGrads.constant((float) layerwise.lrScale()), gate);
      scaledLr = afterGrads.math.mul(lr, factor);
      scaledWdLr = wdLr == null ? null : afterGrads.math.mul(wdLr, factor);
    }
    List<Op> applied = new ArrayList<>();
    List<VarStore.Entry> slots = new ArrayList<>();
    for (int i = 0; i < trainable.size(); i++) {
      VarStore.Entry e = trainable.get(i);
      Operand<TFloat32> grad = grads.get(i);
      Operand<TFloat32> varLr = lr;
      Operand<TFloat32> varWdLr = wdLr;
      if (layerwise != null && layerwise.names().contains(e.name())) {
        grad = afterGrads.math.mul(grad, gate);
        varLr = scaledLr;
        varWdLr = scaledWdLr;
      }
      Ops u = afterGrads;
      if (varWdLr != null && e.kind() == VarStore.Kind.KERNEL) {
        Operand<TFloat32> w = afterGrads.identity(e.variable());
        Op decay = afterGrads.assignSub(e.variable(), afterGrads.math.mul(varWdLr, w));
        u = afterGrads.withControlDependencies(List.of(decay));
      }
      switch (c.kind()) {
        case SGD -> {
          Operand<TFloat32> accum = slot(vars, e, "momentum", slots);
          Operand<TFloat32> momentum = u.constant((float) c.momentum());
          if (finite != null) {
            momentum = u.select(finite, momentum, keep);
          }
          applied.add(u.train.applyMomentum(e.variable(), accum, varLr, grad,
              momentum, ApplyMomentum.useNesterov(c.nesterov())));
        }
        case ADAM -> {
          Operand<TFloat32> m = slot(vars, e, "adam_m", slots);
          Operand<TFloat32> v = slot(vars, e, "adam_v", slots);
          Operand<TFloat32> t = u.math.add(u.dtypes.cast(step.value(), TFloat32.class),
              u.constant(1f));
          Operand<TFloat32> b1 = u.constant((float) c.beta1());
          Operand<TFloat32> b2 = u.constant((float) c.beta2());
          Operand<TFloat32> b1Power = u.math.pow(b1, t);
          Operand<TFloat32> b2Power = u.math.pow(b2, t);
          if (finite != null) {
            b1 = u.select(finite, b1, keep);
            b2 = u.select(finite, b2, keep);
          }
          applied.add(u.train.applyAdam(e.variable(), m, v, b1Power, b2Power,
              varLr, b1, b2, u.constant((float) c.epsilon()), grad, ApplyAdam.useNesterov(false)));
        }
      }
    }
    return new Applied(List.copyOf(applied), scheduled, norm, List.copyOf(slots), opt, afterGrads,
        finite);
  }

  /** Global L2 norm {@code []} of a list of tensors: sqrt(sum_i sum(g_i^2)). */
  public static Operand<TFloat32> globalNorm(Ops tf, List<Operand<TFloat32>> tensors) {
    Ops s = tf.withSubScope("global_norm");
    Operand<TFloat32> sum = null;
    for (Operand<TFloat32> t : tensors) {
      Operand<TFloat32> sq = s.reduceSum(s.math.square(t), allAxes(s, t));
      sum = sum == null ? sq : s.math.add(sum, sq);
    }
    return s.math.sqrt(sum);
  }

  private static Operand<org.tensorflow.types.TInt32> allAxes(Ops s, Operand<?> t) {
    return s.range(s.constant(0), s.rank(t), s.constant(1));
  }

  private static Operand<TFloat32> slot(
      VarStore vars, VarStore.Entry e, String suffix, List<VarStore.Entry> created) {
    String name = e.name() + "/" + suffix;
    vars.variable(name, e.shape(), VarStore.Kind.STATE, (init, shape) -> init.zeros(
        init.constant(shape), TFloat32.class));
    VarStore.Entry slot = vars.get(name);
    created.add(slot);
    return slot.variable();
  }
}
