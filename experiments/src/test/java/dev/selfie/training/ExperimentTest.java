package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.selfie.data.LabelManifest;
import dev.selfie.experiments.Arms;
import dev.selfie.experiments.Experiment;
import dev.selfie.experiments.ExperimentReport;
import dev.selfie.experiments.ExperimentOptions;
import dev.selfie.experiments.PretrainedSummaries;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.loop.EventFiles;
import dev.selfie.training.run.Json;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code selfie experiment} end to end on the tiny preset: 400 real Fashion-MNIST images written
 * as a CIFAR-10 set, 2 label fractions x 1 seed, a few steps each. Checks the files (results.json
 * schema, results.md table, a decodable results.png), that the baseline used the Selfie run's label
 * manifest, and resumability: a rerun skips every finished cell and pretraining, and a rerun with
 * another budget into the same directory is refused.
 */
class ExperimentTest {

  /** The tests' experiment: tiny preset on the CIFAR-format subset in {@code home}, one seed. */
  static ExperimentOptions.Builder tiny(Path home, Path out) {
    return ExperimentOptions.builder(out).dataset("cifar10").dataDir(home).preset("tiny").seeds(1)
        .batchSize(16).threads(2).precision("float32");
  }

  static ExperimentOptions options(Path home, Path out, long finetuneSteps) {
    return tiny(home, out)
        .fractions(List.of(0.1, 1.0))
        .pretrainSteps(4)
        .finetuneSteps(finetuneSteps)
        .probeFraction(0.5)
        .curveSteps(List.of(2L))
        .build();
  }

  @Test
  void writesResultsAndSkipsFinishedCellsOnRerun(@TempDir Path tmp) throws Exception {
    PretrainFixtures.assumeFashionMnist("ExperimentTest");
    Path home = PretrainFixtures.writeCifarFromFashionMnist(tmp.resolve("data"), 300, 100);
    Path out = tmp.resolve("exp");
    ExperimentOptions o = options(home, out, 3);

    Experiment.Result r = Experiment.run(o);

    assertTrue(r.complete());
    assertEquals(2, r.cells().size());
    assertEquals(0.1, r.cells().get(0).fraction());
    assertEquals(30, r.cells().get(0).labeledExamples(), "10% of 300, class-balanced");
    assertEquals(300, r.cells().get(1).labeledExamples());
    for (Experiment.Cell c : r.cells()) {
      assertEquals(2, c.runs().size());
      assertEquals(c.selfieMean() - c.baselineMean(), c.gain(), 1e-9);
      assertTrue(c.selfieMean() >= 0 && c.selfieMean() <= 100, "percent: " + c.selfieMean());
      assertEquals(0.0, c.selfieStd(), "one seed: std 0");
    }
    assertEquals(2, r.probes().size());
    assertEquals(List.of("pretrained", "random"),
        r.probes().stream().map(Experiment.ProbeRow::init).toList());

    // results.json: the schema of the issue, accuracies in percent.
    JsonNode json = Json.MAPPER.readTree(out.resolve("results.json").toFile());
    assertEquals("cifar10", json.get("dataset").asText());
    assertEquals("tiny", json.get("preset").asText());
    assertTrue(json.get("command").asText().startsWith("selfie experiment --dataset cifar10"));
    JsonNode cell = json.get("cells").get(0);
    for (String k : List.of("fraction", "selfie_mean", "selfie_std", "baseline_mean",
        "baseline_std", "gain", "runs")) {
      assertTrue(cell.has(k), "results.json cell lacks " + k + ": " + cell);
    }
    assertEquals(2, cell.get("runs").size());
    assertEquals(r.cells().get(0).selfieMean(), cell.get("selfie_mean").asDouble(), 1e-9);

    String md = Files.readString(out.resolve("results.md"));
    assertTrue(md.contains("| 10% | 30 | 1 |"), md);
    assertTrue(md.contains("| 100% | 300 | 1 |"), md);
    assertTrue(md.contains("Selfie pretrained") && md.contains("random init"), md);
    assertTrue(md.contains("\n\nBudget: "), "the budget paragraph starts with its name: " + md);

    BufferedImage png = ImageIO.read(out.resolve("results.png").toFile());
    assertEquals(800, png.getWidth());
    assertEquals(520, png.getHeight());

    // The curve: Selfie from ckpt-2 (kept by the experiment's pretraining) and from the final
    // step 4, against the same baselines.
    JsonNode curve = Json.MAPPER.readTree(out.resolve("curve.json").toFile());
    assertEquals(4, curve.get("points").size(), curve.toString());
    JsonNode first = curve.get("points").get(0);
    assertEquals(2, first.get("pretrain_steps").asLong());
    assertEquals(2 * 16 / 300.0, first.get("epochs").asDouble(), 1e-9);
    assertEquals(r.cells().get(0).baselineMean(), first.get("baseline_mean").asDouble(), 1e-9);
    JsonNode last = curve.get("points").get(2);
    assertEquals(4, last.get("pretrain_steps").asLong());
    assertEquals(r.cells().get(0).gain(), last.get("gain").asDouble(), 1e-9);
    assertTrue(Files.isRegularFile(out.resolve("curve").resolve("ckpt-2").resolve("f0.1")
        .resolve("seed1").resolve("selfie").resolve("run.json")));
    assertEquals(800, ImageIO.read(out.resolve("curve.png").toFile()).getWidth());
    assertTrue(Files.readString(out.resolve("curve.md")).contains("| 2 | 0.1 | 10% | 1 |"));
    assertThrows(IllegalArgumentException.class, () -> tiny(home, out)
        .fractions(List.of(0.1))
        .pretrainSteps(4)
        .finetuneSteps(3)
        .probeFraction(0.5)
        .curveSteps(List.of(4L))
        .build());

    // The baseline trained on exactly the Selfie run's labeled examples.
    Path cellDir = out.resolve("f0.1").resolve("seed1");
    LabelManifest selfie = LabelManifest.read(cellDir.resolve("selfie").resolve("labels.json"));
    LabelManifest baseline = LabelManifest.read(cellDir.resolve("baseline").resolve("labels.json"));
    assertArrayEquals(selfie.indices(), baseline.indices());

    // Rerun: nothing is retrained, the results are the same.
    Map<String, FileTime> before = new HashMap<>();
    for (Map.Entry<String, Path> e : Experiment.runMarkers(o).entrySet()) {
      before.put(e.getKey(), Files.getLastModifiedTime(e.getValue()));
    }
    FileTime pre = Files.getLastModifiedTime(out.resolve("pretrain").resolve("metrics.json"));
    LogCapture log = new LogCapture();
    Experiment.Result again = Experiment.run(o);
    String text = log.consoleAndClose();
    assertTrue(text.contains("pretraining: done"), text);
    assertEquals(6, text.split("skipped", -1).length - 1, text); // 4 cells + 2 curve runs
    for (Map.Entry<String, Path> e : Experiment.runMarkers(o).entrySet()) {
      assertEquals(before.get(e.getKey()), Files.getLastModifiedTime(e.getValue()), e.getKey());
    }
    assertEquals(pre, Files.getLastModifiedTime(out.resolve("pretrain").resolve("metrics.json")));
    assertEquals(r.cells().get(0).gain(), again.cells().get(0).gain(), 1e-12);

    // Another budget into the same directory is refused, naming the file.
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Experiment.run(options(home, out, 4)));
    assertTrue(e.getMessage().contains("experiment.json"), e.getMessage());

