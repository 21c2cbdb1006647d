package dev.selfie.graph;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Variable;
import org.tensorflow.proto.DataType;
import org.tensorflow.types.TFloat32;

/**
 * The variables of one model graph, by kind, in creation order.
 *
 * <p>Every weight of the model is created through {@link #variable}: a {@code VariableV2} (what
 * {@code Session.save}/{@code restore} and the SavedModel exporter see; resource variables are
 * silently skipped by both), initialised in the init scope, and read through {@code identity}
 * (ops applied to a raw {@code float_ref} break {@code addGradients}). The variable's full graph
 * name is the contract between pretraining, finetuning, checkpoints and SavedModels.
 *
 * <p>Kinds: {@link Kind#KERNEL} are trainable and weight-decayed (conv and dense kernels);
 * {@link Kind#TRAINABLE} are trained without decay (BN/LN gamma and beta, biases, embeddings,
 * u0); {@link Kind#STATE} are not trained (BN moving statistics). {@link #updates()} holds the ops
 * a training step must run besides the optimizer (BN moving-average updates).
 */
public final class VarStore {

  /** What the optimizer does with a variable. */
  public enum Kind {
    /** Trainable, with weight decay (conv/dense kernels). */
    KERNEL,
    /** Trainable, no weight decay (norm scales/offsets, biases, embeddings, query token). */
    TRAINABLE,
    /** Not trainable (batch-norm moving mean/variance, counters). */
    STATE
  }

  /**
   * One variable.
   *
   * @param name full graph op name of the VariableV2 (e.g. {@code patch/stage1/block0/conv1/kernel});
   *     in a {@link #replica}, the canonical name (the copy's op is {@code prefix/name})
   * @param variable the VariableV2 output (a float_ref: only for assign/apply ops, never read it)
   * @param value {@code identity(variable)}: use this to read it in the model
   * @param shape static shape
   * @param kind what the optimizer does with it
   */
  public record Entry(
      String name, Operand<TFloat32> variable, Operand<TFloat32> value, Shape shape, Kind kind) {

    public boolean trainable() {
      return kind != Kind.STATE;
    }
  }

  /** Op type of a replica's copies: not a VariableV2, so TF Java's saver leaves them out. */
  public static final String REPLICA_OP = "Variable";

  private final Ops root;
  private final long initSeed;
  private final Map<String, Entry> entries = new LinkedHashMap<>();
  private final Map<String, Operand<TFloat32>> initialValues = new LinkedHashMap<>();
  private final List<Op> updates = new ArrayList<>();
  /** Non-null in a replica: the store whose variables this one copies. */
  private final VarStore primary;
  /** A replica's op-name prefix ({@code replica_1}), or null. */
  private final String prefix;
  private Ops initOps;
  private Ops assignOps;
  private Ops readOps;

  /** @param root an unscoped {@code Ops} of the graph that will hold the variables */
  public VarStore(Ops root) {
    this(root, 0L);
  }

  /**
   * @param root an unscoped {@code Ops} of the graph that will hold the variables
   * @param initSeed seed of the random initial values; the model's initializers combine it with
   *     a hash of each variable's full name, so a variable's initial value depends only on (seed,
   *     name, shape), not on creation order, and differs between seeds (e.g. baseline runs)
   */
  public VarStore(Ops root, long initSeed) {
    this(root, initSeed, null, null);
  }

  private VarStore(Ops root, long initSeed, VarStore primary, String prefix) {
    this.root = root;
    this.initSeed = initSeed;
    this.primary = primary;
    this.prefix = prefix;
  }

  /**
   * A replica of this store for another device (data-parallel towers with replicated variables):
   * asked for variable {@code name}, it makes sure this store has it, then creates its own copy,
   * the op {@code prefix/name} under {@code root}'s device, initialised with the SAME initial
   * value tensor as this store's variable (so both hold identical values after
   * {@code session.initialize()}). Entries keep the canonical {@code name}, so code that looks
   * variables up by name (optimizer slots: {@code <name>/momentum}) works unchanged on a replica.
   *
   * <p>The copies are legacy {@code Variable} ops ({@link #REPLICA_OP}; same kernel, same
   * {@code float_ref} output as {@code VariableV2}): TF Java's {@code Session.save}/{@code
   * restore} only see {@code VariableV2} ops, so checkpoints keep one copy of each variable, this
   * store's, under its usual name. After a restore, copy this store into the replica ({@link
   * #copies()}).
   */
  public VarStore replica(String prefix, Ops root) {
    if (primary != null) {
      throw new IllegalStateException("a replica of a replica: replicate the primary store");
    }
    if (prefix == null || prefix.isEmpty()) {
      throw new IllegalArgumentException("a replica needs a name prefix");
    }
    return new VarStore(root, initSeed, this, prefix);
  }

