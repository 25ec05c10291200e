package ai.safetune.train;

import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * LoRA hyper-parameters, named as in HF PEFT: {@code r}, {@code alpha} ({@code scaling = alpha / r}, or
 * {@code alpha / sqrt(r)} with rsLoRA), {@code dropout} and the target modules.
 *
 * @param r             rank, &gt; 0
 * @param alpha         {@code lora_alpha}
 * @param dropout       dropout probability on the LoRA input, in [0, 1)
 * @param useRsLora     rank-stabilized scaling {@code alpha / sqrt(r)}
 * @param targetModules module suffixes ({@code q_proj}, ...) in the order given
 */
public record LoraConfig(int r, double alpha, double dropout, boolean useRsLora, List<String> targetModules) {
    /** Every linear module of a Llama block, PEFT's names ("all-linear" expands to these). */
    public static final List<String> ALL_LINEAR =
            List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");
    private static final Set<String> KNOWN = Set.copyOf(ALL_LINEAR);

    public LoraConfig {
        if (r <= 0) {
            throw new IllegalArgumentException("LoRA r must be > 0, got " + r);
        }
        if (!Double.isFinite(alpha) || alpha <= 0) {
            throw new IllegalArgumentException("LoRA alpha must be a finite number > 0, got " + alpha);
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("LoRA dropout must be in [0, 1), got " + dropout);
        }
        targetModules = List.copyOf(Objects.requireNonNull(targetModules, "targetModules"));
        if (targetModules.isEmpty()) {
            throw new IllegalArgumentException("LoRA needs at least one target module; known: " + ALL_LINEAR);
        }
        for (String m : targetModules) {
            if (!KNOWN.contains(m)) {
                throw new IllegalArgumentException("unknown LoRA target module '" + m + "'; expected some of "
                        + ALL_LINEAR + " or all-linear");
            }
        }
        if (Set.copyOf(targetModules).size() != targetModules.size()) {
            throw new IllegalArgumentException("LoRA target modules repeat a name: " + targetModules);
        }
    }

    /** The factor applied to {@code (x·Aᵀ)·Bᵀ}. */
    public double scaling() {
        return useRsLora ? alpha / Math.sqrt(r) : alpha / r;
    }

    /**
     * Parses a comma-separated list such as {@code q_proj,v_proj}, or {@code all-linear}.
     */
    public static List<String> parseTargets(String list) {
        Objects.requireNonNull(list, "target module list");
        String s = list.trim();
        if (s.equals("all-linear") || s.equals("all_linear")) {
            return ALL_LINEAR;
        }
        return java.util.Arrays.stream(s.split(",")).map(String::trim).filter(t -> !t.isEmpty()).toList();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builder with PEFT's defaults: r 8, alpha 8, dropout 0, no rsLoRA, all linear modules. */
    public static final class Builder {
        private int r = 8;
        private double alpha = 8;
        private double dropout = 0;
        private boolean rsLora;
        private List<String> targets = ALL_LINEAR;

        public Builder r(int r) { this.r = r; return this; }
        public Builder alpha(double alpha) { this.alpha = alpha; return this; }
        public Builder dropout(double dropout) { this.dropout = dropout; return this; }
        public Builder useRsLora(boolean rsLora) { this.rsLora = rsLora; return this; }
        public Builder targetModules(List<String> targets) { this.targets = targets; return this; }
        public Builder targetModules(String commaList) { this.targets = parseTargets(commaList); return this; }

        public LoraConfig build() {
            return new LoraConfig(r, alpha, dropout, rsLora, targets);
        }
    }
}
