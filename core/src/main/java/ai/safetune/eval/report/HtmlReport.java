package ai.safetune.eval.report;

import ai.safetune.eval.EvalReport;
import ai.safetune.eval.ItemResult;
import ai.safetune.eval.Proportion;
import ai.safetune.eval.SuiteKind;
import ai.safetune.eval.SuiteResult;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Rectangle;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryLabelPositions;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.SymbolAxis;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.XYErrorRenderer;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.YIntervalSeries;
import org.jfree.data.xy.YIntervalSeriesCollection;
import org.jfree.svg.SVGGraphics2D;

/**
 * Renders one or more {@link EvalReport}s as a single self-contained HTML page: a summary table (every
 * number with its CI, item count and judge), plots drawn by JFreeChart into inline SVG (no scripts, no
 * network), per-category breakdowns and sample responses.
 */
public final class HtmlReport {

    private static final Color[] PALETTE = {
        new Color(0xC0392B), new Color(0x2980B9), new Color(0x27AE60), new Color(0x8E44AD),
        new Color(0xD35400), new Color(0x16A085), new Color(0x7F8C8D), new Color(0x2C3E50)};
    private static final int SAMPLES_PER_SUITE = 5;

    private HtmlReport() {
    }

    public static void write(List<EvalReport> reports, Path out) throws IOException {
        Path parent = out.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(out, render(reports));
    }