  /** True for a store made by {@link #replica}. */
  public boolean isReplica() {
    return primary != null;
  }

  /**
   * A replica's variables paired with the primary's: {@code [replica entry, primary entry]}, in
   * creation order. Empty for a primary store.
   */
  public List<Entry[]> copies() {
    if (primary == null) {
      return List.of();
    }
    return entries.values().stream().map(e -> new Entry[] {e, primary.get(e.name())}).toList();
  }

  /** Seed of the random initial values (see {@link #VarStore(Ops, long)}). */
  public long initSeed() {
    return initSeed;
  }

  /** The unscoped Ops the variables are created with. */
  public Ops root() {
    return root;
  }

  /**
   * Returns the variable of full graph name {@code name} (e.g.
   * {@code patch/stage1/block0/conv1/kernel}), creating it on first use with the initial value
   * {@code init.apply(initOps, shape)} built in the init scope. Names are given explicitly, not
   * taken from the caller's sub-scope, so a builder called twice in one graph (a training branch
   * and an inference branch) shares its weights, and the names stay the same across the
   * pretraining graph, the finetuning graph, checkpoints and SavedModels.
   *
   * @return {@code identity(variable)}: read the variable through this
   * @throws IllegalArgumentException if the name exists with another shape or kind
   */
  public Operand<TFloat32> variable(
      String name, Shape shape, Kind kind, BiFunction<Ops, Shape, Operand<TFloat32>> init) {
    Entry existing = entries.get(name);
    if (existing != null) {
      if (!existing.shape().equals(shape) || existing.kind() != kind) {
        throw new IllegalArgumentException(
            "variable " + name + " exists as " + existing.shape() + " " + existing.kind()
                + ", requested " + shape + " " + kind);
      }
      return existing.value();
    }
    Operand<TFloat32> primaryInitial = null;
    if (primary != null) {
      primary.variable(name, shape, kind, init);
      primaryInitial = primary.initialValues.get(name);
    }
    // Built with opBuilder: Ops.withName rejects '/', the C API takes full names as they are.
    Operand<TFloat32> v =
        root.scope()
            .env()
            .opBuilder(primary == null ? Variable.OP_NAME : REPLICA_OP,
                primary == null ? name : prefix + "/" + name, root.scope())
            .setAttr("shape", shape)
            .setAttr("dtype", DataType.DT_FLOAT)
            .build()
            .output(0);
    if (initOps == null) {
      // Created once: every withSubScope/withInitScope call scans all graph operations (TF Java
      // NameScope.importIdsFrom), which made building a ResNet-50 graph quadratic.
      Ops init0 = root.withInitScope();
      initOps = init0.withSubScope("init");
      assignOps = init0.withControlDependencies(List.of());
      readOps = root.withSubScope("read");
    }
    Operand<TFloat32> initial = primaryInitial != null ? primaryInitial : init.apply(initOps, shape);
    initialValues.put(name, initial);
    assignOps.assign(v, initial);
    Operand<TFloat32> read = readOps.identity(v);
    entries.put(name, new Entry(name, v, read, shape, kind));
    return read;
  }

  /** Registers an op that each training step must run (e.g. a BN moving-average update). */
  public void addUpdate(Op op) {
    updates.add(op);
  }

  /** All variables in creation order. */
  public List<Entry> all() {
    return List.copyOf(entries.values());
  }

  /** Trainable variables (KERNEL and TRAINABLE) in creation order. */
  public List<Entry> trainable() {
    return entries.values().stream().filter(Entry::trainable).toList();
  }

  /** Weight-decayed variables (KERNEL). */
  public List<Entry> kernels() {
    return entries.values().stream().filter(e -> e.kind() == Kind.KERNEL).toList();
  }

  /** Non-trainable variables (STATE). */
  public List<Entry> state() {
    return entries.values().stream().filter(e -> e.kind() == Kind.STATE).toList();
  }

  /** Ops a training step runs besides the optimizer update. */
  public List<Op> updates() {
    return Collections.unmodifiableList(updates);
  }

  /** The entry of a full variable name, or null. */
  public Entry get(String fullName) {
    return entries.get(fullName);
  }

  /** Total number of scalar parameters in the given entries. */
  public static long parameterCount(List<Entry> entries) {
    return entries.stream().mapToLong(e -> e.shape().size()).sum();
  }
}
