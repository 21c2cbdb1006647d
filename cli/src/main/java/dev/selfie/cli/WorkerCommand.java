package dev.selfie.cli;

import dev.selfie.cli.flags.SharedFlags;
import dev.selfie.training.parallel.Cluster;
import dev.selfie.training.parallel.DataParallel;
import dev.selfie.training.runtime.SessionConfigs;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code selfie worker}: one task of a distributed run; serves its share of the graph (its
 * tower) over gRPC until killed. The chief is {@code selfie pretrain ... --cluster ... --task 0}.
 */
@Command(
    name = "worker",
    mixinStandardHelpOptions = true,
    showDefaultValues = true,
    description = {
      "Starts a TensorFlow server for task --task of --cluster and blocks, serving the chief's"
          + " graph fragments (one tower per task). Stop it with Ctrl-C / kill once the chief"
          + " (selfie pretrain --cluster ... --task 0) is done."
    })
public final class WorkerCommand implements Callable<Integer> {

  @Mixin SharedFlags.Threads threadsFlag;

  @Option(names = "--cluster", required = true, description = "host:port of every task, task 0"
      + " (the chief) first, exactly as given to the chief, e.g. host1:2222,host2:2222.")
  String cluster;

  @Option(names = "--task", required = true, description = "This task's index in --cluster (1..).")
  int task;

  @Override
  public Integer call() {
    Cluster c = Cluster.parse(cluster);
    c.checkTask(task);
    if (task == 0) {
      System.err.println("worker: task 0 is the chief; it serves from `selfie pretrain --cluster"
          + " ... --task 0`. Serving only (nothing will train).");
    }
    DataParallel.serve(c, task, new SessionConfigs.Options(threadsFlag.threads, 0, false, false));
    return 0;
  }
}
