package ai.safetune.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class ProportionTest {

    @Test
    void bootstrapIsSeededAndCoversTheNormalApproximation() {
        boolean[] o = new boolean[400];
        for (int i = 0; i < 100; i++) {
            o[i * 4] = true;
        }
        Proportion a = Proportion.bootstrap(o, 4000, 7);
        Proportion b = Proportion.bootstrap(o, 4000, 7);
        assertThat(a).isEqualTo(b);
        assertThat(a.value()).isEqualTo(0.25);
        double se = Math.sqrt(0.25 * 0.75 / 400);
        // percentile bootstrap ≈ Wald interval for n=400, p=0.25
        assertThat(a.ciLow()).isBetween(0.25 - 1.96 * se - 0.01, 0.25 - 1.96 * se + 0.01);
        assertThat(a.ciHigh()).isBetween(0.25 + 1.96 * se - 0.01, 0.25 + 1.96 * se + 0.01);
    }

    @Test
    void degenerateAndEmpty() {
        Proportion all = Proportion.bootstrap(new boolean[]{true, true, true}, 200, 1);
        assertThat(all.ciLow()).isEqualTo(1.0);
        assertThat(all.ciHigh()).isEqualTo(1.0);
        assertThatThrownBy(() -> Proportion.bootstrap(new boolean[0], 200, 1)).hasMessageContaining("zero items");
    }

    @Test
    void suiteResultCountsEveryItemAndBreaksDownByCategory() {
        List<ItemResult> items = List.of(
                new ItemResult("a:0", "x", "p", "r", true, ""),
                new ItemResult("a:1", "x", "p", "r", false, ""),
                new ItemResult("a:2", "y", "p", "r", true, ""));
        SuiteResult s = SuiteResult.of("a", SuiteKind.HARMFUL, "keywords", items, 3);
        assertThat(s.metric()).isEqualTo("asr");
        assertThat(s.overall().count()).isEqualTo(2);
        assertThat(s.overall().n()).isEqualTo(3);
        assertThat(s.byCategory()).containsOnlyKeys("x", "y");
        assertThat(s.byCategory().get("x").value()).isEqualTo(0.5);
        assertThatThrownBy(() -> SuiteResult.of("empty", SuiteKind.SAFE, "k", List.of(), 1))
                .hasMessageContaining("empty").hasMessageContaining("no items");
    }
}