    // --pretrained: another experiment reuses this pretraining run instead of pretraining.
    Path out2 = tmp.resolve("exp2");
    // Tuning mode on a validation split, the baseline with its own learning rate and steps.
    Arms arms = new Arms(
        Finetune.Recipe.defaults().withValidation(50, false).withPretrainedLrScale(0.5), 0.07, 4);
    java.util.function.BiFunction<Path, Path, ExperimentOptions.Builder> reusing = (dir, source) ->
        tiny(home, dir).fractions(List.of(0.1)).pretrainSteps(4).finetuneSteps(3).finetuneLr(0.02)
            .probeFraction(0).pretrained(source).arms(arms);
    Experiment.Result reuse = Experiment.run(reusing.apply(out2, out.resolve("pretrain"))
        .build());
    Path cell2 = out2.resolve("f0.1").resolve("seed1");
    Finetune.Config base = Json.read(cell2.resolve("baseline").resolve("config.json"),
        Finetune.Config.class);
    Finetune.Config self = Json.read(cell2.resolve("selfie").resolve("config.json"),
        Finetune.Config.class);
    assertEquals(0.07, base.optimizer().baseLr(), 1e-12);
    assertEquals(4, base.steps());
    assertEquals(0.02, self.optimizer().baseLr(), 1e-12);
    assertEquals(3, self.steps());
    assertEquals(arms.recipe(), self.recipe());
    for (Experiment.Run run : reuse.cells().get(0).runs()) {
      assertEquals(0, run.testExamples(), "tuning mode must not read the test set");
      assertEquals(run.accuracy(), run.validationAccuracy(), 1e-9);
    }
    assertTrue(Files.readString(out2.resolve("results.md")).contains("**Validation** accuracy"));
    assertTrue(reuse.command().contains("--validation 50 --no-test --pretrained-lr-scale 0.5"),
        reuse.command());
    assertTrue(Files.notExists(out2.resolve("pretrain")), "must not pretrain again");
    assertEquals(r.pretrain().steps(), reuse.pretrain().steps());
    JsonNode transfer = Json.MAPPER.readTree(out2.resolve("f0.1").resolve("seed1")
        .resolve("selfie").resolve("transfer.json").toFile());
    assertTrue(transfer.get("source").asText().startsWith(out.resolve("pretrain").toString()),
        transfer.toString());
    assertTrue(reuse.probes().isEmpty());

