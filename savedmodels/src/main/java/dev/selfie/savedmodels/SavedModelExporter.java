package dev.selfie.savedmodels;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Session;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.proto.MetaGraphDef;
import org.tensorflow.proto.SavedModel;
import org.tensorflow.proto.SignatureDef;

/**
 * Writes a SavedModel (tag {@code serve}) from a session on an <em>inference</em> graph whose
 * variables hold the weights to export (restored from a checkpoint, or trained in place), with
 * named signatures and extra files, replacing any previous SavedModel at the target atomically.
 *
 * <pre>{@code
 * new SavedModelExporter(session)
 *     .signature(Signature.builder().key(Endpoints.SERVING_DEFAULT)
 *         .input(Endpoints.IMAGES, images)      // uint8 [-1, H, W, C]
 *         .output(Endpoints.LOGITS, logits)     // float32 [-1, K]
 *         .build())
 *     .extraFile("config.json", configJson)
 *     .export(Path.of("runs/x/saved_model"));
 * }</pre>
 *
 * <p>Layout written: {@code saved_model.pb}, {@code variables/variables.{index,data-*}} (what
 * TensorFlow Java's exporter writes: a TF1-style SavedModel, the whole graph plus signature defs;
 * Python's {@code tf.saved_model.load} and TF Serving load it as is) and
 * {@code assets.extra/<name>} for each extra file ({@code assets.extra} is the directory the
 * SavedModel format reserves for files the graph does not reference: every loader ignores it).
 *
 * <p>Atomic replacement: the model is written to {@code .<name>.tmp-<pid>-<nanos>} beside the
 * target, synced, optionally loaded back to check it, and only then swapped in: the old model is
 * renamed to {@code .<name>.previous}, the new one renamed to the target, the old one deleted.
 * A process that dies at any point leaves either the old or the new model complete; the next
 * export (or {@link #recover(Path)}) finishes or rolls back the swap and removes stale temporary
 * directories. Concurrent exports to one target are serialized by a lock file
 * {@code .<name>.lock} (across processes) and a lock per target path (across threads).
 *
 * <p>TensorFlow Java builds a graph's save/restore ops once, at its first save or export:
 * variables created after that are silently left out. Build the whole inference graph first.
 */
public final class SavedModelExporter {

  /** Directory inside the SavedModel that holds the extra files. */
  public static final String EXTRA_DIR = "assets.extra";
  /** The method name given to signatures that have none (TF Serving's Predict API). */
  public static final String PREDICT_METHOD = "tensorflow/serving/predict";
  /** The MetaGraphDef tag written (and loaded by {@link dev.selfie.savedmodels.serving.ModelServer}). */
  public static final String TAG = SavedModelBundle.DEFAULT_TAG;

  /** A test hook run after the new model is fully written, before the swap. */
  interface BeforeSwap {
    void run(Path written) throws IOException;
  }

  /** File locks are per process: threads of one JVM exporting to one target queue here first. */
  private static final ConcurrentHashMap<Path, ReentrantLock> LOCAL_LOCKS = new ConcurrentHashMap<>();

  private final Session session;
  private final Map<String, Signature> signatures = new LinkedHashMap<>();
  private final Map<String, byte[]> extraFiles = new TreeMap<>();
  private boolean verify = true;
  private BeforeSwap beforeSwap = p -> {};

  /** @param session a session on the inference graph, variables initialized or restored */
  public SavedModelExporter(Session session) {
    this.session = session;
  }

  /**
   * Adds a signature. Every input must have a dynamic first (batch) dimension, e.g. a
   * placeholder of shape {@code [-1, H, W, C]}, so that clients can send any batch size.
   *
   * @throws IllegalArgumentException on a duplicate key, no inputs or outputs, or an input whose
   *     batch dimension is static or missing
   */
  public SavedModelExporter signature(Signature signature) {
    String key = signature.key();
    if (signatures.containsKey(key)) {
      throw new IllegalArgumentException("duplicate signature key '" + key + "'");
    }
    if (signature.getInputs().isEmpty() || signature.getOutputs().isEmpty()) {
      throw new IllegalArgumentException(
          "signature '" + key + "' needs at least one input and one output");
    }
    signature
        .getInputs()
        .forEach(
            (name, d) -> {
              Shape s = d.shape;
              if (s.isUnknown() || s.numDimensions() == 0 || s.size(0) != Shape.UNKNOWN_SIZE) {
                throw new IllegalArgumentException(
                    "signature '" + key + "' input '" + name + "' (" + d.name + ") has shape " + s
                        + ": expected a dynamic batch dimension first, e.g. a placeholder of shape"
                        + " [-1, H, W, C]");
              }
            });
    signatures.put(key, signature);
    return this;
  }

