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
}
