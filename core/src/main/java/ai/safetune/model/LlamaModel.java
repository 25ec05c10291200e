package ai.safetune.model;

import ai.safetune.backend.AttentionShape;
import ai.safetune.backend.Backend;
import ai.safetune.backend.Tensor;
import ai.safetune.backend.WeightHandle;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The Llama decoder on a {@link Backend}: embedding → blocks (RMSNorm, q/k/v projections, RoPE, causal
 * grouped-query attention, o projection, residual, RMSNorm, SwiGLU MLP, residual) → final RMSNorm → head
 * (tied to the embedding or not). Batched, padded inputs; a {@link KvCache} for generation; optional LoRA.
 * <p>Not thread-safe (one backend, one caller).
 */
public final class LlamaModel implements AutoCloseable {

    /** Which positions get logits. */
    public enum Logits {
        /** Every position: {@code [batch, length, vocab]}. */
        ALL,
        /** The last column of each row (left-padded rows: every row's last token): {@code [batch, vocab]}. */
        LAST
    }

    /** The linear modules of a block, in the order PEFT names them. */
    public static final List<String> LINEAR_MODULES =
            List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

    private record Layer(Tensor attnNorm, Linear q, Linear k, Linear v, Linear o, Tensor mlpNorm, Linear gate,
                         Linear up, Linear down) {
    }

    /** A frozen projection plus an optional LoRA delta (A [r,in], B [out,r] on the backend). */
    private static final class Linear {
        final String module;
        final WeightHandle w;
        Tensor loraA;
        Tensor loraB;
        int loraR;
        float loraScale;

        Linear(String module, WeightHandle w) {
            this.module = module;
            this.w = w;
        }
    }

    private final ModelConfig config;
    private final Backend backend;
    private final FrozenLlama base;
    private final WeightHandle embed;
    private final WeightHandle head;
    private final Tensor finalNorm;
    private final Layer[] layers;

    private LlamaModel(Backend backend, FrozenLlama base) {
        this.config = base.config();
        this.backend = backend;
        this.base = base;
        this.embed = base.embed();
        this.head = base.head();
        this.finalNorm = base.finalNorm();
        this.layers = new Layer[config.numLayers()];
        for (int l = 0; l < layers.length; l++) {
            FrozenLlama.Block b = base.block(l);
            List<Linear> ls = b.wrap(l, Linear::new);
            layers[l] = new Layer(b.attnNorm(), ls.get(0), ls.get(1), ls.get(2), ls.get(3), b.mlpNorm(), ls.get(4),
                    ls.get(5), ls.get(6));
        }
    }


    /**
     * Prepares the weights on {@code backend}. The weights object must stay open while the model is used
     * (quantized weights are expanded from it per tile).
     *
     * @param dequantize expand quantized weights to fp32 once (faster, ~4× the memory of Q8/Q4)
     * @throws IllegalArgumentException naming a missing tensor or one whose shape disagrees with the config
     */
    public static LlamaModel load(ModelConfig cfg, ModelWeights weights, Backend backend, boolean dequantize) {
        return new LlamaModel(backend, FrozenLlama.load(cfg, weights, backend, dequantize));
    }

    /**
     * The model in {@code files} (from {@link ModelFiles#open}: a .gguf file or an HF directory) on {@code backend},
     * quantized weights kept quantized. {@code files} must stay open while the model is used.
     */
    public static LlamaModel load(ModelFiles files, Backend backend) {
        return load(files.config(), files.weights(), backend, false);
    }

    public ModelConfig config() {
        return config;
    }

    public Backend backend() {
        return backend;
    }

    /**
     * Applies a LoRA adapter to the forward pass (replacing any previous one; null removes it).
     *
     * @throws IllegalArgumentException for a module this model does not have or with the wrong shape
     */
    public void setAdapter(LoraAdapter adapter) {
        Map<String, Linear> byName = new HashMap<>();
        for (Layer layer : layers) {
            for (Linear lin : List.of(layer.q, layer.k, layer.v, layer.o, layer.gate, layer.up, layer.down)) {
                byName.put(lin.module, lin);
                if (lin.loraA != null) {
                    lin.loraA.close();
                    lin.loraB.close();
                    lin.loraA = null;
                    lin.loraB = null;
                }
            }
        }
        if (adapter == null) {
            return;
        }
        for (Map.Entry<String, LoraAdapter.Pair> e : adapter.modules().entrySet()) {
            Linear lin = byName.get(e.getKey());
            if (lin == null) {
                throw new IllegalArgumentException("LoRA module " + e.getKey() + " is not a linear module of this model");
            }
            LoraAdapter.Pair p = e.getValue();
            if (p.in() != lin.w.cols() || p.out() != lin.w.rows()) {
                throw new IllegalArgumentException("LoRA module " + e.getKey() + " is [" + p.out() + " x " + p.in()
                        + "], the base weight [" + lin.w.rows() + " x " + lin.w.cols() + "]");
            }
            lin.loraA = backend.upload(p.a());
            lin.loraB = backend.upload(p.b());
            lin.loraR = p.r();
            lin.loraScale = (float) adapter.scaling();
        }
    }

    /** A KV cache for {@code batch} rows of up to {@code capacity} tokens (prompt + generated). */
    public KvCache newCache(int batch, int capacity) {
        return new KvCache(backend, config, batch, capacity);
    }

    /** Logits of every position of a batch without keeping a cache: {@code [batch, length, vocab]}. */
    public float[] logits(TokenBatch batch) {
        try (KvCache cache = newCache(batch.batch(), batch.length())) {
            return forward(cache, batch, Logits.ALL);
        }
    }

