package dev.selfie.training.run;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TensorFlowException;

/**
 * Checkpoints of a run in {@code dir}: each one a directory {@code ckpt-<step>/} holding the
 * variables ({@code model.index}, {@code model.data-*}, from {@code Session.save}) and
 * {@code state.json} ({@link State}: step, seed, data position, wall time, config, and the size
 * of every file, so a truncated copy is detected).
 *
 * <p>A save writes into a temp directory {@code .tmp-ckpt-<step>-*} inside {@code dir} and then
 * renames it atomically to {@code ckpt-<step>}; only the newest {@code keep} valid checkpoints are
 * kept. {@link #latest()} ignores temp directories and incomplete or truncated checkpoints.
 *
 * <p>TF Java builds a graph's save/restore ops once, at the first save or restore: create every
 * variable (optimizer slots, the global step) before calling {@link #save} or {@link #restore}.
 */
public final class CheckpointManager {
  /** Variables' prefix inside a checkpoint directory. */
  public static final String PREFIX = "model";
  public static final String STATE_FILE = "state.json";
  private static final Pattern NAME = Pattern.compile("ckpt-(\\d+)");

  /**
   * What a run needs to resume besides the variables.
   *
   * @param seed the run's random seed
   * @param dataPosition how far the input pipeline got (e.g. examples or batches consumed)
   * @param config the run config: a record, a map, a JSON string or a JsonNode (stored as JSON)
   */
  public record RunState(long seed, long dataPosition, Object config) {}

  /**
   * The contents of {@code state.json}.
   *
   * @param files size in bytes of every variables file, by file name
   */
  public record State(
      long step,
      long seed,
      long dataPosition,
      String wallTime,
      JsonNode config,
      Map<String, Long> files) {}

  /** One valid checkpoint. */
  public record Checkpoint(Path dir, State state) {
    public long step() {
      return state.step();
    }

    /** The prefix to pass to {@code Session.restore}. */
    public String prefix() {
      return dir.resolve(PREFIX).toString();
    }
  }

  private final Path dir;
  private final int keep;

