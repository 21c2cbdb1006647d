package dev.selfie.experiments;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.selfie.training.jobs.PretrainedRun;
import dev.selfie.training.run.Json;
import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The gain as a function of pretraining length: Selfie finetunes from earlier checkpoints of the
 * experiment's pretraining run ({@code RUN/checkpoints/ckpt-S}), at every fraction and seed,
 * against the same baselines as the main cells. Writes {@code curve.json}, {@code curve.md} and
 * {@code curve.png} (gain in points vs pretraining epochs, one line per fraction).
 *
 * <p>The checkpoints are points of ONE schedule (warmup + cosine over the whole run), not
 * separately annealed shorter runs: an earlier point has seen fewer images and a higher learning
 * rate. The last point is the main experiment's pretrained model.
 */
final class PretrainingCurve {
  private PretrainingCurve() {}

  /** One point: a pretraining length and a label fraction, means over seeds (percent). */
  record Point(
      @JsonProperty("pretrain_steps") long pretrainSteps,
      double epochs,
      double fraction,
      int seeds,
      @JsonProperty("selfie_mean") double selfieMean,
      @JsonProperty("selfie_std") double selfieStd,
      @JsonProperty("baseline_mean") double baselineMean,
      double gain,
      @JsonProperty("paired_gain_std") double pairedGainStd) {}

  /** curve.json. */
  record Curve(String command, @JsonProperty("train_images") int trainImages,
      @JsonProperty("batch_size") int batchSize, List<Point> points) {}

  /** The checkpoint directory of step {@code s} of the pretraining run, checked to exist. */
  static Path checkpoint(Path pretrainDir, long s) {
    Path dir = pretrainDir.resolve("checkpoints").resolve("ckpt-" + s);
    if (!PretrainedRun.isCheckpointDir(dir)) {
      throw new IllegalArgumentException("--curve-steps " + s + ": no checkpoint " + dir
          + " (the pretraining run must keep it: pretrain with --checkpoint-every dividing it"
          + " and a large enough --keep)");
    }
    return dir;
  }

  /**
   * Points from the runs: {@code selfie} holds the Selfie runs from checkpoint {@code steps}
   * (any fractions and seeds), {@code baselines} the main cells' baseline runs.
   */
  static List<Point> points(long steps, double epochs, List<Experiment.Run> selfie,
      List<Experiment.Run> baselines, List<Double> fractions) {
    List<Point> out = new ArrayList<>();
    for (double f : fractions) {
      List<Double> s = new ArrayList<>();
      List<Double> b = new ArrayList<>();
      List<Double> paired = new ArrayList<>();
      for (Experiment.Run r : selfie) {
        if (r.fraction() != f) {
          continue;
        }
        baselines.stream().filter(x -> x.fraction() == f && x.seed() == r.seed()).findFirst()
            .ifPresent(x -> {
              s.add(r.accuracy());
              b.add(x.accuracy());
              paired.add(r.accuracy() - x.accuracy());
            });
      }
      if (s.isEmpty()) {
        continue;
      }
      double[] sa = s.stream().mapToDouble(Double::doubleValue).toArray();
      double[] ba = b.stream().mapToDouble(Double::doubleValue).toArray();
      double[] pa = paired.stream().mapToDouble(Double::doubleValue).toArray();
      out.add(new Point(steps, epochs, f, sa.length, ExperimentReport.mean(sa), ExperimentReport.std(sa),
          ExperimentReport.mean(ba), ExperimentReport.mean(sa) - ExperimentReport.mean(ba), ExperimentReport.std(pa)));
    }
    return out;
  }

  static void write(Path out, Curve c) throws IOException {
    Json.writeAtomic(out.resolve("curve.json"), c);
    Json.writeAtomic(out.resolve("curve.md"), markdown(c).getBytes(StandardCharsets.UTF_8));
    if (!c.points().isEmpty()) {
      plot(out.resolve("curve.png"), c);
    }
  }

  static String markdown(Curve c) {
    StringBuilder sb = new StringBuilder("# Gain vs pretraining length\n\nCommand:\n\n```\n")
        .append(c.command()).append("\n```\n\n")
        .append("Selfie finetuned from checkpoints of one pretraining run (one warmup + cosine"
            + " schedule: earlier points are not separately annealed runs) minus the supervised"
            + " baseline on the same label subsets, percent; paired std = std over seeds of the"
            + " per-seed difference.\n\n")
        .append("| pretraining steps | epochs | labels | seeds | Selfie | supervised | gain |"
            + " paired std |\n|---|---|---|---|---|---|---|---|\n");
    for (Point p : c.points()) {
      sb.append(String.format(Locale.ROOT, "| %d | %.1f | %s%% | %d | %.2f +- %.2f | %.2f |"
              + " %+.2f | %.2f |%n", p.pretrainSteps(), p.epochs(),
          java.math.BigDecimal.valueOf(100 * p.fraction()).stripTrailingZeros().toPlainString(),
          p.seeds(), p.selfieMean(), p.selfieStd(), p.baselineMean(), p.gain(),
          p.pairedGainStd()));
    }
    return sb.toString();
  }

  private static void plot(Path png, Curve c) throws IOException {
    System.setProperty("java.awt.headless", "true");
    XYChart chart = new XYChartBuilder().width(800).height(520)
        .title("Selfie gain vs pretraining length")
        .xAxisTitle("pretraining epochs (images seen / training images)")
        .yAxisTitle("Selfie - supervised (points)").build();
    chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW);
    chart.getStyler().setChartBackgroundColor(Color.WHITE);
    chart.getStyler().setPlotBackgroundColor(Color.WHITE);
    chart.getStyler().setDecimalPattern("#0.#");
    Color[] colors = {new Color(0xd6, 0x27, 0x28), new Color(0x1f, 0x77, 0xb4),
        new Color(0x2c, 0xa0, 0x2c), new Color(0xff, 0x7f, 0x0e), new Color(0x94, 0x67, 0xbd)};
    List<Double> fractions = c.points().stream().map(Point::fraction).distinct().sorted().toList();
    for (int i = 0; i < fractions.size(); i++) {
      double f = fractions.get(i);
      List<Point> ps = c.points().stream().filter(p -> p.fraction() == f)
          .sorted(java.util.Comparator.comparingDouble(Point::epochs)).toList();
      XYSeries s = chart.addSeries(String.format(Locale.ROOT, "%s%% labels",
              java.math.BigDecimal.valueOf(100 * f).stripTrailingZeros().toPlainString()),
          ps.stream().mapToDouble(Point::epochs).toArray(),
          ps.stream().mapToDouble(Point::gain).toArray());
      Color col = colors[i % colors.length];
      s.setMarker(SeriesMarkers.CIRCLE);
      s.setLineColor(col);
      s.setMarkerColor(col);
      s.setLineStyle(new BasicStroke(2f));
    }
    byte[] bytes = BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG);
    Json.writeAtomic(png, bytes);
  }
}
