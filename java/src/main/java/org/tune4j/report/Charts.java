package org.tune4j.report;

import java.io.IOException;
import java.util.Base64;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The report's charts (XChart), each turned into a PNG data URI so that the page needs no other file. */
final class Charts {
    static final int WIDTH = 720, HEIGHT = 420;

    private Charts() {}

    static XYChart lines(String title, String x, String y) {
        XYChart c = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle(x).yAxisTitle(y).build();
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        c.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        return c;
    }

    static void line(XYChart c, String name, double[] x, double[] y) {
        if (x.length == 0) return;
        c.addSeries(name, x, y).setMarker(SeriesMarkers.CIRCLE);
    }

    static void points(XYChart c, String name, double[] x, double[] y) {
        XYSeries s = c.addSeries(name, x, y);
        s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
        s.setMarker(SeriesMarkers.DIAMOND);
    }

    /** A heat map of z[row][column] (shown with one decimal). */
    static HeatMapChart heatMap(String title, List<String> columns, List<String> rows, double[][] z) {
        HeatMapChart c = new HeatMapChartBuilder().width(WIDTH).height(HEIGHT + 80).title(title).build();
        c.getStyler().setShowValue(true);
        c.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        c.getStyler().setXAxisLabelRotation(30);
        List<Number[]> cells = new java.util.ArrayList<>();
        for (int r = 0; r < rows.size(); r++)
            for (int col = 0; col < columns.size(); col++) cells.add(new Number[] {col, r, Math.round(z[r][col] * 10) / 10.0});
        c.addSeries("error", columns, rows, cells);
        return c;
    }

    static String dataUri(Chart<?, ?> chart) throws IOException {
        byte[] png = BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG);
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(png);
    }
}