  /**
   * @param dir the checkpoints directory (created if missing)
   * @param keep how many of the newest checkpoints to keep, &gt;= 1
   */
  public CheckpointManager(Path dir, int keep) {
    if (keep < 1) {
      throw new IllegalArgumentException("checkpoints to keep must be >= 1, got " + keep);
    }
    this.dir = dir.toAbsolutePath().normalize();
    this.keep = keep;
    try {
      Files.createDirectories(this.dir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create checkpoint directory " + this.dir, e);
    }
  }

  public Path dir() {
    return dir;
  }

  /**
   * Saves every VariableV2 of the session's graph as {@code ckpt-<step>}, replacing an existing
   * checkpoint of the same step, then deletes valid checkpoints beyond the newest {@code keep}.
   */
  public Checkpoint save(Session session, long step, RunState runState) {
    if (step < 0) {
      throw new IllegalArgumentException("checkpoint step must be >= 0, got " + step);
    }
    Path target = dir.resolve("ckpt-" + step);
    Path tmp = null;
    try {
      tmp = Files.createTempDirectory(dir, ".tmp-ckpt-" + step + "-");
      try {
        session.save(tmp.resolve(PREFIX).toString());
      } catch (TensorFlowException e) {
        throw new IOException(e.getMessage(), e); // e.g. "No space left on device"
      }
      injectedFailure(step);
      Map<String, Long> files = new LinkedHashMap<>();
      try (Stream<Path> s = Files.list(tmp)) {
        for (Path p : s.sorted().toList()) {
          files.put(p.getFileName().toString(), Files.size(p));
        }
      }
      if (!files.containsKey(PREFIX + ".index")) {
        throw new IllegalStateException("Session.save wrote no " + PREFIX + ".index in " + tmp);
      }
      State state = new State(step, runState.seed(), runState.dataPosition(),
          Instant.now().toString(), Json.tree(runState.config()), files);
      Json.writeAtomic(tmp.resolve(STATE_FILE), state);
      if (Files.exists(target)) {
        Path old = Files.createTempDirectory(dir, ".old-ckpt-" + step + "-");
        Files.delete(old);
        move(target, old);
        move(tmp, target);
        deleteTree(old);
      } else {
        move(tmp, target);
      }
      tmp = null;
      Checkpoint saved = new Checkpoint(target, state);
      prune();
      return saved;
    } catch (IOException e) {
      String kept = latestOrNone();
      throw new UncheckedIOException("cannot save checkpoint " + target + ": " + e.getMessage()
          + "; " + kept, e);
    } finally {
      if (tmp != null) {
        deleteTree(tmp);
      }
    }
  }

  /**
   * Fault injection for tests of a full disk: with the system property
   * {@value #INJECT_FAILURE_PROPERTY} set to a step, saving that step writes the checkpoint into
   * its temporary directory and then fails as a full disk does.
   */
  public static final String INJECT_FAILURE_PROPERTY = "selfie.inject.checkpoint-failure";

  private static void injectedFailure(long step) throws IOException {
    String at = System.getProperty(INJECT_FAILURE_PROPERTY);
    if (at != null && Long.parseLong(at.strip()) == step) {
      throw new IOException("No space left on device (injected: -D" + INJECT_FAILURE_PROPERTY
          + "=" + step + ")");
    }
  }

  /** What a failed save leaves: the newest intact checkpoint and how to continue from it. */
  private String latestOrNone() {
    try {
      return latest().map(c -> "the newest checkpoint, " + c.dir() + " (step " + c.step()
          + "), is intact: free space, then rerun with --resume")
          .orElse("no earlier checkpoint exists");
    } catch (UncheckedIOException e) {
      return "the checkpoints in " + dir + " cannot be listed either";
    }
  }

  /** All valid checkpoints, oldest first. */
  public List<Checkpoint> all() {
    List<Checkpoint> out = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      for (Path p : ds) {
        Matcher m = NAME.matcher(p.getFileName().toString());
        if (m.matches() && Files.isDirectory(p)) {
          validate(p, Long.parseLong(m.group(1))).ifPresent(out::add);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list checkpoints in " + dir, e);
    }
    out.sort(Comparator.comparingLong(Checkpoint::step));
    return out;
  }

  /** The newest valid checkpoint, if any. */
  public Optional<Checkpoint> latest() {
    List<Checkpoint> all = all();
    return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
  }

  /**
   * Restores the checkpoint's variables into the session's graph, matching by variable name
   * (extra checkpoint entries, e.g. optimizer slots, are ignored). Runs the graph's pending
   * initializers first: {@code Session.restore} marks every initializer as ran, which would
   * otherwise skip non-variable initializers (summary writers, dataset iterators).
   */
  public static void restore(Session session, Checkpoint checkpoint) {
    session.initialize();
    session.restore(checkpoint.prefix());
  }

  /**
   * Reads a checkpoint directory, or empty if incomplete: {@code state.json} readable with the
   * directory's step, the index file present, and every listed file present with its size.
   */
  public static Optional<Checkpoint> validate(Path ckptDir, long expectedStep) {
    Path stateFile = ckptDir.resolve(STATE_FILE);
    if (!Files.isRegularFile(stateFile)) {
      return Optional.empty();
    }
    State state;
    try {
      state = Json.MAPPER.readValue(stateFile.toFile(), State.class);
    } catch (IOException e) {
      return Optional.empty();
    }
    if (state.step() != expectedStep || state.files() == null
        || !state.files().containsKey(PREFIX + ".index")
        || state.files().keySet().stream().noneMatch(f -> f.startsWith(PREFIX + ".data-"))) {
      return Optional.empty();
    }
    for (Map.Entry<String, Long> f : state.files().entrySet()) {
      Path p = ckptDir.resolve(f.getKey());
      try {
        if (!Files.isRegularFile(p) || Files.size(p) != f.getValue()) {
          return Optional.empty();
        }
      } catch (IOException e) {
        return Optional.empty();
      }
    }
    return Optional.of(new Checkpoint(ckptDir.toAbsolutePath(), state));
  }

  private void prune() {
    List<Checkpoint> all = all();
    for (int i = 0; i < all.size() - keep; i++) {
      deleteTree(all.get(i).dir());
    }
  }

  private static void move(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(from, to);
    }
  }

  static void deleteTree(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + root + ": " + e.getMessage(), e);
    }
  }
}
