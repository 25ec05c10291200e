package ai.safetune.model;

import ai.safetune.backend.Backend;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.generate.Generation;
import ai.safetune.generate.GenerationOptions;
import ai.safetune.generate.Generator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Greedy generations of SmolLM2 (Q4_1 GGUF, quantized in memory) against Hugging Face's, token for token up to
 * the first step whose reference top-2 margin is below 0.01. The prompts run as one left-padded batch.
 */
class ReferenceGreedyTest {
    record Case(int[] prompt, int[] generated, double[] margins) {
    }

    static List<Case> cases() throws Exception {
        ObjectMapper om = new ObjectMapper();
        List<Case> out = new ArrayList<>();
        for (String line : Files.readAllLines(ForwardShared.reference("smollm2_greedy.jsonl"))) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode n = om.readTree(line);
            out.add(new Case(om.convertValue(n.get("prompt_ids"), int[].class),
                    om.convertValue(n.get("generated_ids"), int[].class),
                    om.convertValue(n.get("top2_margins"), double[].class)));
        }
        return out;
    }

    @Test
    void firstFourPromptsMatch() throws Exception {
        check(cases().subList(0, 4));
    }

    @Test
    @Tag("slow")
    void allTwelvePromptsMatch() throws Exception {
        check(cases());
    }

    private static void check(List<Case> cases) {
        try (ModelFiles files = ModelFiles.open(ForwardShared.model("SmolLM2-135M-Instruct.Q4_1.gguf"));
             Backend be = new CpuBackend(Math.max(1, Runtime.getRuntime().availableProcessors()));
             LlamaModel m = LlamaModel.load(files.config(), files.weights(), be, false)) {
            List<int[]> prompts = cases.stream().map(Case::prompt).toList();
            int maxNew = cases.stream().mapToInt(c -> c.generated().length).max().orElseThrow();
            List<Generation> gens = new Generator(m, 2, null).generate(prompts,
                    GenerationOptions.builder().maxNewTokens(maxNew).stopTokenIds(Set.of(2)).build());
            for (int i = 0; i < cases.size(); i++) {
                Case c = cases.get(i);
                int[] ours = gens.get(i).generatedIds();
                int compared = 0;
                for (int s = 0; s < c.generated().length; s++) {
                    assertThat(ours.length).as("case %d: generated %d tokens, reference %d", i, ours.length,
                            c.generated().length).isGreaterThan(s);
                    assertThat(ours[s]).as("case %d step %d", i, s).isEqualTo(c.generated()[s]);
                    compared++;
                    if (c.margins()[s] < 0.01) {
                        break; // a near-tie: fp32 summation order may pick either token from here on
                    }
                }
                if (compared == c.generated().length) {
                    assertThat(ours).as("case %d", i).isEqualTo(c.generated());
                }
            }
        }
    }
}