    /**
     * Runs {@code step} after what {@code cache} already holds, appends its keys/values and returns logits
     * ({@code [batch, length, vocab]} or {@code [batch, vocab]}, see {@link Logits}).
     */
    public float[] forward(KvCache cache, TokenBatch step, Logits which) {
        int b = step.batch();
        int t = step.length();
        int n = b * t;
        int c = config.hiddenSize();
        int hd = config.headDim();
        int qDim = config.numHeads() * hd;
        int kvDim = config.numKvHeads() * hd;
        int f = config.intermediateSize();
        int v = config.vocabSize();
        float eps = (float) config.rmsNormEps();
        int start = cache.begin(step);
        AttentionShape shape = new AttentionShape(b, t, start + t, cache.capacity(), start, config.numHeads(),
                config.numKvHeads(), hd);
        List<Tensor> scratch = new ArrayList<>();
        try {
            Tensor x = alloc(scratch, n * c);
            Tensor h = alloc(scratch, n * c);
            Tensor q = alloc(scratch, n * qDim);
            Tensor k = alloc(scratch, n * kvDim);
            Tensor val = alloc(scratch, n * kvDim);
            Tensor att = alloc(scratch, n * qDim);
            Tensor gate = alloc(scratch, n * f);
            Tensor up = alloc(scratch, n * f);
            Tensor lora = null;
            int maxR = maxLoraRank();
            if (maxR > 0) {
                lora = alloc(scratch, n * maxR);
            }

            backend.embedding(x, step.ids(), embed);
            for (int l = 0; l < layers.length; l++) {
                Layer layer = layers[l];
                // attention block
                backend.rmsnorm(h, null, x, layer.attnNorm, n, c, eps);
                linears(new Tensor[] {q, k, val}, h, new Linear[] {layer.q, layer.k, layer.v}, n, lora);
                backend.rope(q, step.positions(), n, config.numHeads(), hd, config.ropeTheta());
                backend.rope(k, step.positions(), n, config.numKvHeads(), hd, config.ropeTheta());
                for (int r = 0; r < b; r++) {
                    int dst = (r * cache.capacity() + start) * kvDim;
                    backend.copy(k, r * t * kvDim, cache.keys(l), dst, t * kvDim);
                    backend.copy(val, r * t * kvDim, cache.values(l), dst, t * kvDim);
                }
                backend.attention(att, null, q, cache.keys(l), cache.values(l), cache.mask(), shape);
                linear(h, att, layer.o, n, lora);
                backend.add(x, x, h, n * c);
                // MLP block
                backend.rmsnorm(h, null, x, layer.mlpNorm, n, c, eps);
                linears(new Tensor[] {gate, up}, h, new Linear[] {layer.gate, layer.up}, n, lora);
                backend.swiglu(gate, gate, up, n * f);
                linear(h, gate, layer.down, n, lora);
                backend.add(x, x, h, n * c);
            }
            cache.end(step);

            backend.rmsnorm(x, null, x, finalNorm, n, c, eps);
            Tensor rows = x;
            int rowCount = n;
            if (which == Logits.LAST) {
                rows = alloc(scratch, b * c);
                for (int r = 0; r < b; r++) {
                    backend.copy(x, (r * t + t - 1) * c, rows, r * c, c);
                }
                rowCount = b;
            }
            long outSize = (long) rowCount * v;
            if (outSize > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("logits for " + rowCount + " positions x " + v
                        + " vocab do not fit one array; ask for fewer positions");
            }
            Tensor logits = alloc(scratch, (int) outSize);
            backend.matmul(logits, rows, head, rowCount);
            float[] out = new float[(int) outSize];
            backend.read(logits, 0, out, 0, out.length);
            return out;
        } finally {
            for (Tensor s : scratch) {
                s.close();
            }
        }
    }

    private void linear(Tensor out, Tensor in, Linear lin, int n, Tensor loraScratch) {
        backend.matmul(out, in, lin.w, n);
        if (lin.loraA != null) {
            backend.matmul(loraScratch, in, lin.loraA, n, lin.loraR, lin.w.cols(), 1f, false);
            backend.matmul(out, loraScratch, lin.loraB, n, lin.w.rows(), lin.loraR, lin.loraScale, true);
        }
    }

    /** Projections of one input; the frozen products go to the backend together (one job on the CPU backend). */
    private void linears(Tensor[] outs, Tensor in, Linear[] lins, int n, Tensor loraScratch) {
        WeightHandle[] ws = new WeightHandle[lins.length];
        for (int i = 0; i < lins.length; i++) {
            ws[i] = lins[i].w;
        }
        backend.matmul(outs, in, ws, n);
        for (int i = 0; i < lins.length; i++) {
            Linear lin = lins[i];
            if (lin.loraA != null) {
                backend.matmul(loraScratch, in, lin.loraA, n, lin.loraR, lin.w.cols(), 1f, false);
                backend.matmul(outs[i], loraScratch, lin.loraB, n, lin.w.rows(), lin.loraR, lin.loraScale, true);
            }
        }
    }

    private int maxLoraRank() {
        int r = 0;
        for (Layer layer : layers) {
            for (Linear lin : List.of(layer.q, layer.k, layer.v, layer.o, layer.gate, layer.up, layer.down)) {
                if (lin.loraA != null) {
                    r = Math.max(r, lin.loraR);
                }
            }
        }
        return r;
    }

    private Tensor alloc(List<Tensor> scratch, int size) {
        Tensor t = backend.allocate(size);
        scratch.add(t);
        return t;
    }

    /** Releases the backend copies of the weights (not the backend, not the source weights). */
    @Override
    public void close() {
        setAdapter(null);
        base.close();
    }
}
