package ai.safetune.model;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * The frozen weights of a Llama-family model addressed by their Hugging Face names, in Hugging Face
 * layout (GGUF sources un-permute the Q/K rows on load, so every consumer sees HF row order):
 * {@code model.embed_tokens.weight} [vocab, hidden]; per layer {@code model.layers.N.input_layernorm.weight},
 * {@code self_attn.{q,k,v,o}_proj.weight}, {@code post_attention_layernorm.weight},
 * {@code mlp.{gate,up,down}_proj.weight}; {@code model.norm.weight}; {@code lm_head.weight} unless tied.
 */
public interface ModelWeights extends AutoCloseable {
    Optional<Weight> find(String hfName);

    /** @throws IllegalArgumentException naming the missing tensor and the source file */
    Weight get(String hfName);

    Set<String> names();

    /**
     * Every weight expanded once to fp32 on the heap (faster matmuls, 4 bytes per value). The copy does not
     * depend on this object: closing either leaves the other usable.
     */
    default ModelWeights dequantized() {
        List<String> ns = List.copyOf(names());
        Weight[] expanded = new Weight[ns.size()];
        // tensors are independent and reads are thread-safe: expand them in parallel, keep the name order
        IntStream.range(0, ns.size()).parallel().forEach(i -> expanded[i] = FloatWeight.copyOf(get(ns.get(i))));
        Map<String, Weight> out = new LinkedHashMap<>();
        for (int i = 0; i < expanded.length; i++) {
            out.put(ns.get(i), expanded[i]);
        }
        return new MapWeights("dequantized " + this, out, () -> { });
    }

    @Override
    void close();
}
