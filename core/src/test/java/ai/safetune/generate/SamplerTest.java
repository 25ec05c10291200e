package ai.safetune.generate;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SamplerTest {
    private static final float[] LOGITS = {1.0f, 3.0f, 2.5f, -1.0f, 3.0f, 0.0f};

    @Test
    void greedyTakesTheFirstMaximum() {
        Sampler s = new Sampler(GenerationOptions.builder().greedy().build(), 1);
        assertThat(s.next(LOGITS, 0, LOGITS.length)).isEqualTo(1);
        assertThat(Sampler.argmax(new float[] {9, 0, 1, 7}, 2, 2)).isEqualTo(1);
    }

    @Test
    void samplingFollowsTheSoftmaxWithTemperature() {
        double t = 0.7;
        Sampler s = new Sampler(GenerationOptions.builder().temperature(t).build(), 123);
        int draws = 200_000;
        int[] counts = new int[LOGITS.length];
        for (int i = 0; i < draws; i++) {
            counts[s.next(LOGITS, 0, LOGITS.length)]++;
        }
        double z = 0;
        for (float l : LOGITS) {
            z += Math.exp(l / t);
        }
        for (int i = 0; i < LOGITS.length; i++) {
            double p = Math.exp(LOGITS[i] / t) / z;
            double sd = Math.sqrt(p * (1 - p) / draws);
            assertThat((double) counts[i] / draws).as("token %d", i).isCloseTo(p, org.assertj.core.data.Offset.offset(5 * sd + 1e-9));
        }
    }

    @Test
    void topKAndTopPRestrictTheCandidates() {
        Sampler k2 = new Sampler(GenerationOptions.builder().temperature(1).topK(2).build(), 5);
        Sampler p = new Sampler(GenerationOptions.builder().temperature(1).topP(0.5).build(), 5);
        // probabilities: 1 and 4 tie at ~0.35 each, 2 ~0.21: nucleus 0.5 keeps ids 1 and 4 (two tokens reach 0.5)
        for (int i = 0; i < 2000; i++) {
            assertThat(k2.next(LOGITS, 0, LOGITS.length)).isIn(1, 4);
            assertThat(p.next(LOGITS, 0, LOGITS.length)).isIn(1, 4);
        }
        Sampler tiny = new Sampler(GenerationOptions.builder().temperature(1).topP(1e-6).build(), 5);
        assertThat(tiny.next(LOGITS, 0, LOGITS.length)).isEqualTo(1);
    }

    @Test
    void sameSeedSameDraws() {
        GenerationOptions o = GenerationOptions.builder().temperature(1.3).topP(0.9).build();
        Sampler a = new Sampler(o, 77);
        Sampler b = new Sampler(o, 77);
        for (int i = 0; i < 100; i++) {
            assertThat(a.next(LOGITS, 0, LOGITS.length)).isEqualTo(b.next(LOGITS, 0, LOGITS.length));
        }
    }

    @Test
    void badOptionsAreRejected() {
        assertThatThrownBy(() -> GenerationOptions.builder().temperature(0).build()).hasMessageContaining("temperature");
        assertThatThrownBy(() -> GenerationOptions.builder().topP(1.5).build()).hasMessageContaining("topP");
        assertThatThrownBy(() -> GenerationOptions.builder().maxNewTokens(0).build()).hasMessageContaining("maxNewTokens");
        assertThatThrownBy(() -> new Sampler(GenerationOptions.builder().build(), 0).next(new float[] {0, Float.NaN}, 0, 2))
                .hasMessageContaining("NaN");
    }
}
