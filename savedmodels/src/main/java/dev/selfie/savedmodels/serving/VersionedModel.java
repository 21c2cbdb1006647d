package dev.selfie.savedmodels.serving;

import dev.selfie.savedmodels.SavedModelExporter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.HashSet;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * One model served the way TensorFlow Serving serves a model base path: the base directory holds
 * one SavedModel per version in numeric subdirectories ({@code BASE/1/}, {@code BASE/2/}, ...);
 * the highest is loaded, and while serving the directory is polled: a higher version dropped in
 * (complete, i.e. with its {@code saved_model.pb}) is loaded and becomes the latest, and the one it
 * replaces is unloaded after a grace period (requests already holding it finish). A version that
 * fails to load is logged once and skipped; the current one stays.
 *
 * <p>{@link #fixed} serves one SavedModel directory as one version, without polling.
 */
public final class VersionedModel implements Servables, AutoCloseable {

  private final String name;
  private final Path base;
  private final ModelServer.Options options;
  private final Duration grace;
  private final Consumer<String> log;
  private final ScheduledExecutorService timer;
  private final Set<Long> failed = new HashSet<>();
  private final Set<ModelServer> retiring = java.util.concurrent.ConcurrentHashMap.newKeySet();
  private volatile NavigableMap<Long, ModelServer> loaded;
  private boolean closed;

  private VersionedModel(String name, Path base, ModelServer.Options options, Duration grace,
      Consumer<String> log, long version, ModelServer first, boolean poll, Duration every) {
    this.name = name;
    this.base = base;
    this.options = options;
    this.grace = grace;
    this.log = log;
    this.loaded = Collections.unmodifiableNavigableMap(new TreeMap<>(Map.of(version, first)));
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "model-versions-" + name);
      t.setDaemon(true);
      return t;
    });
    if (poll) {
      timer.scheduleWithFixedDelay(this::poll, every.toMillis(), every.toMillis(),
          TimeUnit.MILLISECONDS);
    }
  }

  /**
   * Serves the highest version under {@code base} and polls for higher ones every {@code poll}.
   *
   * @param grace how long a replaced version stays loaded for the requests holding it
   * @throws IllegalArgumentException if {@code base} has no version directory with a SavedModel
   */
  public static VersionedModel watch(String name, Path base, ModelServer.Options options,
      Duration poll, Duration grace, Consumer<String> log) {
    NavigableMap<Long, Path> versions = versions(base);
    if (versions.isEmpty()) {
      throw new IllegalArgumentException(base + ": no version directory (a number, e.g. 1/)"
          + " holding a SavedModel");
    }
    Map.Entry<Long, Path> top = versions.lastEntry();
    ModelServer first = ModelServer.load(top.getValue(), options);
    return new VersionedModel(name, base, options, grace, log, top.getKey(), first, true, poll);
  }

  /** Serves the SavedModel in {@code dir} as version {@code version}, nothing else. */
  public static VersionedModel fixed(String name, Path dir, long version,
      ModelServer.Options options) {
    ModelServer m = ModelServer.load(dir, options);
    return new VersionedModel(name, null, options, Duration.ZERO, s -> { }, version, m, false,
        Duration.ZERO);
  }

  /**
   * The version directories under {@code base}: numeric names holding a SavedModel, by version
   * (temporary and hidden directories of an export in progress are not numbers: ignored).
   */
  public static NavigableMap<Long, Path> versions(Path base) {
    NavigableMap<Long, Path> out = new TreeMap<>();
    if (!Files.isDirectory(base)) {
      return out;
    }
    try (Stream<Path> s = Files.list(base)) {
      s.forEach(p -> {
        String n = p.getFileName().toString();
        if (n.matches("[0-9]{1,18}") && SavedModelExporter.isSavedModel(p)) {
          out.put(Long.parseLong(n), p);
        }
      });
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + base + ": " + e.getMessage(), e);
    }
    return out;
  }

  /** The model's name. */
  public String name() {
    return name;
  }

  /** The base directory polled ({@code null} for a fixed version). */
  public Path base() {
    return base;
  }

  /** The latest loaded version and its server. */
  public Map.Entry<Long, ModelServer> latest() {
    return loaded.lastEntry();
  }

  @Override
  public NavigableMap<Long, ModelServer> versions(String model) {
    return model.equals(name) ? loaded : Collections.emptyNavigableMap();
  }

  /** Looks for a higher version now (the timer does this every poll interval). */
  public synchronized void poll() {
    if (closed) {
      return;
    }
    Map.Entry<Long, Path> top;
    try {
      top = versions(base).lastEntry();
    } catch (UncheckedIOException e) {
      log.accept("model " + name + ": " + e.getMessage());
      return;
    }
    long current = loaded.lastKey();
    if (top == null || top.getKey() <= current || failed.contains(top.getKey())) {
      return;
    }
    ModelServer next;
    try {
      next = ModelServer.load(top.getValue(), options);
    } catch (RuntimeException e) {
      failed.add(top.getKey());
      log.accept("model " + name + ": cannot load version " + top.getKey() + " ("
          + e.getMessage() + "); still serving version " + current);
      return;
    }
    ModelServer old = loaded.get(current);
    log.accept("model " + name + ": serving version " + top.getKey() + " from " + top.getValue()
        + " (version " + current + " unloads in " + grace.toSeconds() + " s)");
    loaded = Collections.unmodifiableNavigableMap(new TreeMap<>(Map.of(top.getKey(), next)));
    retiring.add(old);
    timer.schedule(() -> {
      if (retiring.remove(old)) {
        old.close();
      }
    }, grace.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Stops polling and unloads every version (after the servers in front of it stopped). */
  @Override
  public void close() {
    synchronized (this) {
      closed = true;
    }
    timer.shutdownNow();
    try {
      timer.awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    loaded.values().forEach(ModelServer::close);
    retiring.forEach(ModelServer::close);
    retiring.clear();
  }
}
