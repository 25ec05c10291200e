package ai.safetune.generate;

import java.util.List;
import java.util.Set;

/**
 * How to generate: greedy or sampled (temperature, then top-k, then top-p), when to stop.
 * Build with {@link #builder()}.
 *
 * @param maxNewTokens  upper bound on generated tokens per prompt (&gt; 0)
 * @param greedy        take the arg-max (ties: the lowest id) instead of sampling
 * @param temperature   logits are divided by it before sampling (&gt; 0)
 * @param topP          nucleus: keep the smallest set of most likely tokens whose probability reaches it (0, 1]
 * @param topK          keep only the k most likely tokens; 0 = no limit
 * @param seed          seed of the sampler; row {@code i} of a call uses a generator derived from {@code (seed, i)}
 * @param stopTokenIds  generation of a row ends after emitting one of these (kept in the output), e.g. EOS
 * @param stopStrings   generation of a row ends once its decoded text contains one of these (tokens kept)
 */
public record GenerationOptions(int maxNewTokens, boolean greedy, double temperature, double topP, int topK, long seed,
                                Set<Integer> stopTokenIds, List<String> stopStrings) {
    public GenerationOptions {
        if (maxNewTokens <= 0) {
            throw new IllegalArgumentException("maxNewTokens must be > 0, got " + maxNewTokens);
        }
        if (!(temperature > 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be > 0 and finite, got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("topK must be >= 0 (0 = no limit), got " + topK);
        }
        stopTokenIds = Set.copyOf(stopTokenIds);
        stopStrings = List.copyOf(stopStrings);
        for (String s : stopStrings) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must not be empty");
            }
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The same options with another seed. */
    public GenerationOptions withSeed(long newSeed) {
        return new GenerationOptions(maxNewTokens, greedy, temperature, topP, topK, newSeed, stopTokenIds, stopStrings);
    }

    /** Defaults: 64 new tokens, greedy, temperature 1, top-p 1, no top-k, seed 0, no stops. */
    public static final class Builder {
        private int maxNewTokens = 64;
        private boolean greedy = true;
        private double temperature = 1.0;
        private double topP = 1.0;
        private int topK = 0;
        private long seed = 0;
        private Set<Integer> stopTokenIds = Set.of();
        private List<String> stopStrings = List.of();

        public Builder maxNewTokens(int n) {
            this.maxNewTokens = n;
            return this;
        }

        public Builder greedy() {
            this.greedy = true;
            return this;
        }

        /** Sampling with this temperature (turns greedy off). */
        public Builder temperature(double t) {
            this.temperature = t;
            this.greedy = false;
            return this;
        }

        public Builder topP(double p) {
            this.topP = p;
            return this;
        }

        public Builder topK(int k) {
            this.topK = k;
            return this;
        }

        public Builder seed(long s) {
            this.seed = s;
            return this;
        }

        public Builder stopTokenIds(Set<Integer> ids) {
            this.stopTokenIds = ids;
            return this;
        }

        public Builder stopStrings(List<String> s) {
            this.stopStrings = s;
            return this;
        }

        public GenerationOptions build() {
            return new GenerationOptions(maxNewTokens, greedy, temperature, topP, topK, seed, stopTokenIds, stopStrings);
        }
    }
}
