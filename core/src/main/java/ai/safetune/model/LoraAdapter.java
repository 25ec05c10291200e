package ai.safetune.model;

import java.util.Map;

/**
 * LoRA deltas applied in the forward pass: for each adapted linear module (key = its Hugging Face module
 * path, e.g. {@code model.layers.0.self_attn.q_proj}) {@code y = x·Wᵀ + scaling·(x·Aᵀ)·Bᵀ}.
 *
 * @param scaling {@code alpha/r}, or {@code alpha/√r} with rsLoRA
 * @param modules A {@code [r, in]} and B {@code [out, r]} per module
 */
public record LoraAdapter(double scaling, Map<String, Pair> modules) {
    public LoraAdapter {
        if (!Double.isFinite(scaling)) {
            throw new IllegalArgumentException("LoRA scaling must be finite, got " + scaling);
        }
        modules = Map.copyOf(modules);
    }

    /** One module's factors, row-major: {@code a [r, in]}, {@code b [out, r]}. */
    public record Pair(int r, int in, int out, float[] a, float[] b) {
        public Pair {
            if (r <= 0 || in <= 0 || out <= 0) {
                throw new IllegalArgumentException("LoRA r, in, out must be > 0, got " + r + ", " + in + ", " + out);
            }
            if (a.length != r * in || b.length != out * r) {
                throw new IllegalArgumentException("LoRA A must be [" + r + ", " + in + "] and B [" + out + ", " + r
                        + "], got " + a.length + " and " + b.length + " values");
            }
        }
    }
}
