package dev.selfie.experiments;

import dev.selfie.training.run.Json;
import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The experiment's figure: test accuracy (percent) vs label fraction (log axis), the supervised
 * baseline and the Selfie-finetuned curves, each with +- std error bars. Rendered with XChart
 * headless (no display needed), written as PNG atomically.
 */
final class ResultsPlot {
  private ResultsPlot() {}

  static void write(Path png, Experiment.Result r) throws IOException {
    System.setProperty("java.awt.headless", "true");
    List<Experiment.Cell> cells = r.cells();
    double[] x = cells.stream().mapToDouble(c -> 100 * c.fraction()).toArray();
    XYChart chart = new XYChartBuilder().width(800).height(520)
        .title("Selfie vs supervised: " + r.dataset() + ", preset " + r.preset())
        .xAxisTitle("labeled fraction of the training set (%)")
        .yAxisTitle("test accuracy (%)").build();
    Styler.LegendPosition pos = Styler.LegendPosition.InsideSE;
    chart.getStyler().setLegendPosition(pos);
    chart.getStyler().setXAxisLogarithmic(x.length > 1 && x[x.length - 1] / x[0] > 4);
    chart.getStyler().setChartBackgroundColor(Color.WHITE);
    chart.getStyler().setPlotBackgroundColor(Color.WHITE);
    chart.getStyler().setErrorBarsColorSeriesColor(true);
    chart.getStyler().setDecimalPattern("#0.##");
    XYSeries base = chart.addSeries("supervised (random init), mean +- std", x,
        cells.stream().mapToDouble(Experiment.Cell::baselineMean).toArray(),
        cells.stream().mapToDouble(Experiment.Cell::baselineStd).toArray());
    base.setMarker(SeriesMarkers.SQUARE);
    base.setLineColor(new Color(0x55, 0x55, 0x55));
    base.setMarkerColor(new Color(0x55, 0x55, 0x55));
    base.setLineStyle(new BasicStroke(2f));
    XYSeries selfie = chart.addSeries("Selfie (pretrained), mean +- std", x,
        cells.stream().mapToDouble(Experiment.Cell::selfieMean).toArray(),
        cells.stream().mapToDouble(Experiment.Cell::selfieStd).toArray());
    selfie.setMarker(SeriesMarkers.CIRCLE);
    selfie.setLineColor(new Color(0xd6, 0x27, 0x28));
    selfie.setMarkerColor(new Color(0xd6, 0x27, 0x28));
    selfie.setLineStyle(new BasicStroke(2f));
    byte[] bytes = BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG);
    Files.createDirectories(png.toAbsolutePath().getParent());
    Json.writeAtomic(png, bytes);
  }
}