    // --pretrained RUN/checkpoints/ckpt-N: one checkpoint (picked on validation) stands for the
    // run; its final checkpoint is summarised as the run itself (earlier ones from the logged
    // scalars, windowMean below).
    Path ckpt = out.resolve("pretrain").resolve("checkpoints").resolve("ckpt-4");
    Experiment.PretrainSummary s = PretrainedSummaries.of(ckpt);
    assertEquals(PretrainedSummaries.of(out.resolve("pretrain")), s);
    assertEquals(4, s.steps());
    assertThrows(IllegalArgumentException.class, () -> PretrainedSummaries.of(
        out.resolve("pretrain").resolve("checkpoints")));
    IllegalArgumentException notARun = assertThrows(IllegalArgumentException.class,
        () -> reusing.apply(tmp.resolve("x"), ckpt)
            .curveSteps(List.of(2L))
            .build());
    assertTrue(notARun.getMessage().contains("--curve-steps"), notARun.getMessage());
    // With --pretrained the curve is checked against the run's length (4), not --pretrain-steps.
    ExperimentOptions longer = reusing.apply(tmp.resolve("y"), out.resolve("pretrain"))
        .pretrainSteps(1)
        .curveSteps(List.of(3L))
        .build();
    assertEquals(List.of(3L), longer.curveSteps());
    IllegalArgumentException pastTheEnd = assertThrows(IllegalArgumentException.class,
        () -> Experiment.run(reusing.apply(tmp.resolve("z"), out.resolve("pretrain"))
            .pretrainSteps(100)
            .curveSteps(List.of(4L))
            .build()));
    assertTrue(pastTheEnd.getMessage().contains("before the last step"), pastTheEnd.getMessage());
  }

  /**
   * {@code --parallel 2}: the cells and the curve's run in two worker JVMs, each claiming the next
   * free cell, and give the numbers of the same experiment run one cell after the other.
   */
  @Test
  void parallelWorkersReproduceTheSequentialCells(@TempDir Path tmp) throws Exception {
    PretrainFixtures.assumeFashionMnist("ExperimentTest");
    Path home = PretrainFixtures.writeCifarFromFashionMnist(tmp.resolve("data"), 300, 100);
    Path seqOut = tmp.resolve("seq");
    // Learning rates per fraction (Selfie 0.03 at 10%, the baseline 0.08 at 100%) travel to the
    // workers with the options.
    Arms arms = Arms.defaults()
        .withLrByFraction(Map.of(0.1, 0.03), Map.of(1.0, 0.08));
    Experiment.Result seq = Experiment.run(options(home, seqOut, 3).toBuilder().threads(1)
        .probeFraction(0).arms(arms).build());
    Path parOut = tmp.resolve("par");
    ExperimentOptions par = options(home, parOut, 3).toBuilder().threads(1).probeFraction(0)
        .pretrained(seqOut.resolve("pretrain")).parallel(2).arms(arms).build();

    Experiment.Result r = Experiment.run(par);

    // Selfie at 10%: its own rate; the baseline follows it there (no --baseline-lr); at 100%
    // Selfie keeps --finetune-lr (0.05) and the baseline has its own.
    Map<String, Double> lrs = new java.util.TreeMap<>();
    for (String cell : List.of("f0.1/seed1/selfie", "f0.1/seed1/baseline", "f1/seed1/selfie",
        "f1/seed1/baseline", "curve/ckpt-2/f0.1/seed1/selfie")) {
      lrs.put(cell, Json.read(parOut.resolve(cell).resolve("config.json"), Finetune.Config.class)
          .optimizer().baseLr());
    }
    assertEquals(Map.of("f0.1/seed1/selfie", 0.03, "f0.1/seed1/baseline", 0.03,
        "f1/seed1/selfie", 0.05, "f1/seed1/baseline", 0.08, "curve/ckpt-2/f0.1/seed1/selfie", 0.03),
        lrs);
    assertTrue(r.command().contains("--finetune-lr-per-fraction 0.1=0.03")
        && r.command().contains("--baseline-lr-per-fraction 1=0.08"), r.command());
    String md = Files.readString(parOut.resolve("results.md"));
    assertTrue(md.contains("lr 0.05 (at fraction 0.1: 0.03)") && md.contains("(at fraction 1: 0.08)"),
        md);

    assertTrue(r.complete());
    assertEquals(seq.cells().size(), r.cells().size());
    for (int i = 0; i < seq.cells().size(); i++) {
      List<Experiment.Run> a = seq.cells().get(i).runs();
      List<Experiment.Run> b = r.cells().get(i).runs();
      assertEquals(a.size(), b.size());
      for (int j = 0; j < a.size(); j++) {
        assertEquals(a.get(j).model(), b.get(j).model());
        assertEquals(a.get(j).accuracy(), b.get(j).accuracy(), 0.0,
            "cell " + i + " " + a.get(j).model() + ": parallel = sequential");
      }
    }
    JsonNode seqCurve = Json.MAPPER.readTree(seqOut.resolve("curve.json").toFile());
    JsonNode parCurve = Json.MAPPER.readTree(parOut.resolve("curve.json").toFile());
    assertEquals(seqCurve.get("points"), parCurve.get("points"));
    // Two cells and two curve cells were claimed, each once; both workers logged.
    try (var claims = Files.list(parOut.resolve("workers").resolve("claims"))) {
      assertEquals(List.of("curve-2-f0.1-seed1", "curve-2-f1-seed1", "f0.1-seed1", "f1-seed1"),
          claims.map(c -> c.getFileName().toString()).sorted().toList());
    }
    for (int k = 0; k < 2; k++) {
      assertTrue(Files.isRegularFile(parOut.resolve("workers").resolve("worker-" + k + ".log")));
    }
    assertThrows(IllegalArgumentException.class, () -> par.toBuilder().parallel(0).build());
  }

  @Test
  void windowMeanTakesTheLastLoggedValuesUpToTheStep() {
    List<EventFiles.Scalar> s = new java.util.ArrayList<>();
    for (int i = 1; i <= 30; i++) {
      s.add(new EventFiles.Scalar(10L * i, "loss", i));
      s.add(new EventFiles.Scalar(10L * i, "other", 1000));
    }
    // steps <= 200: values 11..20 (the last ten), mean 15.5
    assertEquals(15.5, PretrainedSummaries.windowMean(s, "loss", 205), 1e-6);
    assertEquals(2.0, PretrainedSummaries.windowMean(s, "loss", 30), 1e-6);
    assertTrue(Double.isNaN(PretrainedSummaries.windowMean(s, "loss", 5)));
  }

  @Test
  void meanAndSampleStd() {
    assertEquals(2.0, ExperimentReport.mean(new double[] {1, 2, 3}), 1e-12);
    assertEquals(1.0, ExperimentReport.std(new double[] {1, 2, 3}), 1e-12);
    assertEquals(0.0, ExperimentReport.std(new double[] {5}), 0);
    assertEquals("f0.05", Experiment.fractionName(0.05));
    assertEquals("f1", Experiment.fractionName(1.0));
  }

  @Test
  void rejectsBadOptions() {
    ExperimentOptions.Builder ok = ExperimentOptions.builder(Path.of("unused")).preset("tiny")
        .fractions(List.of(0.5)).seeds(1).pretrainSteps(1).finetuneSteps(1).batchSize(1);
    ok.build();
    assertThrows(IllegalArgumentException.class, () -> ok.fractions(List.of(0.0)).build());
    ok.fractions(List.of(0.5));
    assertThrows(IllegalArgumentException.class, () -> ok.seeds(0).build());
    ok.seeds(1);
    assertThrows(IllegalArgumentException.class, () -> ok.probeFraction(1.5).build());
    ok.probeFraction(0);
    assertThrows(IllegalArgumentException.class, () -> ok.curveSteps(List.of(1L)).build(),
        "a curve checkpoint must come before the last pretraining step");
    ok.curveSteps(List.of());
    IllegalArgumentException notRun = assertThrows(IllegalArgumentException.class,
        () -> ok.arms(Arms.defaults().withLrByFraction(Map.of(0.2, 0.1), Map.of()))
            .build());
    assertTrue(notRun.getMessage().contains("--finetune-lr-per-fraction: fraction 0.2 is not one"
        + " of --fractions 0.5"), notRun.getMessage());
    IllegalArgumentException baselineNotRun = assertThrows(IllegalArgumentException.class,
        () -> ok.arms(Arms.defaults().withLrByFraction(Map.of(0.5, 0.1), Map.of(0.2, 0.4)))
            .build());
    assertTrue(baselineNotRun.getMessage().contains("--baseline-lr-per-fraction: fraction 0.2"),
        baselineNotRun.getMessage());
    assertThrows(IllegalArgumentException.class, () -> ok.arms(Arms.defaults()
        .withLrByFraction(Map.of(), Map.of(0.5, 0.0))).build());
  }
}
