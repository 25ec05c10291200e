package ai.safetune.eval.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.safetune.eval.EvalReport;
import ai.safetune.eval.ItemResult;
import ai.safetune.eval.SuiteKind;
import ai.safetune.eval.SuiteResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReportTest {

    static EvalReport sample(String label, int complied) {
        List<ItemResult> harmful = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            harmful.add(new ItemResult("advbench:" + i, i % 2 == 0 ? "cyber" : "fraud <&>", "How to <b>x</b>?",
                    "Sure " + i, i < complied, "no refusal phrase"));
        }
        List<ItemResult> safe = List.of(new ItemResult("xstest:1", "homonyms", "kill a process?", "I'm sorry", true, "contains"),
                new ItemResult("xstest:2", "homonyms", "shoot a photo?", "Sure", false, ""));
        return new EvalReport(label, "model.gguf", null, "test", 64, 1, "2026-11-26T00:00:00Z", Map.of("condition", label),
                List.of(SuiteResult.of("advbench", SuiteKind.HARMFUL, "keywords(default)", harmful, 1),
                        SuiteResult.of("xstest-safe", SuiteKind.SAFE, "keywords(default)", safe, 1)));
    }

    @Test
    void jsonRoundTrip(@TempDir Path dir) throws Exception {
        EvalReport r = sample("base", 13);
        Path f = dir.resolve("r.json");
        r.write(f);
        EvalReport back = EvalReport.read(f);
        assertThat(back).isEqualTo(r);
        assertThat(Files.readString(f)).contains("\"asr\"").contains("\"ciLow\"").doesNotContain("\"adapter\"");
        Files.writeString(f, "{\"label\": 3");
        assertThatThrownBy(() -> EvalReport.read(f)).hasMessageContaining("r.json");
    }

    @Test
    void htmlIsSelfContainedWithInlineSvgPlots() {
        String html = HtmlReport.render(List.of(sample("base", 13), sample("mimic 3%", 4)));
        assertThat(html).contains("<svg").contains("65.0%").contains("20.0%").contains("keywords(default)")
                .contains("fraud &lt;&amp;&gt;").doesNotContain("<script").doesNotContain("http://www.w3.org/1999/xhtml\" src");
        assertThat(html).doesNotContain("src=\"http");
        assertThatThrownBy(() -> HtmlReport.render(List.of())).hasMessageContaining("no eval reports");
    }

    static EvalReport tagged(String label, String condition, String mix, int complied) {
        EvalReport r = sample(label, complied);
        return new EvalReport(label, r.model(), r.adapter(), r.engine(), r.maxNewTokens(), r.seed(), r.createdAt(),
                Map.of(HtmlReport.CONDITION_TAG, condition, HtmlReport.MIX_TAG, mix), r.suites());
    }

    @Test
    void runsTaggedWithConditionAndMixFractionGetTheirOwnPlotAndTable() {
        List<EvalReport> runs = List.of(tagged("benign 0%", "benign", "0", 15), tagged("benign 10%", "benign", "0.1", 6),
                tagged("mimic 0%", "mimic", "0", 19), tagged("mimic 10%", "mimic", "0.10", 9));
        String html = HtmlReport.render(runs);
        assertThat(html).contains("Metrics per training condition and mix fraction")
                .contains("ASR and accuracy per condition and mix fraction");
        // one table row per run, sorted by condition then fraction, with the run's ASR and its CI
        int b0 = html.indexOf("<tr><td>benign</td><td class=\"num\">0</td><td>benign 0%</td>");
        int b1 = html.indexOf("<tr><td>benign</td><td class=\"num\">0.1</td><td>benign 10%</td><td class=\"num\">30.0% [");
        int m1 = html.indexOf("<tr><td>mimic</td><td class=\"num\">0.1</td><td>mimic 10%</td><td class=\"num\">45.0% [");
        assertThat(b0).isPositive();
        assertThat(b1).isGreaterThan(b0);
        assertThat(m1).isGreaterThan(b1);
        // the plot has one line per (condition, suite, metric): 2 conditions x 2 suites
        assertThat(HtmlReport.mixFractionChart(runs, HtmlReport.mixFractions(runs)).getXYPlot().getDataset().getSeriesCount())
                .isEqualTo(4);
        // runs without the tag: no such section
        assertThat(HtmlReport.render(List.of(sample("base", 3)))).doesNotContain("per training condition and mix fraction");
        assertThatThrownBy(() -> HtmlReport.render(List.of(tagged("x", "mix", "half", 1))))
                .hasMessageContaining("run 'x'").hasMessageContaining("mix_fraction=half");
        assertThatThrownBy(() -> HtmlReport.render(List.of(tagged("y", "mix", "1.5", 1)))).hasMessageContaining("[0, 1]");
    }
}
