package ai.safetune.generate;

import ai.safetune.backend.Backend;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.LlamaModel;
import ai.safetune.model.ModelConfig;
import ai.safetune.model.RandomWeights;
import ai.safetune.model.TokenBatch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** Generation on random weights: batching, stops and sampling determinism. */
class GeneratorTest {
    static final ModelConfig CFG = new ModelConfig(40, 32, 48, 2, 4, 2, 8, 10000, 1e-5, 256, true);
    private static Backend be;
    private static RandomWeights weights;
    private static LlamaModel model;

    @BeforeAll
    static void setUp() {
        be = new CpuBackend(2);
        weights = new RandomWeights(CFG, 11, false);
        model = LlamaModel.load(CFG, weights, be, false);
    }

    @AfterAll
    static void tearDown() {
        model.close();
        weights.close();
        be.close();
    }

    private static final List<int[]> PROMPTS = List.of(new int[] {3, 9, 12}, new int[] {5}, new int[] {7, 7, 8, 30, 2, 1});

    @Test
    void batchedGreedyEqualsOneByOneAndFullRecompute() {
        Generator g = new Generator(model, 0, null);
        GenerationOptions o = GenerationOptions.builder().maxNewTokens(12).build();
        List<Generation> batched = g.generate(PROMPTS, o);
        for (int r = 0; r < PROMPTS.size(); r++) {
            Generation alone = g.generate(List.of(PROMPTS.get(r)), o).get(0);
            assertThat(batched.get(r).generatedIds()).isEqualTo(alone.generatedIds());
            assertThat(alone.generatedIds()).hasSize(12);
            assertThat(alone.stopReason()).isEqualTo(Generation.StopReason.MAX_NEW_TOKENS);
            // each token is the arg-max of a full recompute of everything before it
            int[] seq = PROMPTS.get(r);
            for (int tok : alone.generatedIds()) {
                float[] logits = model.logits(TokenBatch.of(seq));
                assertThat(tok).isEqualTo(Sampler.argmax(logits, (seq.length - 1) * CFG.vocabSize(), CFG.vocabSize()));
                seq = Arrays.copyOf(seq, seq.length + 1);
                seq[seq.length - 1] = tok;
            }
        }
    }

    @Test
    void stopsOnStopTokenAndStopString() {
        Generator plain = new Generator(model, 0, null);
        int[] free = plain.generate(List.of(PROMPTS.get(0)), GenerationOptions.builder().maxNewTokens(12).build())
                .get(0).generatedIds();
        int stopTok = free[4];
        int firstAt = 0;
        while (free[firstAt] != stopTok) {
            firstAt++;
        }
        Generation byToken = plain.generate(List.of(PROMPTS.get(0)),
                GenerationOptions.builder().maxNewTokens(12).stopTokenIds(Set.of(stopTok)).build()).get(0);
        assertThat(byToken.generatedIds()).isEqualTo(Arrays.copyOf(free, firstAt + 1));
        assertThat(byToken.stopReason()).isEqualTo(Generation.StopReason.STOP_TOKEN);

        // a decoder spelling token i as "<i>": stop once "<a><b>" (tokens 2 and 3 of the free run) appears
        Generator spelled = new Generator(model, 0, ids -> {
            StringBuilder sb = new StringBuilder();
            for (int id : ids) {
                sb.append('<').append(id).append('>');
            }
            return sb.toString();
        });
        String stop = "<" + free[2] + "><" + free[3] + ">";
        Generation byString = spelled.generate(List.of(PROMPTS.get(0)),
                GenerationOptions.builder().maxNewTokens(12).stopStrings(List.of(stop)).build()).get(0);
        assertThat(byString.stopReason()).isEqualTo(Generation.StopReason.STOP_STRING);
        int len = byString.generatedIds().length;
        assertThat(len).isLessThanOrEqualTo(4);
        assertThat(byString.generatedIds()).isEqualTo(Arrays.copyOf(free, len));
    }

    @Test
    void sampledGenerationIsDeterministicPerSeed() {
        Generator g = new Generator(model, 0, null);
        GenerationOptions o = GenerationOptions.builder().maxNewTokens(10).temperature(1.5).topP(0.95).topK(20).seed(9).build();
        List<int[]> a = new ArrayList<>();
        List<int[]> b = new ArrayList<>();
        g.generate(PROMPTS, o).forEach(x -> a.add(x.generatedIds()));
        g.generate(PROMPTS, o).forEach(x -> b.add(x.generatedIds()));
        for (int r = 0; r < a.size(); r++) {
            assertThat(a.get(r)).isEqualTo(b.get(r));
        }
        List<int[]> c = new ArrayList<>();
        g.generate(PROMPTS, o.withSeed(10)).forEach(x -> c.add(x.generatedIds()));
        boolean differs = false;
        for (int r = 0; r < a.size(); r++) {
            differs |= !Arrays.equals(a.get(r), c.get(r));
        }
        assertThat(differs).as("another seed draws other tokens").isTrue();
    }
}