  /** Adds several signatures (see {@link #signature(Signature)}). */
  public SavedModelExporter signatures(List<Signature> list) {
    list.forEach(this::signature);
    return this;
  }

  /**
   * Adds a file written to {@code assets.extra/<name>}.
   *
   * @param name a plain file name (no path separators, not "." or "..")
   */
  public SavedModelExporter extraFile(String name, byte[] content) {
    if (name.isEmpty()
        || name.contains("/")
        || name.contains("\\")
        || name.equals(".")
        || name.equals("..")) {
      throw new IllegalArgumentException(
          "extra file name '" + name + "': expected a plain file name like config.json");
    }
    extraFiles.put(name, content.clone());
    return this;
  }

  /** Adds a UTF-8 text file written to {@code assets.extra/<name>}. */
  public SavedModelExporter extraFile(String name, String text) {
    return extraFile(name, text.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * Whether to load the written model back with {@link SavedModelBundle#load} and check its
   * signature keys before swapping it in (default true; costs one load).
   */
  public SavedModelExporter verify(boolean verify) {
    this.verify = verify;
    return this;
  }

  SavedModelExporter beforeSwap(BeforeSwap hook) {
    this.beforeSwap = hook;
    return this;
  }

  /**
   * Writes the SavedModel to {@code target} (a directory), replacing any previous SavedModel
   * there only once the new one is complete.
   *
   * @return the absolute target path
   * @throws IllegalStateException if no signature was added
   * @throws IllegalArgumentException if {@code target} exists and is neither a SavedModel
   *     directory nor an empty directory
   * @throws IOException if writing fails; the previous model is then left in place
   */
  public Path export(Path target) throws IOException {
    if (signatures.isEmpty()) {
      throw new IllegalStateException("no signature added: nothing to export to " + target);
    }
    Path dir = target.toAbsolutePath().normalize();
    Path parent = dir.getParent();
    Files.createDirectories(parent);
    String name = dir.getFileName().toString();
    ReentrantLock local = LOCAL_LOCKS.computeIfAbsent(dir, d -> new ReentrantLock());
    local.lock();
    try (FileChannel lockFile =
            FileChannel.open(
                parent.resolve("." + name + ".lock"),
                StandardOpenOption.CREATE,
                StandardOpenOption.WRITE);
        FileLock lock = lockFile.lock()) {
      recoverLocked(dir);
      if (Files.exists(dir) && !isSavedModel(dir) && !isEmptyDirectory(dir)) {
        throw new IllegalArgumentException(
            "refusing to replace " + dir + ": it exists and is not a SavedModel directory"
                + " (no saved_model.pb and variables/variables.index)");
      }
      Path tmp = parent.resolve("." + name + ".tmp-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
      try {
        write(tmp);
        beforeSwap.run(tmp);
        Path aside = aside(dir);
        if (Files.exists(dir)) {
          Files.move(dir, aside, StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
        syncDirectory(parent);
        deleteRecursively(aside);
      } finally {
        deleteRecursively(tmp);
      }
    } finally {
      local.unlock();
    }
    return dir;
  }

  private void write(Path tmp) throws IOException {
    SavedModelBundle.Exporter exporter =
        SavedModelBundle.exporter(tmp.toString()).withTags(TAG).withSession(session);
    signatures.values().forEach(exporter::withSignature);
    exporter.export();
    setMethodNames(tmp.resolve("saved_model.pb"));
    if (!extraFiles.isEmpty()) {
      Path extra = Files.createDirectories(tmp.resolve(EXTRA_DIR));
      for (Map.Entry<String, byte[]> e : extraFiles.entrySet()) {
        Files.write(extra.resolve(e.getKey()), e.getValue());
      }
    }
    if (!isSavedModel(tmp)) {
      throw new IOException("export to " + tmp + " did not write saved_model.pb and variables");
    }
    syncTree(tmp);
    if (verify) {
      try (SavedModelBundle b = SavedModelBundle.load(tmp.toString(), TAG)) {
        Set<String> keys =
            b.signatures().stream().map(Signature::key).collect(Collectors.toSet());
        if (!keys.containsAll(signatures.keySet())) {
          throw new IOException(
              "the SavedModel written to " + tmp + " has signatures " + keys + ", expected "
                  + signatures.keySet());
        }
      }
    }
  }

  /**
   * Gives every signature without a method name the Predict API's, {@code
   * tensorflow/serving/predict} (TensorFlow Java leaves it empty; TF Serving and {@code
   * saved_model_cli} expect it).
   */
  private static void setMethodNames(Path savedModelPb) throws IOException {
    SavedModel.Builder sm = SavedModel.parseFrom(Files.readAllBytes(savedModelPb)).toBuilder();
    boolean changed = false;
    for (MetaGraphDef.Builder mg : sm.getMetaGraphsBuilderList()) {
      for (Map.Entry<String, SignatureDef> e : Map.copyOf(mg.getSignatureDefMap()).entrySet()) {
        if (e.getValue().getMethodName().isEmpty()) {
          mg.putSignatureDef(e.getKey(), e.getValue().toBuilder().setMethodName(PREDICT_METHOD).build());
          changed = true;
        }
      }
    }
    if (changed) {
      Files.write(savedModelPb, sm.build().toByteArray());
    }
  }

  /**
   * Finishes or rolls back a swap interrupted by a dead process and deletes stale temporary
   * directories of {@code target}. Called by every export; call it before reading a target that
   * another process might have been writing when it died.
   */
  public static void recover(Path target) throws IOException {
    Path dir = target.toAbsolutePath().normalize();
    Path parent = dir.getParent();
    if (!Files.isDirectory(parent)) {
      return;
    }
    ReentrantLock local = LOCAL_LOCKS.computeIfAbsent(dir, d -> new ReentrantLock());
    local.lock();
    try (FileChannel lockFile =
            FileChannel.open(
                parent.resolve("." + dir.getFileName() + ".lock"),
                StandardOpenOption.CREATE,
                StandardOpenOption.WRITE);
        FileLock lock = lockFile.lock()) {
      recoverLocked(dir);
    } finally {
      local.unlock();
    }
  }

  private static void recoverLocked(Path dir) throws IOException {
    Path aside = aside(dir);
    if (Files.exists(aside)) {
      if (isSavedModel(dir)) {
        // Died after the new model was renamed in: the old one is garbage.
        deleteRecursively(aside);
      } else {
        // Died between the two renames: put the old model back.
        deleteRecursively(dir);
        Files.move(aside, dir, StandardCopyOption.ATOMIC_MOVE);
      }
    }
    String prefix = "." + dir.getFileName() + ".tmp-";
    try (DirectoryStream<Path> s = Files.newDirectoryStream(dir.getParent(), prefix + "*")) {
      for (Path p : s) {
        deleteRecursively(p);
      }
    }
  }

  /** Whether {@code dir} holds {@code saved_model.pb} and {@code variables/variables.index}. */
  public static boolean isSavedModel(Path dir) {
    return Files.isRegularFile(dir.resolve("saved_model.pb"))
        && Files.isRegularFile(dir.resolve("variables").resolve("variables.index"));
  }

  /** The extra files of a SavedModel directory, by name (empty if it has none). */
  public static Map<String, byte[]> readExtraFiles(Path savedModelDir) throws IOException {
    Map<String, byte[]> out = new TreeMap<>();
    Path extra = savedModelDir.resolve(EXTRA_DIR);
    if (Files.isDirectory(extra)) {
      try (Stream<Path> files = Files.list(extra)) {
        for (Path f : files.filter(Files::isRegularFile).toList()) {
          out.put(f.getFileName().toString(), Files.readAllBytes(f));
        }
      }
    }
    return out;
  }

  private static Path aside(Path dir) {
    return dir.resolveSibling("." + dir.getFileName() + ".previous");
  }

  private static boolean isEmptyDirectory(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return false;
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.findAny().isEmpty();
    }
  }

  private static void syncTree(Path root) throws IOException {
    List<Path> all;
    try (Stream<Path> s = Files.walk(root)) {
      all = s.toList();
    }
    for (Path p : all) {
      if (Files.isRegularFile(p)) {
        try (FileChannel c = FileChannel.open(p, StandardOpenOption.WRITE)) {
          c.force(true);
        }
      }
    }
    for (Path p : all) {
      if (Files.isDirectory(p)) {
        syncDirectory(p);
      }
    }
  }

  private static void syncDirectory(Path dir) {
    try (FileChannel c = FileChannel.open(dir, StandardOpenOption.READ)) {
      c.force(true);
    } catch (IOException e) {
      // Some file systems cannot sync a directory; the rename is still atomic.
    }
  }

  static void deleteRecursively(Path p) throws IOException {
    if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    List<Path> all;
    try (Stream<Path> s = Files.walk(p)) {
      all = new ArrayList<>(s.sorted(Comparator.reverseOrder()).toList());
    }
    for (Path q : all) {
      try {
        Files.deleteIfExists(q);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot delete " + q, e);
      }
    }
  }
}
