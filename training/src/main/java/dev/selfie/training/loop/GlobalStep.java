package dev.selfie.training.loop;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Variable;
import org.tensorflow.proto.DataType;
import org.tensorflow.types.TInt64;

/**
 * The int64 {@code VariableV2} named {@value #NAME} counting applied updates. Being a VariableV2,
 * {@code Session.save}/{@code restore} include it (create it before the first save). Initialised
 * to 0 in the init scope.
 */
public final class GlobalStep {
  /** Graph name of the variable. */
  public static final String NAME = "global_step";

  private final Operand<TInt64> variable;
  private final Operand<TInt64> value;

  private GlobalStep(Operand<TInt64> variable, Operand<TInt64> value) {
    this.variable = variable;
    this.value = value;
  }

  /** Creates {@value #NAME} in the graph of {@code tf} (once per graph). */
  public static GlobalStep create(Ops tf) {
    Ops root = Ops.create(tf.scope().env());
    Operand<TInt64> v =
        root.scope()
            .env()
            .opBuilder(Variable.OP_NAME, NAME, root.scope())
            .setAttr("shape", Shape.scalar())
            .setAttr("dtype", DataType.DT_INT64)
            .build()
            .output(0);
    Ops init = root.withInitScope();
    init.withControlDependencies(List.of()).assign(v, init.constant(0L));
    Operand<TInt64> read = root.withSubScope(NAME + "_read").identity(v);
    return new GlobalStep(v, read);
  }

  /** The variable (an int64_ref: only for assign ops). */
  public Operand<TInt64> variable() {
    return variable;
  }

  /** {@code identity(variable)}, scalar {@code []}. */
  public Operand<TInt64> value() {
    return value;
  }

  /** An op adding 1 to the step; built with {@code tf}'s control dependencies. */
  public Op increment(Ops tf) {
    return tf.assignAdd(variable, tf.constant(1L));
  }

  /** Reads the current value. */
  public long read(Session session) {
    try (Result r = session.runner().fetch(value).run()) {
      return ((TInt64) r.get(0)).getLong();
    }
  }
}
