package ai.safetune.eval.onnx;

import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * How {@link OrtEvaluator#generate} decodes.
 *
 * @param maxNewTokens at most this many tokens per prompt (EOS included)
 * @param greedy       argmax decoding (then temperature/topP/topK are ignored)
 * @param temperature  sampling temperature (> 0)
 * @param topP         nucleus mass in (0, 1]
 * @param topK         keep the K most likely tokens (0 = all)
 * @param seed         sampling seed; prompt i always uses a generator seeded from (seed, i), so results do
 *                     not depend on batching
 * @param eosIds       tokens that end a response (emitted, then generation stops)
 * @param stopStrings  texts that end a response; the returned text is cut before the stop string
 * @param batchSize    prompts decoded together
 * @param padding      where batched prompts are padded
 */
public record GenerationConfig(int maxNewTokens, boolean greedy, double temperature, double topP, int topK, long seed,
                               Set<Integer> eosIds, List<String> stopStrings, int batchSize, Padding padding) {

    public enum Padding { LEFT, RIGHT }

    public GenerationConfig {
        if (maxNewTokens <= 0) {
            throw new IllegalArgumentException("maxNewTokens must be > 0, got " + maxNewTokens);
        }
        if (!greedy && !(temperature > 0)) {
            throw new IllegalArgumentException("temperature must be > 0 for sampling, got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("topK must be >= 0, got " + topK);
        }
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batchSize must be > 0, got " + batchSize);
        }
        eosIds = Set.copyOf(eosIds);
        stopStrings = List.copyOf(stopStrings);
        for (String s : stopStrings) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must not be empty");
            }
        }
        Objects.requireNonNull(padding, "padding");
    }

    public static GenerationConfig greedy(int maxNewTokens, Set<Integer> eosIds) {
        return new GenerationConfig(maxNewTokens, true, 1.0, 1.0, 0, 0, eosIds, List.of(), 16, Padding.LEFT);
    }

    public GenerationConfig withBatchSize(int b) {
        return new GenerationConfig(maxNewTokens, greedy, temperature, topP, topK, seed, eosIds, stopStrings, b, padding);
    }

    public GenerationConfig withPadding(Padding p) {
        return new GenerationConfig(maxNewTokens, greedy, temperature, topP, topK, seed, eosIds, stopStrings, batchSize, p);
    }

    public GenerationConfig withStopStrings(List<String> stops) {
        return new GenerationConfig(maxNewTokens, greedy, temperature, topP, topK, seed, eosIds, stops, batchSize, padding);
    }

    public GenerationConfig withSampling(double temperature, double topP, int topK, long seed) {
        return new GenerationConfig(maxNewTokens, false, temperature, topP, topK, seed, eosIds, stopStrings, batchSize, padding);
    }
}
