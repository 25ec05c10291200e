package ai.safetune.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;

class OptimizerTest {
    @Test
    void firstAdamStepMovesEachWeightByLrTimesSignOfGradient() {
        // with bias correction, step 1 gives m̂ = g, v̂ = g², so the update is lr·g/(|g|+eps) ≈ lr·sign(g)
        float[] p = {1f, -2f, 0.5f};
        float[] g = {0.3f, -4f, 1e-3f};
        AdamW opt = new AdamW(new int[] {3}, 0.9, 0.999, 1e-8, 0.0);
        opt.step(List.of(p), List.of(g), 0.01);
        assertThat(p[0]).isCloseTo(0.99f, within(1e-6f));
        assertThat(p[1]).isCloseTo(-1.99f, within(1e-6f));
        assertThat(p[2]).isCloseTo(0.49f, within(1e-5f));
        assertThat(opt.stepCount()).isEqualTo(1);
    }

    @Test
    void weightDecayIsDecoupled() {
        float[] p = {2f};
        AdamW opt = new AdamW(new int[] {1}, 0.9, 0.999, 1e-8, 0.1);
        opt.step(List.of(p), List.of(new float[] {0f}), 0.5);
        // zero gradient: only the decay p ← p·(1 − lr·wd) acts
        assertThat(p[0]).isCloseTo(2f * (1 - 0.05f), within(1e-6f));
    }

    @Test
    void secondStepMatchesTheClosedForm() {
        float[] p = {0f};
        AdamW opt = new AdamW(new int[] {1}, 0.9, 0.999, 1e-8, 0.0);
        opt.step(List.of(p), List.of(new float[] {1f}), 0.1);
        opt.step(List.of(p), List.of(new float[] {-1f}), 0.1);
        double m = 0.9 * 0.1 + 0.1 * -1;          // -0.01
        double v = 0.999 * 0.001 + 0.001 * 1;      // 0.001999
        double upd = 0.1 / (1 - 0.81) * m / (Math.sqrt(v) / Math.sqrt(1 - 0.998001) + 1e-8);
        assertThat((double) p[0]).isCloseTo(-0.1 - upd, within(1e-6));
    }

    @Test
    void restoreContinuesExactly() {
        float[] p1 = {0.5f, 1f};
        float[] p2 = {0.5f, 1f};
        AdamW a = new AdamW(new int[] {2}, 0.9, 0.999, 1e-8, 0.01);
        a.step(List.of(p1), List.of(new float[] {0.2f, -0.1f}), 0.01);
        AdamW b = new AdamW(new int[] {2}, 0.9, 0.999, 1e-8, 0.01);
        b.restore(a.firstMoments(), a.secondMoments(), a.stepCount());
        System.arraycopy(p1, 0, p2, 0, 2);
        a.step(List.of(p1), List.of(new float[] {0.3f, 0.4f}), 0.01);
        b.step(List.of(p2), List.of(new float[] {0.3f, 0.4f}), 0.01);
        assertThat(p2).containsExactly(p1);
        assertThatThrownBy(() -> b.restore(new float[1][1], new float[1][1], 1)).hasMessageContaining("expected 2");
    }

    @Test
    void clippingScalesToMaxNorm() {
        float[] g1 = {3f};
        float[] g2 = {4f};
        double norm = AdamW.clipGradNorm(List.of(g1, g2), 1.0);
        assertThat(norm).isEqualTo(5.0);
        assertThat(Math.hypot(g1[0], g2[0])).isCloseTo(1.0, within(1e-5));
        float[] small = {0.1f};
        AdamW.clipGradNorm(List.of(small), 1.0);
        assertThat(small[0]).isEqualTo(0.1f);
    }

    @Test
    void schedulesFollowHfDefinitions() {
        LrSchedule lin = new LrSchedule(LrSchedule.Kind.LINEAR, 1.0, 10, 110);
        assertThat(lin.at(0)).isZero();
        assertThat(lin.at(5)).isEqualTo(0.5);
        assertThat(lin.at(10)).isEqualTo(1.0);
        assertThat(lin.at(60)).isEqualTo(0.5);
        assertThat(lin.at(110)).isZero();
        LrSchedule cos = new LrSchedule(LrSchedule.Kind.COSINE, 2.0, 0, 100);
        assertThat(cos.at(0)).isEqualTo(2.0);
        assertThat(cos.at(50)).isCloseTo(1.0, within(1e-12));
        assertThat(cos.at(100)).isCloseTo(0.0, within(1e-12));
        LrSchedule c = new LrSchedule(LrSchedule.Kind.CONSTANT, 3e-4, 2, 10);
        assertThat(c.at(1)).isEqualTo(1.5e-4);
        assertThat(c.at(9)).isEqualTo(3e-4);
        assertThatThrownBy(() -> LrSchedule.Kind.parse("step")).hasMessageContaining("constant, linear or cosine");
    }

    @Test
    void loraConfigValidatesAndScales() {
        assertThat(LoraConfig.builder().r(16).alpha(32).build().scaling()).isEqualTo(2.0);
        assertThat(LoraConfig.builder().r(4).alpha(8).useRsLora(true).build().scaling()).isEqualTo(4.0);
        assertThat(LoraConfig.parseTargets("all-linear")).hasSize(7);
        assertThatThrownBy(() -> LoraConfig.builder().targetModules("q_proj,lm_head").build())
                .hasMessageContaining("'lm_head'");
        assertThatThrownBy(() -> LoraConfig.builder().r(0).build()).hasMessageContaining("r must be > 0");
    }
}
