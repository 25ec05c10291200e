package ai.safetune.model;

import java.util.Optional;
import java.util.Set;

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

    @Override
    void close();
}
