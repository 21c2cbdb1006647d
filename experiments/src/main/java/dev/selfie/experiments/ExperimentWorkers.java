package dev.selfie.experiments;

import dev.selfie.training.run.Json;
import dev.selfie.training.runtime.Relauncher;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code selfie experiment --parallel N}: the finetuning cells in N worker JVMs at once.
 *
 * <p>On a machine with few cores, N processes with one intra-op thread each finish the cells
 * sooner than one process whose ops use every core: a finetuning step of {@code small} is too
 * small to keep two threads busy. Each worker takes the next cell nobody has claimed (an
 * atomically created file under {@code out/workers/claims/}), runs it exactly as the sequential
 * loop would (same seed, labels, schedule and threads, hence the same numbers), and leaves its
 * {@code run.json}; the experiment then reads them as finished cells and writes the reports.
 * Worker {@code k} logs to {@code out/workers/worker-k.log}.
 */
final class ExperimentWorkers {
  private static final Logger LOG = LoggerFactory.getLogger(ExperimentWorkers.class);

  private ExperimentWorkers() {}

  /** Intra-op threads of each worker: {@code threads}, or its share of the cores when 0. */
  static int workerThreads(int threads, int parallel, int cores) {
    return threads > 0 ? threads : Math.max(1, cores / parallel);
  }

  /**
   * Starts {@code o.parallel()} workers, logs each cell as its {@code run.json} appears (one of
   * {@code markers}), and returns when all have exited; fails naming the worker's log if one
   * fails (the others are stopped; finished cells stay finished).
   */
  static void run(ExperimentOptions o, Path out, Map<String, Path> markers) throws IOException {
    Path dir = out.resolve("workers");
    Path claims = dir.resolve("claims");
    deleteTree(claims); // claims of an interrupted earlier run: their cells resume from checkpoints
    Files.createDirectories(claims);
    int threads = workerThreads(o.threads(), o.parallel(),
        Runtime.getRuntime().availableProcessors());
    ExperimentOptions worker = o.toBuilder().threads(threads).parallel(1).build();
    Path options = dir.resolve("options.json");
    Json.writeAtomic(options, worker);
    LOG.info(String.format("== %d worker processes, %d intra-op thread%s each (logs: %s)",
        o.parallel(), threads, threads == 1 ? "" : "s", dir.resolve("worker-K.log")));

    List<Process> procs = new CopyOnWriteArrayList<>(); // read by the shutdown hook
    // Ctrl-C or SIGTERM: the workers get SIGTERM too, save their checkpoints (a rerun resumes
    // them) and exit; this JVM waits for them.
    Thread stop = new Thread(() -> Relauncher.stopAndWait(procs), "selfie-workers-stop");
    Runtime.getRuntime().addShutdownHook(stop);
    try {
      for (int k = 0; k < o.parallel(); k++) {
        List<String> cmd = Relauncher.command(System.getProperty("java.home"),
            ManagementFactory.getRuntimeMXBean().getInputArguments(), Relauncher.classPath(),
            ExperimentWorkers.class.getName(),
            new String[] {options.toString(), claims.toString()});
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
            .redirectOutput(dir.resolve("worker-" + k + ".log").toFile());
        pb.environment().put(Relauncher.MARKER, "1");
        procs.add(pb.start());
      }
      Set<String> seen = new HashSet<>();
      markers.forEach((k, v) -> {
        if (Files.isRegularFile(v)) {
          seen.add(k);
        }
      });
      while (true) {
        boolean alive = false;
        for (int k = 0; k < procs.size(); k++) {
          Process p = procs.get(k);
          if (p.isAlive()) {
            alive = true;
          } else if (p.exitValue() != 0) {
            procs.forEach(Process::destroy);
            throw new IllegalStateException("experiment worker " + k + " failed (exit code "
                + p.exitValue() + "): see " + dir.resolve("worker-" + k + ".log"));
          }
        }
        for (Map.Entry<String, Path> e : markers.entrySet()) {
          if (!seen.contains(e.getKey()) && Files.isRegularFile(e.getValue())) {
            seen.add(e.getKey());
            Experiment.Run r = Json.read(e.getValue(), Experiment.Run.class);
            LOG.info(String.format("[%d/%d] %s: %.2f%%", seen.size(), markers.size(),
                e.getKey(), r.accuracy()));
          }
        }
        if (!alive) {
          return;
        }
        Thread.sleep(2000);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      procs.forEach(Process::destroy);
      throw new IllegalStateException("interrupted while the experiment workers ran", e);
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(stop);
      } catch (IllegalStateException shuttingDown) {
        // the hook runs
      }
    }
  }

  /** True if this process is the first to claim {@code key} (a file in {@code claims}). */
  static boolean claim(Path claims, String key) {
    try {
      Files.createFile(claims.resolve(key));
      return true;
    } catch (FileAlreadyExistsException taken) {
      return false;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot claim " + key + " in " + claims, e);
    }
  }

  private static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> s = Files.walk(p)) {
      for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(q);
      }
    }
  }

  /** A worker: {@code <options.json> <claims dir>}. */
  public static void main(String[] args) {
    if (args.length != 2) {
      System.err.println("usage: ExperimentWorkers OPTIONS_JSON CLAIMS_DIR");
      System.exit(2);
    }
    try {
      ExperimentOptions o = Json.read(Path.of(args[0]), ExperimentOptions.class);
      Path claims = Path.of(args[1]);
      Experiment.runClaimed(o, key -> claim(claims, key));
    } catch (Throwable t) {
      LOG.error("experiment worker failed", t);
      System.exit(1);
    }
    System.exit(0);
  }
}
