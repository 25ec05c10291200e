package ai.safetune.model;

import ai.safetune.backend.Backend;
import ai.safetune.backend.Tensor;
import ai.safetune.backend.WeightHandle;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;

/**
 * The frozen weights of a Llama model prepared on a backend: embedding, output head (the embedding when tied),
 * final norm and, per block, the two norms and the seven projections. One loader for inference
 * ({@link LlamaModel}) and training ({@code ai.safetune.train.LoraTrainingModel}), so both check the same shapes
 * against the config and release the same handles. The source weights must stay open while this is used
 * (quantized weights are expanded from them per tile unless {@code dequantize}).
 */
public final class FrozenLlama implements AutoCloseable {

    /** The seven projections' names within a block, in {@link LlamaModel#LINEAR_MODULES} order. */
    public static final List<String> PROJECTIONS = List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
            "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj");

    /** One block's frozen weights; {@link #linears()} in {@link #PROJECTIONS} order. */
    public record Block(Tensor attnNorm, WeightHandle q, WeightHandle k, WeightHandle v, WeightHandle o, Tensor mlpNorm,
                        WeightHandle gate, WeightHandle up, WeightHandle down) {
        public List<WeightHandle> linears() {
            return List.of(q, k, v, o, gate, up, down);
        }

        /**
         * The seven projections wrapped by a model's own type: {@code wrap(module, weight)} with the module's full
         * name ({@code model.layers.3.mlp.up_proj}), in {@link #PROJECTIONS} order.
         */
        public <T> List<T> wrap(int layer, BiFunction<String, WeightHandle, T> wrap) {
            List<WeightHandle> ws = linears();
            List<T> out = new ArrayList<>(ws.size());
            for (int i = 0; i < ws.size(); i++) {
                out.add(wrap.apply(LlamaLayout.layer(layer, PROJECTIONS.get(i)), ws.get(i)));
            }
            return out;
        }
    }

    private final ModelConfig config;
    private final WeightHandle embed;
    private final WeightHandle head;
    private final Tensor finalNorm;
    private final Block[] blocks;
    private boolean closed;

    private FrozenLlama(ModelConfig config, WeightHandle embed, WeightHandle head, Tensor finalNorm, Block[] blocks) {
        this.config = config;
        this.embed = embed;
        this.head = head;
        this.finalNorm = finalNorm;
        this.blocks = blocks;
    }

    /**
     * Prepares every frozen weight on {@code backend}.
     *
     * @param dequantize expand quantized weights to fp32 once (faster, ~4× the memory of Q8/Q4)
     * @throws IllegalArgumentException naming a missing tensor or one whose shape disagrees with the config
     */
    public static FrozenLlama load(ModelConfig cfg, ModelWeights weights, Backend backend, boolean dequantize) {
        int c = cfg.hiddenSize();
        int qDim = cfg.numHeads() * cfg.headDim();
        int kvDim = cfg.numKvHeads() * cfg.headDim();
        int f = cfg.intermediateSize();
        List<AutoCloseable> made = new ArrayList<>();  // released again if a later tensor is missing or misshapen
        try {
            WeightHandle embed = keep(made, backend.prepare(shaped(weights, LlamaLayout.EMBED, cfg.vocabSize(), c),
                    dequantize));
            WeightHandle head = cfg.tieWordEmbeddings() ? embed
                    : keep(made, backend.prepare(shaped(weights, LlamaLayout.LM_HEAD, cfg.vocabSize(), c), dequantize));
            Tensor finalNorm = keep(made, vector(backend, weights, LlamaLayout.FINAL_NORM, c));
            Block[] blocks = new Block[cfg.numLayers()];
            for (int l = 0; l < blocks.length; l++) {
                blocks[l] = new Block(
                        keep(made, vector(backend, weights, LlamaLayout.layer(l, "input_layernorm.weight"), c)),
                        keep(made, linear(backend, weights, l, "self_attn.q_proj", qDim, c, dequantize)),
                        keep(made, linear(backend, weights, l, "self_attn.k_proj", kvDim, c, dequantize)),
                        keep(made, linear(backend, weights, l, "self_attn.v_proj", kvDim, c, dequantize)),
                        keep(made, linear(backend, weights, l, "self_attn.o_proj", c, qDim, dequantize)),
                        keep(made, vector(backend, weights, LlamaLayout.layer(l, "post_attention_layernorm.weight"), c)),
                        keep(made, linear(backend, weights, l, "mlp.gate_proj", f, c, dequantize)),
                        keep(made, linear(backend, weights, l, "mlp.up_proj", f, c, dequantize)),
                        keep(made, linear(backend, weights, l, "mlp.down_proj", c, f, dequantize)));
            }
            return new FrozenLlama(cfg, embed, head, finalNorm, blocks);
        } catch (RuntimeException e) {
            for (AutoCloseable a : made) {
                try {
                    a.close();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    private static <T extends AutoCloseable> T keep(List<AutoCloseable> made, T t) {
        made.add(t);
        return t;
    }

    private static Weight shaped(ModelWeights weights, String name, int rows, int cols) {
        Weight w = weights.get(name);
        if (w.rows() != rows || w.cols() != cols) {
            throw new IllegalArgumentException(name + " has shape [" + w.rows() + ", " + w.cols() + "], the config needs ["
                    + rows + ", " + cols + "]");
        }
        return w;
    }

    private static Tensor vector(Backend backend, ModelWeights weights, String name, int n) {
        Weight w = weights.get(name);
        if ((long) w.rows() * w.cols() != n || Math.min(w.rows(), w.cols()) != 1) {
            throw new IllegalArgumentException(name + " has shape [" + w.rows() + ", " + w.cols() + "], the config needs ["
                    + n + "]");
        }
        return backend.upload(w.toFloatArray());
    }

    private static WeightHandle linear(Backend backend, ModelWeights weights, int layer, String suffix, int out, int in,
                                       boolean dequantize) {
        return backend.prepare(shaped(weights, LlamaLayout.layer(layer, suffix + ".weight"), out, in), dequantize);
    }

    public ModelConfig config() {
        return config;
    }

    public WeightHandle embed() {
        return embed;
    }

    /** The output head: the embedding itself when the config ties them. */
    public WeightHandle head() {
        return head;
    }

    public Tensor finalNorm() {
        return finalNorm;
    }

    public Block block(int layer) {
        return blocks[layer];
    }

    /** Releases the backend copies (not the backend, not the source weights); a second call does nothing. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        embed.close();
        if (head != embed) {
            head.close();
        }
        finalNorm.close();
        for (Block b : blocks) {
            b.attnNorm().close();
            b.mlpNorm().close();
            for (WeightHandle w : b.linears()) {
                w.close();
            }
        }
    }
}
