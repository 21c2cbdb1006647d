package dev.selfie.savedmodels;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operation;
import org.tensorflow.Output;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.NdArrays;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.DataType;

/**
 * Copies weights by variable name from a checkpoint or a SavedModel into the variables of another
 * graph: the transfer between pretraining, finetuning and export, where the graphs differ (a new
 * head, an extra stage, optimizer slots) but shared weights keep their names.
 *
 * <p>The source's names, dtypes and shapes come from its checkpoint index
 * ({@link CheckpointIndex}); every selected variable is checked (present? same dtype and shape?)
 * before anything is assigned, so a mismatch leaves the target untouched. The values are read
 * with one {@code RestoreV2} op in a private graph and assigned in the target with one
 * {@code Placeholder}+{@code Assign} per variable, created once under
 * {@code weight_loader/<variable name>} (the only change made to the target graph: do not
 * restore while other threads run the graph).
 *
 * <p>Target variables are the graph's {@code VariableV2} ops (what {@code dev.selfie.graph.VarStore}
 * creates). The session's pending initializers run first (auto-init), so restored values are not
 * overwritten by a later {@code initialize()}.
 */
public final class WeightLoader {

  /**
   * What a restore did. Lists are sorted by name.
   *
   * @param restored target variables whose values now come from the source
   * @param missingInSource selected target variables the source does not have (left as they were)
   * @param notSelected target variables the selection excluded (left as they were)
   * @param unusedInSource source tensors no target variable took (optimizer slots, old heads...)
   */
  public record Report(
      List<String> restored,
      List<String> missingInSource,
      List<String> notSelected,
      List<String> unusedInSource) {

    /** Target variables that were not restored: they keep their initial (fresh) values. */
    public List<String> fresh() {
      TreeSet<String> s = new TreeSet<>(missingInSource);
      s.addAll(notSelected);
      return List.copyOf(s);
    }

    @Override
    public String toString() {
      return "restored " + restored.size() + ", missing in source " + missingInSource
          + ", not selected " + notSelected.size() + ", unused in source " + unusedInSource.size();
    }
  }

  private static final String SCOPE = "weight_loader/";

  private WeightLoader() {}

  /**
   * Restores every variable of the target graph that the source has; the others keep their
   * values and are listed in {@link Report#missingInSource()}.
   *
   * @param source a SavedModel directory or a checkpoint prefix ({@code <prefix>.index} exists)
   * @throws IllegalArgumentException on a dtype or shape mismatch (nothing is assigned)
   */
  public static Report restoreFrom(Session target, Path source) throws IOException {
    return restore(target, source, n -> true, false);
  }

  /**
   * Restores exactly {@code names}: each must exist in both the target graph and the source with
   * the same dtype and shape. Every other target variable keeps its value (listed in
   * {@link Report#notSelected()}): the finetuning contract "restore exactly these, the rest start
   * fresh".
   *
   * @throws IllegalArgumentException if a name is not a target variable, is missing from the
   *     source, or mismatches (nothing is assigned)
   */
  public static Report restoreExactly(Session target, Path source, Collection<String> names)
      throws IOException {
    Set<String> wanted = new LinkedHashSet<>(names);
    Set<String> inGraph = variables(target.graph()).keySet();
    List<String> unknown = wanted.stream().filter(n -> !inGraph.contains(n)).sorted().toList();
    if (!unknown.isEmpty()) {
      throw new IllegalArgumentException("not variables of the target graph: " + unknown);
    }
    return restore(target, source, wanted::contains, true);
  }

  /**
   * Restores the target variables selected by {@code select}.
   *
   * @param requireAll if true, a selected variable missing from the source is an error
   */
  public static Report restore(
      Session target, Path source, Predicate<String> select, boolean requireAll)
      throws IOException {
    return restore(target, source, select, UnaryOperator.identity(), requireAll);
  }

  /**
   * Restores the target variables selected by {@code select}, target variable {@code n} taking
   * the source tensor {@code sourceName.apply(n)} (e.g. {@code n -> n.replaceFirst("^resnet/",
   * "patch/")} when the finetuning graph names the pretrained backbone differently). Report lists
   * hold target names, except {@link Report#unusedInSource()} (source names).
   *
   * @param requireAll if true, a selected variable missing from the source is an error
   * @throws IllegalArgumentException on a dtype or shape mismatch, or two target variables mapped
   *     to one source tensor (nothing is assigned)
   */
  public static Report restore(
      Session target,
      Path source,
      Predicate<String> select,
      UnaryOperator<String> sourceName,
      boolean requireAll)
      throws IOException {
    Path prefix = checkpointPrefix(source);
    Map<String, CheckpointIndex.Entry> src = CheckpointIndex.read(prefix);
    Map<String, GraphOperation> vars = variables(target.graph());

    List<String> restored = new ArrayList<>();
    List<String> missing = new ArrayList<>();
    List<String> notSelected = new ArrayList<>();
    List<String> mismatches = new ArrayList<>();
    Map<String, String> sourceOf = new LinkedHashMap<>(); // source name -> target name
    for (Map.Entry<String, GraphOperation> v : vars.entrySet()) {
      String name = v.getKey();
      if (!select.test(name)) {
        notSelected.add(name);
        continue;
      }
      String from = sourceName.apply(name);
      CheckpointIndex.Entry e = src.get(from);
      if (e == null) {
        missing.add(name);
        continue;
      }
      DataType dt = v.getValue().attributes().getAttrType("dtype");
      Shape shape = v.getValue().attributes().getAttrShape("shape");
      if (e.dtype() != dt || !e.shape().equals(shape)) {
        mismatches.add(
            name + (from.equals(name) ? "" : " (from " + from + ")") + ": source " + e.dtype()
                + " " + e.shape() + ", target " + dt + " " + shape);
        continue;
      }
      String before = sourceOf.put(from, name);
      if (before != null) {
        mismatches.add(before + " and " + name + " both map to source " + from);
        continue;
      }
      restored.add(name);
    }
    if (!mismatches.isEmpty()) {
      throw new IllegalArgumentException(
          "cannot restore from " + source + ": " + String.join("; ", mismatches));
    }
    if (requireAll && !missing.isEmpty()) {
      throw new IllegalArgumentException(
          "variables missing from " + source + " (checkpoint " + prefix + "): " + missing);
    }
    if (!restored.isEmpty()) {
      assign(target, prefix, restored, restored.stream().map(sourceName).toList(), src);
    }
    Set<String> used = sourceOf.keySet();
    List<String> unused = src.keySet().stream().filter(n -> !used.contains(n)).sorted().toList();
    return new Report(
        restored.stream().sorted().toList(),
        missing.stream().sorted().toList(),
        notSelected.stream().sorted().toList(),
        unused);
  }

