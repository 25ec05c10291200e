package ai.safetune.train;

import ai.safetune.backend.AttentionShape;
import ai.safetune.backend.Backend;
import ai.safetune.backend.DropoutMask;
import ai.safetune.backend.Tensor;
import ai.safetune.backend.WeightHandle;
import ai.safetune.model.FrozenLlama;
import ai.safetune.model.LoraAdapter;
import ai.safetune.model.ModelConfig;
import ai.safetune.model.ModelWeights;
import ai.safetune.model.TokenBatch;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Llama decoder with trainable LoRA factors on a {@link Backend}: one forward pass that keeps the
 * activations the backward needs, and one backward pass down to the LoRA parameters only (the base
 * weights, norms and embeddings are frozen and get no gradients). Same math as
 * {@link ai.safetune.model.LlamaModel}; the loss is token-level cross-entropy on shifted targets.
 * <p>Parameters and gradients live on the backend; {@link #parameters()} / {@link #gradients()} copy them
 * to the host for the optimizer, {@link #setParameters} copies them back. Not thread-safe.
 */
public final class LoraTrainingModel implements AutoCloseable {

    /** One adapted (or plain) projection: frozen W, optional A [r,in], B [out,r] and their gradients. */
    private static final class Linear {
        final String module;
        final WeightHandle w;
        final int in;
        final int out;
        Tensor a;
        Tensor b;
        Tensor da;
        Tensor db;
        Tensor u; // saved x·Aᵀ [n, r]
        int r;
        int index; // position among the adapted modules: selects this module's dropout mask

        Linear(String module, WeightHandle w) {
            this.module = module;
            this.w = w;
            this.in = w.cols();
            this.out = w.rows();
        }

        boolean adapted() {
            return a != null;
        }
    }

    private record Layer(Tensor attnNorm, Linear q, Linear k, Linear v, Linear o, Tensor mlpNorm, Linear gate,
                         Linear up, Linear down) {
        List<Linear> linears() {
            return List.of(q, k, v, o, gate, up, down);
        }
    }

    /** The activations of one layer that its backward reads (h1, h2, act: shared, refilled in the backward). */
    private static final class Saved {
        Tensor xIn, rstd1, h1, q, k, v, att, lse, xMid, rstd2, h2, gate, up, act;
    }

    /** Result of one forward+backward: summed token loss (before scaling) and the number of loss tokens. */
    public record Pass(double lossSum, int lossTokens) {
        public double meanLoss() {
            return lossTokens == 0 ? 0 : lossSum / lossTokens;
        }
    }

    private final ModelConfig config;
    private final Backend backend;
    private final FrozenLlama base;
    private final WeightHandle embed;
    private final WeightHandle head;
    private final Tensor finalNorm;
    private final Layer[] layers;
    private final LoraConfig lora;
    private final float scaling;
    private final float dropout;
    // dropout scratch: the masked LoRA input and its gradient
    private Tensor dropX, dropG;
    private long dropoutKey;
    private boolean dropping;
    /** Keep only each layer's input and recompute the layer in the backward (activation checkpointing). */
    private final boolean checkpointing;
    private final List<Linear> adapted = new ArrayList<>();
    private final List<Tensor> arena = new ArrayList<>();
    private int arenaTokens = -1;
    private Saved[] saved;
    private Tensor xFinal, rstdF, hF, logits, dx, dh, dq, dk, dv, datt, dgate, dup, du;
    private boolean closed;

    /**
     * @param weights    the frozen base (must stay open while this model is used)
     * @param adapter    the starting LoRA factors (fresh or loaded); every module must exist in the model
     * @param dequantize expand quantized base weights to fp32 once (faster) instead of per tile
     */
    public LoraTrainingModel(ModelConfig config, ModelWeights weights, Backend backend, PeftAdapter adapter,
                             boolean dequantize) {
        this(config, weights, backend, adapter, dequantize, false);
    }

    /**
     * @param checkpointing activation checkpointing: keep only each layer's input through the forward and
     *                      recompute the layer's activations just before its backward (one extra layer forward
     *                      per layer; activation memory of one layer instead of all). The recomputation runs the
     *                      same ops on the same inputs (and the same dropout masks), so the gradients are
     *                      bit-identical to a run without it.
     */
    public LoraTrainingModel(ModelConfig config, ModelWeights weights, Backend backend, PeftAdapter adapter,
                             boolean dequantize, boolean checkpointing) {
        this.checkpointing = checkpointing;
        this.config = config;
        this.backend = backend;
        this.lora = adapter.config();
        this.scaling = (float) adapter.config().scaling();
        this.dropout = (float) adapter.config().dropout();
        adapter.checkFits(config);
        this.base = FrozenLlama.load(config, weights, backend, dequantize);
        this.embed = base.embed();
        this.head = base.head();
        this.finalNorm = base.finalNorm();
        this.layers = new Layer[config.numLayers()];
        Map<String, Linear> byModule = new LinkedHashMap<>();
        for (int l = 0; l < layers.length; l++) {
            FrozenLlama.Block b = base.block(l);
            List<Linear> ls = b.wrap(l, Linear::new);
            layers[l] = new Layer(b.attnNorm(), ls.get(0), ls.get(1), ls.get(2), ls.get(3), b.mlpNorm(), ls.get(4),
                    ls.get(5), ls.get(6));
            for (Linear lin : layers[l].linears()) {
                byModule.put(lin.module, lin);
            }
        }
        for (String module : adapter.weights().modules().keySet()) {
            if (!byModule.containsKey(module)) {
                throw new IllegalArgumentException("LoRA module " + module + " is not a linear module of this model");
            }
        }
        // parameters in model order (layer, then q k v o gate up down: PEFT's named_parameters order), A then B,
        // whatever order the adapter map has (a loaded file is name-sorted, a fresh init follows the target
        // list): the gradient-norm sum and the checkpointed optimizer moments depend on one fixed order
        for (Map.Entry<String, Linear> e : byModule.entrySet()) {
            LoraAdapter.Pair p = adapter.weights().modules().get(e.getKey());
            if (p == null) {
                continue;
            }
            Linear lin = e.getValue();
            lin.r = p.r();
            lin.index = adapted.size();
            lin.a = backend.upload(p.a());
            lin.b = backend.upload(p.b());
            lin.da = backend.allocate(p.a().length);
            lin.db = backend.allocate(p.b().length);
            adapted.add(lin);
        }
    }


    public ModelConfig config() {
        return config;
    }

    public LoraConfig loraConfig() {
        return lora;
    }

    /** Element counts of the trainable tensors, in {@link #parameters()} order (A, B per module). */
    public int[] parameterSizes() {
        int[] s = new int[adapted.size() * 2];
        for (int i = 0; i < adapted.size(); i++) {
            s[2 * i] = adapted.get(i).a.size();
            s[2 * i + 1] = adapted.get(i).b.size();
        }
        return s;
    }

    /** Host copies of the LoRA factors: A, B of each module in model order (layer, then q k v o gate up down). */
    public List<float[]> parameters() {
        List<float[]> out = new ArrayList<>();
        for (Linear lin : adapted) {
            out.add(host(lin.a));
            out.add(host(lin.b));
        }
        return out;
    }

    /** Host copies of the accumulated gradients, in {@link #parameters()} order. */
    public List<float[]> gradients() {
        List<float[]> out = new ArrayList<>();
        for (Linear lin : adapted) {
            out.add(host(lin.da));
            out.add(host(lin.db));
        }
        return out;
    }

    /**
     * The backend buffers of the LoRA factors themselves, in {@link #parameters()} order, for an optimizer that
     * runs on the backend ({@link BackendAdamW}): owned by this model (do not close), valid until it is closed.
     */
    public List<Tensor> parameterTensors() {
        List<Tensor> out = new ArrayList<>();
        for (Linear lin : adapted) {
            out.add(lin.a);
            out.add(lin.b);
        }
        return out;
    }

    /** The backend buffers of the accumulated gradients, in {@link #parameters()} order (owned by this model). */
    public List<Tensor> gradientTensors() {
        List<Tensor> out = new ArrayList<>();
        for (Linear lin : adapted) {
            out.add(lin.da);
            out.add(lin.db);
        }
        return out;
    }

    /** Copies host parameters (e.g. after an optimizer step) back to the backend. */
    public void setParameters(List<float[]> params) {
        if (params.size() != adapted.size() * 2) {
            throw new IllegalArgumentException("expected " + adapted.size() * 2 + " parameter tensors, got " + params.size());
        }
        for (int i = 0; i < adapted.size(); i++) {
            Linear lin = adapted.get(i);
            put(lin.a, params.get(2 * i), lin.module + ".lora_A");
            put(lin.b, params.get(2 * i + 1), lin.module + ".lora_B");
        }
    }

    /** Sets every gradient to zero (start of an optimizer step). */
    public void zeroGradients() {
        backend.fill(gradientTensors(), 0f);
    }

    /** The current factors as a PEFT adapter. */
    public PeftAdapter adapter() {
        Map<String, LoraAdapter.Pair> modules = new LinkedHashMap<>();
        for (Linear lin : adapted) {
            modules.put(lin.module, new LoraAdapter.Pair(lin.r, lin.in, lin.out, host(lin.a), host(lin.b)));
        }
        return new PeftAdapter(lora, new LoraAdapter(lora.scaling(), modules));
    }

    /** Gradient tensor names as PEFT writes the adapter ({@code base_model.model.<module>.lora_A.weight}). */
    public List<String> parameterNames() {
        List<String> names = new ArrayList<>();
        for (Linear lin : adapted) {
            names.add("base_model.model." + lin.module + ".lora_A.weight");
            names.add("base_model.model." + lin.module + ".lora_B.weight");
        }
        return names;
    }

    /**
     * Shifted next-token targets for a batch: {@code targets[b,t] = labels[b,t+1]} (−100 = no loss), the last
     * column −100. {@code labels} follow HF's convention (the token id where the loss applies, −100 elsewhere).
     */
    public static int[] shiftLabels(int[] labels, int batch, int length) {
        if (labels.length != batch * length) {
            throw new IllegalArgumentException("labels has " + labels.length + " entries, expected " + batch * length);
        }
        int[] t = new int[labels.length];
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < length; i++) {
                t[b * length + i] = i + 1 < length ? labels[b * length + i + 1] : -100;
            }
        }
        return t;
    }

    /**
     * Forward and backward of {@code lossScale · Σ token losses}; adds to the gradients (call
     * {@link #zeroGradients()} first for a new step). With {@code lossScale = 1 / tokens of the whole step}
     * the gradients are those of the mean token loss, as PEFT/HF compute it.
     *
     * @param targets shifted targets, {@code [batch × length]}, negative = ignored
     */
    public Pass forwardBackward(TokenBatch batch, int[] targets, float lossScale) {
        return forwardBackward(batch, targets, lossScale, 0L);
    }

    /**
     * As {@link #forwardBackward(TokenBatch, int[], float)} with LoRA dropout (when the config's dropout is
     * &gt; 0) drawn from {@code dropoutKey}: each module's mask is a pure function of the key and the module, so a
     * caller that derives the key from (seed, step, micro-batch) gets the same masks on a resumed run.
     */
    public Pass forwardBackward(TokenBatch batch, int[] targets, float lossScale, long dropoutKey) {
        this.dropoutKey = dropoutKey;
        this.dropping = dropout > 0;
        try {
            return run(batch, targets, lossScale, true);
        } finally {
            this.dropping = false;
        }
    }

    /** Forward only (evaluation: no dropout): the summed token loss and its token count. */
    public Pass loss(TokenBatch batch, int[] targets) {
        return run(batch, targets, 0f, false);
    }

    private Pass run(TokenBatch batch, int[] targets, float lossScale, boolean backward) {
        checkOpen();
        int bsz = batch.batch();
        int t = batch.length();
        int n = bsz * t;
        if (targets.length != n) {
            throw new IllegalArgumentException("targets has " + targets.length + " entries, expected batch*length = " + n);
        }
        int c = config.hiddenSize();
        int hd = config.headDim();
        int qDim = config.numHeads() * hd;
        int kvDim = config.numKvHeads() * hd;
        int f = config.intermediateSize();
        int vocab = config.vocabSize();
        if ((long) n * vocab > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("batch of " + n + " tokens x vocab " + vocab
                    + " logits does not fit one buffer; use a smaller micro-batch or sequence length");
        }
        float eps = (float) config.rmsNormEps();
        ensureArena(n);
        AttentionShape shape = AttentionShape.full(bsz, t, config.numHeads(), config.numKvHeads(), hd);
        int[] pos = batch.positions();
        int[] mask = batch.mask();

        // ---- forward, keeping what the backward needs
        Tensor x = saved[0].xIn;
        backend.embedding(x, batch.ids(), embed);
        for (int l = 0; l < layers.length; l++) {
            // the layer's output is the next layer's saved input (or the final norm's input)
            layerForward(layers[l], saved[l], l + 1 < layers.length ? saved[l + 1].xIn : xFinal, n, shape, pos, mask);
        }
        backend.rmsnorm(hF, rstdF, xFinal, finalNorm, n, c, eps);
        backend.matmul(logits, hF, head, n);
        double lossSum = 0;
        int tokens = 0;
        try (Tensor losses = backend.allocate(n)) {
            if (backward) {
                // loss and dlogits in one pass, in place over the logits
                backend.crossEntropyWithGrad(losses, logits, targets, n, vocab, lossScale);
            } else {
                backend.crossEntropy(losses, logits, targets, n, vocab);
            }
            float[] ls = new float[n];
            backend.read(losses, 0, ls, 0, n);
            for (int i = 0; i < n; i++) {
                if (targets[i] >= 0) {
                    if (targets[i] >= vocab) {
                        throw new IllegalArgumentException("target id " + targets[i] + " at position " + i
                                + " is outside the vocabulary of " + vocab);
                    }
                    lossSum += ls[i];
                    tokens++;
                }
            }
        }
        if (!backward) {
            return new Pass(lossSum, tokens);
        }

        // ---- backward
        backend.matmulBackward(dh, logits, head, n, false);      // dL/dhF (logits now hold dL/dlogits)
        backend.fill(dx, 0f);
        backend.rmsnormBackward(dx, dh, xFinal, finalNorm, rstdF, n, c);
        for (int l = layers.length - 1; l >= 0; l--) {
            Layer L = layers[l];
            Saved s = saved[l];
            if (checkpointing) {
                layerForward(L, s, null, n, shape, pos, mask); // refill the shared activations from the saved input
            } else {
                // the inputs of the LoRA branches are cheap to recompute: one shared copy instead of one per layer
                backend.swiglu(s.act, s.gate, s.up, n * f);
            }
            // MLP: xOut = xMid + down(act); dx is dL/dxOut and becomes dL/dxMid
            linearBackward(dgate, dx, s.act, L.down, n, false);    // dgate := dL/dact (scratch reuse)
            backend.swigluBackward(dgate, dup, dgate, s.gate, s.up, n * f);
            if (!checkpointing) {
                backend.rmsnorm(s.h2, null, s.xMid, L.mlpNorm, n, c, eps);
            }
            linearBackward(dh, dgate, s.h2, L.gate, n, false);
            linearBackward(dh, dup, s.h2, L.up, n, true);
            backend.rmsnormBackward(dx, dh, s.xMid, L.mlpNorm, s.rstd2, n, c);
            // attention: xMid = xIn + o(att)
            linearBackward(datt, dx, s.att, L.o, n, false);
            backend.attentionBackward(dq, dk, dv, datt, s.att, s.lse, s.q, s.k, s.v, mask, shape);
            backend.ropeBackward(dq, pos, n, config.numHeads(), hd, config.ropeTheta());
            backend.ropeBackward(dk, pos, n, config.numKvHeads(), hd, config.ropeTheta());
            if (!checkpointing) {
                backend.rmsnorm(s.h1, null, s.xIn, L.attnNorm, n, c, eps);
            }
            linearBackward(dh, dq, s.h1, L.q, n, false);
            linearBackward(dh, dk, s.h1, L.k, n, true);
            linearBackward(dh, dv, s.h1, L.v, n, true);
            backend.rmsnormBackward(dx, dh, s.xIn, L.attnNorm, s.rstd1, n, c);
        }
        return new Pass(lossSum, tokens);
    }

    /** One decoder layer from {@code s.xIn}, filling {@code s}'s activations; {@code out} (null: skipped) = its output. */
    private void layerForward(Layer L, Saved s, Tensor out, int n, AttentionShape shape, int[] pos, int[] mask) {
        int c = config.hiddenSize();
        int hd = config.headDim();
        int f = config.intermediateSize();
        float eps = (float) config.rmsNormEps();
        backend.rmsnorm(s.h1, s.rstd1, s.xIn, L.attnNorm, n, c, eps);
        linear(s.q, s.h1, L.q, n);
        linear(s.k, s.h1, L.k, n);
        linear(s.v, s.h1, L.v, n);
        backend.rope(s.q, pos, n, config.numHeads(), hd, config.ropeTheta());
        backend.rope(s.k, pos, n, config.numKvHeads(), hd, config.ropeTheta());
        backend.attention(s.att, s.lse, s.q, s.k, s.v, mask, shape);
        linear(dh, s.att, L.o, n);
        backend.add(s.xMid, s.xIn, dh, n * c);
        backend.rmsnorm(s.h2, s.rstd2, s.xMid, L.mlpNorm, n, c, eps);
        linear(s.gate, s.h2, L.gate, n);
        linear(s.up, s.h2, L.up, n);
        backend.swiglu(s.act, s.gate, s.up, n * f);
        if (out == null) {
            return; // recomputation for the backward: down's input is refilled, its output is not needed
        }
        linear(dh, s.act, L.down, n);
        backend.add(out, s.xMid, dh, n * c);
    }

    /**
     * y = x·Wᵀ (+ s·(d(x)·Aᵀ)·Bᵀ), saving u = d(x)·Aᵀ for the backward; d is the LoRA dropout (PEFT applies it
     * to the LoRA branch's input only, the frozen path sees x), identity when not training or p = 0.
     */
    private void linear(Tensor out, Tensor in, Linear lin, int n) {
        if (lin.adapted()) {
            Tensor x = dropping ? dropoutInput(in, lin, n) : in;
            backend.loraLinear(out, lin.u, in, x, lin.w, lin.a, lin.b, n, lin.r, scaling);
        } else {
            backend.matmul(out, in, lin.w, n);
        }
    }

    /** dIn (+)= dOut·W + d'(s·(dOut·B)·A); dB += s·dOutᵀ·u; dA += (s·dOut·B)ᵀ·d(in). */
    private void linearBackward(Tensor dIn, Tensor dOut, Tensor in, Linear lin, int n, boolean accumulate) {
        if (lin.adapted() && !dropping) {
            backend.loraLinearBackward(dIn, du, lin.da, lin.db, dOut, in, lin.u, lin.w, lin.a, lin.b, n, lin.r, scaling,
                    accumulate);
            return;
        }
        backend.matmulBackward(dIn, dOut, lin.w, n, accumulate);
        if (lin.adapted()) {
            // dropout: recompute the masked input from the same key instead of keeping one copy per module
            backend.matmulBackward(du, lin.db, dOut, lin.u, lin.b, n, lin.out, lin.r, scaling, false);
            Tensor x = dropoutInput(in, lin, n);
            backend.matmulBackward(dropG, lin.da, du, x, lin.a, n, lin.r, lin.in, 1f, false);
            backend.dropout(dropG, dropG, n * lin.in, maskSeed(lin), dropout);
            backend.add(dIn, dIn, dropG, n * lin.in);
        }
    }

    /** {@code dropX = in ⊙ mask} with this module's inverted-dropout mask (computed by the backend, where the data is). */
    private Tensor dropoutInput(Tensor in, Linear lin, int n) {
        backend.dropout(dropX, in, n * lin.in, maskSeed(lin), dropout);
        return dropX;
    }

    /** The seed of a module's mask: a pure function of the pass's key and the module. */
    private long maskSeed(Linear lin) {
        return DropoutMask.streamSeed(dropoutKey, lin.index);
    }

    private void ensureArena(int n) {
        if (n <= arenaTokens) {
            return;
        }
        releaseArena();
        int c = config.hiddenSize();
        int hd = config.headDim();
        int qDim = config.numHeads() * hd;
        int kvDim = config.numKvHeads() * hd;
        int f = config.intermediateSize();
        saved = new Saved[layers.length];
        // the rmsnorm outputs and the MLP activation are recomputed in the backward (cheap, bit-identical): one
        // shared copy; with checkpointing every activation but the layer input is shared
        Tensor h1 = alloc(n * c);
        Tensor h2 = alloc(n * c);
        Tensor act = alloc(n * f);
        Saved shared = null;
        for (int l = 0; l < layers.length; l++) {
            Saved s = new Saved();
            s.xIn = alloc(n * c);
            s.h1 = h1;
            s.h2 = h2;
            s.act = act;
            if (checkpointing && shared != null) {
                s.rstd1 = shared.rstd1;
                s.q = shared.q;
                s.k = shared.k;
                s.v = shared.v;
                s.att = shared.att;
                s.lse = shared.lse;
                s.xMid = shared.xMid;
                s.rstd2 = shared.rstd2;
                s.gate = shared.gate;
                s.up = shared.up;
            } else {
                s.rstd1 = alloc(n);
                s.q = alloc(n * qDim);
                s.k = alloc(n * kvDim);
                s.v = alloc(n * kvDim);
                s.att = alloc(n * qDim);
                s.lse = alloc(n * config.numHeads());
                s.xMid = alloc(n * c);
                s.rstd2 = alloc(n);
                s.gate = alloc(n * f);
                s.up = alloc(n * f);
                shared = s;
            }
            saved[l] = s;
        }
        int maxR = 1;
        for (Linear lin : adapted) {
            lin.u = alloc(n * lin.r);
            maxR = Math.max(maxR, lin.r);
        }
        xFinal = alloc(n * c);
        rstdF = alloc(n);
        hF = alloc(n * c);
        logits = alloc(n * config.vocabSize());
        dx = alloc(n * c);
        dh = alloc(n * Math.max(c, qDim));
        dq = alloc(n * qDim);
        dk = alloc(n * kvDim);
        dv = alloc(n * kvDim);
        datt = alloc(n * qDim);
        dgate = alloc(n * f);
        dup = alloc(n * f);
        du = alloc(n * maxR);
        if (dropout > 0) {
            int maxIn = Math.max(c, f);
            dropX = alloc(n * maxIn);
            dropG = alloc(n * maxIn);
        }
        arenaTokens = n;
    }

    private Tensor alloc(int size) {
        Tensor t = backend.allocate(size);
        arena.add(t);
        return t;
    }

    private void releaseArena() {
        for (Tensor t : arena) {
            t.close();
        }
        arena.clear();
        arenaTokens = -1;
    }

    private float[] host(Tensor t) {
        float[] out = new float[t.size()];
        backend.read(t, 0, out, 0, out.length);
        return out;
    }

    private void put(Tensor t, float[] values, String what) {
        if (values.length != t.size()) {
            throw new IllegalArgumentException(what + ": expected " + t.size() + " values, got " + values.length);
        }
        backend.write(t, 0, values, 0, values.length);
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("LoraTrainingModel used after close");
        }
    }

    /** Frees the backend copies of weights, factors and activations (not the backend or the source weights). */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        releaseArena();
        for (Linear lin : adapted) {
            lin.a.close();
            lin.b.close();
            lin.da.close();
            lin.db.close();
        }
        base.close();
    }
}