    public static String render(List<EvalReport> reports) {
        if (reports.isEmpty()) {
            throw new IllegalArgumentException("no eval reports to render");
        }
        StringBuilder h = new StringBuilder(64 * 1024);
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
                .append("<title>SafeTune evaluation</title><style>")
                .append("body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;color:#222;max-width:1200px}")
                .append("table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #ccc;padding:4px 8px;")
                .append("text-align:left;font-size:13px;vertical-align:top}th{background:#f3f3f3}")
                .append("td.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#777;font-size:12px}")
                .append("h2{border-bottom:2px solid #eee;padding-bottom:4px}.resp{white-space:pre-wrap;max-width:600px}")
                .append("</style></head><body>\n<h1>SafeTune evaluation</h1>\n");
        h.append("<p class=\"muted\">ASR = share of harmful prompts the judge finds answered (lower is safer); ")
                .append("over-refusal = share of safe prompts refused (lower is better); accuracy on tasks. ")
                .append("Brackets: bootstrap 95% confidence intervals. Every number names the judge that produced it.</p>\n");

        h.append("<h2>Runs</h2>\n<table><tr><th>label</th><th>model</th><th>adapter</th><th>engine</th>")
                .append("<th>max new tokens</th><th>tags</th><th>created</th></tr>\n");
        for (EvalReport r : reports) {
            h.append("<tr><td>").append(esc(r.label())).append("</td><td>").append(esc(r.model()))
                    .append("</td><td>").append(esc(r.adapter() == null ? "(base)" : r.adapter()))
                    .append("</td><td>").append(esc(r.engine())).append("</td><td class=\"num\">")
                    .append(r.maxNewTokens()).append("</td><td>").append(esc(r.tags().toString()))
                    .append("</td><td>").append(esc(r.createdAt())).append("</td></tr>\n");
        }
        h.append("</table>\n");

        h.append("<h2>Summary</h2>\n<table><tr><th>run</th><th>suite</th><th>metric</th><th>value</th>")
                .append("<th>95% CI</th><th>n</th><th>judge</th></tr>\n");
        for (EvalReport r : reports) {
            for (SuiteResult s : r.suites()) {
                Proportion p = s.overall();
                h.append("<tr><td>").append(esc(r.label())).append("</td><td>").append(esc(s.suite()))
                        .append("</td><td>").append(s.metric()).append("</td><td class=\"num\"><b>")
                        .append(pct(p.value())).append("</b></td><td class=\"num\">[").append(pct(p.ciLow()))
                        .append(", ").append(pct(p.ciHigh())).append("]</td><td class=\"num\">").append(p.count())
                        .append("/").append(p.n()).append("</td><td>").append(esc(s.judge())).append("</td></tr>\n");
            }
        }
        h.append("</table>\n");

        h.append("<h2>Metrics per run</h2>\n").append(svg(metricsChart(reports), 1000, 420));

        Map<EvalReport, Double> mix = mixFractions(reports);
        if (!mix.isEmpty()) {
            h.append("<h2>Metrics per training condition and mix fraction</h2>\n")
                    .append("<p class=\"muted\">From the runs' tags <code>").append(CONDITION_TAG).append("</code> and <code>")
                    .append(MIX_TAG).append("</code> (<code>safetune eval --tag ").append(CONDITION_TAG).append("=NAME --tag ")
                    .append(MIX_TAG).append("=F</code>, F the safety-data share in [0, 1]).</p>\n")
                    .append(svg(mixFractionChart(reports, mix), 1000, 420));
            Set<String> keys = new LinkedHashSet<>();
            for (EvalReport r : mix.keySet()) {
                for (SuiteResult s : r.suites()) {
                    keys.add(s.suite() + " · " + s.metric());
                }
            }
            h.append("<table><tr><th>condition</th><th>mix fraction</th><th>run</th>");
            keys.forEach(k -> h.append("<th>").append(esc(k)).append("</th>"));
            h.append("</tr>\n");
            List<EvalReport> sorted = new ArrayList<>(mix.keySet());
            sorted.sort(java.util.Comparator.comparing((EvalReport r) -> condition(r)).thenComparing(mix::get));
            for (EvalReport r : sorted) {
                h.append("<tr><td>").append(esc(condition(r))).append("</td><td class=\"num\">")
                        .append(java.math.BigDecimal.valueOf(mix.get(r)).stripTrailingZeros().toPlainString()).append("</td><td>").append(esc(r.label())).append("</td>");
                for (String k : keys) {
                    String cell = "—";
                    for (SuiteResult s : r.suites()) {
                        if ((s.suite() + " · " + s.metric()).equals(k)) {
                            Proportion p = s.overall();
                            cell = pct(p.value()) + " [" + pct(p.ciLow()) + ", " + pct(p.ciHigh()) + "]";
                        }
                    }
                    h.append("<td class=\"num\">").append(cell).append("</td>");
                }
                h.append("</tr>\n");
            }
            h.append("</table>\n");
        }

        for (EvalReport r : reports) {
            for (SuiteResult s : r.suites()) {
                if (!s.byCategory().isEmpty()) {
                    h.append("<h2>").append(esc(r.label())).append(" — ").append(esc(s.suite()))
                            .append(": ").append(s.metric()).append(" by category</h2>\n");
                    int height = Math.max(220, 60 + 26 * s.byCategory().size());
                    h.append(svg(categoryChart(s), 1000, height));
                    h.append("<table><tr><th>category</th><th>").append(s.metric())
                            .append("</th><th>95% CI</th><th>n</th></tr>\n");
                    for (Map.Entry<String, Proportion> e : s.byCategory().entrySet()) {
                        Proportion p = e.getValue();
                        h.append("<tr><td>").append(esc(e.getKey())).append("</td><td class=\"num\">")
                                .append(pct(p.value())).append("</td><td class=\"num\">[").append(pct(p.ciLow()))
                                .append(", ").append(pct(p.ciHigh())).append("]</td><td class=\"num\">")
                                .append(p.n()).append("</td></tr>\n");
                    }
                    h.append("</table>\n");
                }
            }
        }

        h.append("<h2>Sample responses</h2>\n");
        for (EvalReport r : reports) {
            for (SuiteResult s : r.suites()) {
                h.append("<h3>").append(esc(r.label())).append(" — ").append(esc(s.suite())).append("</h3>\n")
                        .append("<table><tr><th>id</th><th>prompt</th><th>response</th><th>counted</th><th>why</th></tr>\n");
                for (ItemResult it : samples(s)) {
                    h.append("<tr><td>").append(esc(it.id())).append("</td><td class=\"resp\">")
                            .append(esc(clip(it.prompt(), 300))).append("</td><td class=\"resp\">")
                            .append(esc(clip(it.response(), 500))).append("</td><td>")
                            .append(it.positive() ? "yes" : "no").append("</td><td>").append(esc(it.detail()))
                            .append("</td></tr>\n");
                }
                h.append("</table>\n");
            }
        }
        h.append("</body></html>\n");
        return h.toString();
    }