  /**
   * The checkpoint prefix of a SavedModel directory ({@code dir/variables/variables}) or a
   * checkpoint prefix itself.
   *
   * @throws IllegalArgumentException if neither {@code <path>/variables/variables.index} nor
   *     {@code <path>.index} exists
   */
  public static Path checkpointPrefix(Path savedModelDirOrPrefix) {
    Path sm = savedModelDirOrPrefix.resolve("variables").resolve("variables");
    if (Files.isDirectory(savedModelDirOrPrefix) && Files.isRegularFile(Path.of(sm + ".index"))) {
      return sm;
    }
    if (Files.isRegularFile(Path.of(savedModelDirOrPrefix + ".index"))) {
      return savedModelDirOrPrefix;
    }
    throw new IllegalArgumentException(
        "no weights at " + savedModelDirOrPrefix + ": expected a SavedModel directory (with"
            + " variables/variables.index) or a checkpoint prefix (with " + savedModelDirOrPrefix
            + ".index)");
  }

  /** The VariableV2 ops of a graph by name, sorted. */
  public static Map<String, GraphOperation> variables(Graph g) {
    Map<String, GraphOperation> out = new java.util.TreeMap<>();
    for (Iterator<GraphOperation> it = g.operations(); it.hasNext(); ) {
      GraphOperation op = it.next();
      if (op.type().equals("VariableV2")) {
        out.put(op.name(), op);
      }
    }
    return out;
  }

  /** Reads {@code names} from the checkpoint in a private graph and assigns them in the target. */
  private static void assign(
      Session target,
      Path prefix,
      List<String> names,
      List<String> sourceNames,
      Map<String, CheckpointIndex.Entry> src) {
    DataType[] dtypes = sourceNames.stream().map(n -> src.get(n).dtype()).toArray(DataType[]::new);
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Operation restore =
          g.opBuilder("RestoreV2", "restore", tf.scope())
              .addInput(tf.constant(prefix.toString()).asOutput())
              .addInput(tf.constant(NdArrays.vectorOfObjects(sourceNames.toArray(String[]::new))).asOutput())
              .addInput(tf.constant(NdArrays.vectorOfObjects(emptyStrings(names.size()))).asOutput())
              .setAttr("dtypes", dtypes)
              .build();
      Session.Runner read = s.runner();
      for (int i = 0; i < names.size(); i++) {
        read.fetch(restore.output(i));
      }
      Map<String, Output<?>[]> ops = assignOps(target.graph(), names, dtypes);
      try (Result values = read.run()) {
        Session.Runner write = target.runner();
        for (int i = 0; i < names.size(); i++) {
          Output<?>[] pair = ops.get(names.get(i));
          write.feed(pair[0], values.get(i)).addTarget(pair[1].op());
        }
        write.run().close();
      }
    }
  }

  private static String[] emptyStrings(int n) {
    String[] s = new String[n];
    java.util.Arrays.fill(s, "");
    return s;
  }

  /** Placeholder and Assign per variable, created once per graph under {@code weight_loader/}. */
  private static synchronized Map<String, Output<?>[]> assignOps(
      Graph g, List<String> names, DataType[] dtypes) {
    Ops tf = Ops.create(g);
    Map<String, Output<?>[]> out = new LinkedHashMap<>();
    for (int i = 0; i < names.size(); i++) {
      String name = names.get(i);
      GraphOperation value = g.operation(SCOPE + name + "/value");
      GraphOperation assign = g.operation(SCOPE + name + "/assign");
      if (value == null || assign == null) {
        value =
            (GraphOperation)
                g.opBuilder("Placeholder", SCOPE + name + "/value", tf.scope())
                    .setAttr("dtype", dtypes[i])
                    .build();
        assign =
            (GraphOperation)
                g.opBuilder("Assign", SCOPE + name + "/assign", tf.scope())
                    .addInput(g.operationOrThrow(name).output(0))
                    .addInput(value.output(0))
                    .setAttr("validate_shape", true)
                    .build();
      }
      out.put(name, new Output<?>[] {value.output(0), assign.output(0)});
    }
    return out;
  }
}
