package dev.selfie.training.parallel;

import java.util.LinkedHashMap;
import java.util.Map;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.op.Op;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.types.family.TType;

/**
 * Places a built data-parallel graph ({@link Towers#build}): each tower's gradient ops on its
 * device and every consumer of a variable's ref on the variable's device, by rewriting the
 * GraphDef and importing it into a new graph; then finds the built graph's outputs in it.
 */
public final class GraphPlacement {
  private GraphPlacement() {}

  /**
   * The GraphDef with gradient ops and variable-ref consumers placed (see the class comment).
   * Nodes that already have a device keep it, except ref consumers whose variable has a device.
   */
  public static GraphDef placeGradients(GraphDef def, Towers.Placement placement) {
    Map<String, String> variableDevice = new LinkedHashMap<>();
    for (NodeDef n : def.getNodeList()) {
      if (Towers.VARIABLE_OPS.contains(n.getOp())) {
        variableDevice.put(n.getName(), n.getDevice());
      }
    }
    GraphDef.Builder b = def.toBuilder();
    for (NodeDef.Builder n : b.getNodeBuilderList()) {
      // Nodes the gradient code colocated with another node ("_class": "loc:@..."; e.g. the
      // Shape of a gathered variable) follow that node, as TensorFlow requires.
      if (n.getDevice().isEmpty() && !n.containsAttr("_class")) {
        for (int i = 0; i < placement.size(); i++) {
          if (n.getName().startsWith(Towers.gradientScope(i) + "/")) {
            n.setDevice(placement.towers().get(i).toString());
            break;
          }
        }
      }
      if (Towers.VARIABLE_OPS.contains(n.getOp())) {
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
  public static Graph rebuild(Graph built, Towers.Placement placement) {
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