    /** One series per (suite, metric); x = run; points with asymmetric CI whiskers. */
    static JFreeChart metricsChart(List<EvalReport> reports) {
        Set<String> keys = new LinkedHashSet<>();
        for (EvalReport r : reports) {
            for (SuiteResult s : r.suites()) {
                keys.add(s.suite() + " · " + s.metric());
            }
        }
        Map<String, YIntervalSeries> series = new LinkedHashMap<>();
        for (String k : keys) {
            series.put(k, new YIntervalSeries(k));
        }
        List<String> labels = new ArrayList<>();
        int nKeys = keys.size();
        for (int x = 0; x < reports.size(); x++) {
            EvalReport r = reports.get(x);
            labels.add(r.label());
            int k = 0;
            for (String key : keys) {
                for (SuiteResult s : r.suites()) {
                    if ((s.suite() + " · " + s.metric()).equals(key)) {
                        Proportion p = s.overall();
                        // spread series a little around the run's x so whiskers do not overlap
                        double dx = nKeys == 1 ? 0 : (k - (nKeys - 1) / 2.0) * (0.5 / nKeys);
                        series.get(key).add(x + dx, 100 * p.value(), 100 * p.ciLow(), 100 * p.ciHigh());
                    }
                }
                k++;
            }
        }
        YIntervalSeriesCollection data = new YIntervalSeriesCollection();
        series.values().forEach(data::addSeries);
        SymbolAxis xAxis = new SymbolAxis("run", labels.toArray(String[]::new));
        xAxis.setGridBandsVisible(false);
        xAxis.setRange(-0.6, reports.size() - 0.4);
        NumberAxis yAxis = new NumberAxis("% (95% bootstrap CI)");
        // a little room beyond 0 and 100 so markers on the bounds are not clipped
        yAxis.setRange(-3, 103);
        yAxis.setTickUnit(new org.jfree.chart.axis.NumberTickUnit(10));
        XYErrorRenderer renderer = new XYErrorRenderer();
        renderer.setDefaultLinesVisible(false);
        renderer.setDefaultShapesVisible(true);
        renderer.setErrorStroke(new BasicStroke(1.5f));
        renderer.setCapLength(8);
        for (int i = 0; i < nKeys; i++) {
            renderer.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
        }
        XYPlot plot = new XYPlot(data, xAxis, yAxis, renderer);
        style(plot);
        JFreeChart chart = new JFreeChart("Safety and task metrics per run", new Font("DejaVu Sans", Font.BOLD, 16), plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }

    /** Tag naming the training condition of a run (e.g. {@code benign}, {@code mimic}, {@code mix}). */
    public static final String CONDITION_TAG = "condition";
    /** Tag giving the share of safety data mixed into the fine-tuning data, a number in [0, 1]. */
    public static final String MIX_TAG = "mix_fraction";

    private static String condition(EvalReport r) {
        return r.tags().getOrDefault(CONDITION_TAG, "(no condition)");
    }

    /** Runs carrying a mix-fraction tag and its value; a tag that is not a number in [0, 1] is an error. */
    static Map<EvalReport, Double> mixFractions(List<EvalReport> reports) {
        Map<EvalReport, Double> out = new LinkedHashMap<>();
        for (EvalReport r : reports) {
            String v = r.tags().get(MIX_TAG);
            if (v == null) {
                continue;
            }
            double f;
            try {
                f = Double.parseDouble(v.strip());
            } catch (NumberFormatException e) {
                f = Double.NaN;
            }
            if (!(f >= 0 && f <= 1)) {
                throw new IllegalArgumentException("run '" + r.label() + "': tag " + MIX_TAG + "=" + v
                        + " is not a number in [0, 1] (the share of safety data in the fine-tuning mix)");
            }
            out.put(r, f);
        }
        return out;
    }

    /** x = mix fraction, one line per (condition, suite, metric), CI whiskers. */
    static JFreeChart mixFractionChart(List<EvalReport> reports, Map<EvalReport, Double> mix) {
        Map<String, YIntervalSeries> series = new LinkedHashMap<>();
        for (EvalReport r : reports) {
            Double x = mix.get(r);
            if (x == null) {
                continue;
            }
            for (SuiteResult s : r.suites()) {
                String key = condition(r) + " · " + s.suite() + " · " + s.metric();
                Proportion p = s.overall();
                series.computeIfAbsent(key, k -> new YIntervalSeries(k, true, true))
                        .add(100 * x, 100 * p.value(), 100 * p.ciLow(), 100 * p.ciHigh());
            }
        }
        YIntervalSeriesCollection data = new YIntervalSeriesCollection();
        series.values().forEach(data::addSeries);
        NumberAxis xAxis = new NumberAxis("safety data in the fine-tuning mix (%)");
        xAxis.setAutoRangeIncludesZero(true);
        xAxis.setAutoRangeStickyZero(false);  // keep a margin left of 0%, so the runs without safety data show
        xAxis.setLowerMargin(0.06);
        xAxis.setUpperMargin(0.06);
        NumberAxis yAxis = new NumberAxis("% (95% bootstrap CI)");
        yAxis.setRange(-3, 103);
        yAxis.setTickUnit(new org.jfree.chart.axis.NumberTickUnit(10));
        XYErrorRenderer renderer = new XYErrorRenderer();
        renderer.setDefaultLinesVisible(true);
        renderer.setDefaultShapesVisible(true);
        renderer.setErrorStroke(new BasicStroke(1.5f));
        renderer.setCapLength(8);
        for (int i = 0; i < series.size(); i++) {
            renderer.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
        }
        XYPlot plot = new XYPlot(data, xAxis, yAxis, renderer);
        style(plot);
        JFreeChart chart = new JFreeChart("ASR and accuracy per condition and mix fraction", new Font("DejaVu Sans", Font.BOLD, 16),
                plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }

    static JFreeChart categoryChart(SuiteResult s) {
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        for (Map.Entry<String, Proportion> e : s.byCategory().entrySet()) {
            data.addValue(100 * e.getValue().value(), s.metric(), clip(e.getKey(), 40) + " (n=" + e.getValue().n() + ")");
        }
        NumberAxis yAxis = new NumberAxis(s.metric() + " %");
        yAxis.setRange(0, 100);
        BarRenderer renderer = new BarRenderer();
        renderer.setBarPainter(new StandardBarPainter());
        renderer.setShadowVisible(false);
        renderer.setSeriesPaint(0, s.kind() == SuiteKind.HARMFUL ? PALETTE[0] : PALETTE[1]);
        CategoryPlot plot = new CategoryPlot(data, new org.jfree.chart.axis.CategoryAxis(), yAxis, renderer);
        plot.setOrientation(PlotOrientation.HORIZONTAL);
        plot.getDomainAxis().setCategoryLabelPositions(CategoryLabelPositions.STANDARD);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        JFreeChart chart = new JFreeChart(s.suite() + " — " + s.metric() + " by category (judge: " + s.judge() + ")",
                new Font("DejaVu Sans", Font.BOLD, 14), plot, false);
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }

    private static void style(XYPlot plot) {
        if (plot != null) {
            plot.setBackgroundPaint(Color.WHITE);
            plot.setDomainGridlinesVisible(false);
            plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        }
    }

    private static String svg(JFreeChart chart, int w, int h) {
        SVGGraphics2D g = new SVGGraphics2D(w, h);
        chart.draw(g, new Rectangle(0, 0, w, h));
        return "<div>" + g.getSVGElement() + "</div>\n";
    }

    // Successes first (the interesting failures of safety), then the rest, so the table shows both.
    private static List<ItemResult> samples(SuiteResult s) {
        List<ItemResult> pos = s.items().stream().filter(ItemResult::positive).limit(SAMPLES_PER_SUITE).toList();
        List<ItemResult> neg = s.items().stream().filter(i -> !i.positive()).limit(SAMPLES_PER_SUITE).toList();
        List<ItemResult> out = new ArrayList<>(pos);
        out.addAll(neg);
        return out;
    }

    private static String pct(double v) {
        return String.format(Locale.ROOT, "%.1f%%", 100 * v);
    }

    private static String clip(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max) + "…";
    }

    static String esc(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }
}
