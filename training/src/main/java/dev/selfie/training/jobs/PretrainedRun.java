package dev.selfie.training.jobs;

import dev.selfie.data.DatasetSpec;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.savedmodels.WeightLoader;
import dev.selfie.savedmodels.serving.VersionedModel;
import dev.selfie.training.run.CheckpointManager;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.RunDir;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.Session;

/**
 * A pretraining run as the jobs that start from it see it ({@code --pretrained}, {@code --run}): a
 * run directory (its newest checkpoint), one checkpoint of it ({@code RUN/checkpoints/ckpt-N}) or
 * its SavedModel directory; its config, its weights, and their transfer into a finetuning graph.
 */
public final class PretrainedRun {
  private static final Logger LOG = LoggerFactory.getLogger(PretrainedRun.class);

  private PretrainedRun() {}

  /** The config of the pretraining run at {@code path} (run dir or its savedmodel dir). */
  public static Pretrain.Config config(Path path) {
    path = highestVersion(path);
    List<Path> candidates = new ArrayList<>(List.of(path.resolve(RunDir.CONFIG_FILE),
        path.resolve("assets.extra").resolve(RunDir.CONFIG_FILE),
        path.resolveSibling(RunDir.CONFIG_FILE)));
    if (isCheckpointDir(path)) {
      candidates.add(0, path.toAbsolutePath().getParent().resolveSibling(RunDir.CONFIG_FILE));
    }
    for (Path p : candidates) {
      if (Files.isRegularFile(p)) {
        return Json.read(p, Pretrain.Config.class);
      }
    }
    throw new IllegalArgumentException("--pretrained " + path + ": no config.json found (expected"
        + " a pretraining run directory or its savedmodel directory)");
  }

  /**
   * The config of the pretraining run at {@code path}, to finetune on {@code dataset}, whose
   * images {@code spec} describes: another dataset than the run's (transfer) must have the same
   * image geometry.
   */
  static Pretrain.Config configFor(Path path, String dataset, DatasetSpec spec) {
    Pretrain.Config p = config(path);
    if (!p.dataset().equals(dataset) && (p.model().imageSize() != spec.imageSize()
        || p.model().channels() != spec.channels())) {
      throw new IllegalArgumentException("--pretrained " + path + " was trained on "
          + p.dataset() + " images " + p.model().imageSize() + "x" + p.model().imageSize()
          + "x" + p.model().channels() + "; " + dataset + " has " + spec.imageSize() + "x"
          + spec.imageSize() + "x" + spec.channels());
    }
    return p;
  }

  /** A base directory of versions ({@code savedmodel/}) stands for its highest version. */
  public static Path highestVersion(Path path) {
    var top = VersionedModel.versions(path).lastEntry();
    return top == null ? path : top.getValue();
  }

  /** True for one checkpoint of a run, {@code RUN/checkpoints/ckpt-N} (holding model.index). */
  public static boolean isCheckpointDir(Path path) {
    Path parent = path.toAbsolutePath().getParent();
    return Files.isRegularFile(path.resolve(CheckpointManager.PREFIX + ".index"))
        && parent != null && parent.getFileName().toString().equals("checkpoints");
  }

  /**
   * The weights of a pretraining run: its newest checkpoint, one checkpoint given as {@code
   * RUN/checkpoints/ckpt-N} (to finetune from an earlier point of a run), or the SavedModel's
   * variables.
   */
  public static Path weights(Path path) {
    if (isCheckpointDir(path)) {
      return path.resolve(CheckpointManager.PREFIX);
    }
    path = highestVersion(path);
    if (Files.isDirectory(path.resolve("checkpoints"))) {
      Optional<CheckpointManager.Checkpoint> c =
          new CheckpointManager(path.resolve("checkpoints"), Integer.MAX_VALUE).latest();
      if (c.isPresent()) {
        return Path.of(c.get().prefix());
      }
    }
    return WeightLoader.checkpointPrefix(path);
  }

  /**
   * Says so when {@code run} is a pretraining run directory whose newest checkpoint is before its
   * configured last step (still running, or stopped): finetuning then starts from that checkpoint.
   */
  public static void warnIfUnfinished(Path run) {
    if (!Files.isDirectory(run.resolve("checkpoints"))
        || !Files.isRegularFile(run.resolve(RunDir.CONFIG_FILE))) {
      return;
    }
    long steps = config(run).steps();
    new CheckpointManager(run.resolve("checkpoints"), Integer.MAX_VALUE).latest()
        .filter(c -> c.step() < steps)
        .ifPresent(c -> LOG.warn(String.format(
            "warning: pretraining run %s is unfinished (newest checkpoint at"
            + " step %d of %d); finetuning from that checkpoint", run, c.step(), steps)));
  }

  /**
   * Restores the variables {@code transfer} takes from pretraining out of the weights of the run
   * {@code pretrained} into {@code session}, exactly those; logs what was restored and what
   * starts fresh, and records both in {@code dir/transfer.json}.
   *
   * @return the restored variables' names, sorted
   */
  static List<String> restore(Session session, VarStore vars, Selfie.Transfer transfer,
      Path pretrained, RunDir dir) throws IOException {
    Path weights = weights(pretrained);
    List<String> restored =
        WeightLoader.restoreExactly(session, weights, transfer.fromPretraining()).restored();
    if (!restored.equals(transfer.fromPretraining().stream().sorted().toList())) {
      throw new IllegalStateException("restored " + restored.size() + " variables, expected "
          + transfer.fromPretraining().size());
    }
    List<String> fresh = transfer.fresh();
    LOG.info(String.format("restored %d variables (%,d parameters) from %s; %d start fresh: %s",
        restored.size(), VarStore.parameterCount(restored.stream().map(vars::get).toList()),
        weights, fresh.size(), summarize(fresh)));
    Json.writeAtomic(dir.root().resolve("transfer.json"),
        Map.of("source", weights.toString(), "restored", restored, "fresh", fresh));
    return restored;
  }

  /** "resnet/stage4 (n), classifier/resnet (k)": variable names grouped by their first 2 parts. */
  static String summarize(List<String> names) {
    Map<String, Integer> groups = new LinkedHashMap<>();
    for (String n : names) {
      String[] parts = n.split("/");
      String g = parts.length > 1 ? parts[0] + "/" + parts[1] : parts[0];
      groups.merge(g, 1, Integer::sum);
    }
    StringBuilder sb = new StringBuilder();
    groups.forEach((g, c) -> sb.append(sb.length() == 0 ? "" : ", ").append(g).append(" (")
        .append(c).append(")"));
    return sb.toString();
  }
}
