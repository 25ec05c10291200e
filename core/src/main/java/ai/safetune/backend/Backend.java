package ai.safetune.backend;

import ai.safetune.model.Weight;

import java.util.List;

/**
 * The op set every compute backend implements (CPU reference here, CUDA in {@code native/}). Ops are
 * buffer-oriented: flat fp32 {@link Tensor}s plus explicit dimensions, row-major, so a GPU backend maps
 * each op to one kernel. Token ids, positions and masks are small host {@code int[]} arrays.
 * <p>Naming follows llm.c: each forward op {@code xxx} gets its backward {@code xxxBackward} beside it with
 * the same argument names, gradients prefixed {@code d} (added by the training code). Outputs come first.
 * Unless stated, an output may not alias an input. Dimensions are checked against buffer sizes at the
 * edge and a mismatch is an {@link IllegalArgumentException} naming the op and the argument.
 * <p>A backend is not thread-safe: drive it from one thread; it parallelizes each op internally.
 */
public interface Backend extends AutoCloseable {

    /** Short name as used by {@code -Dsafetune.backend}, e.g. {@code cpu}. */
    String name();

    /** Human-readable description (device, threads, kernels), for logs. */
    String description();

    // ---- buffers -------------------------------------------------------------------------------

    /** A new zero-filled buffer of {@code size} floats. */
    Tensor allocate(int size);

    /** A new buffer holding a copy of {@code values}. */
    default Tensor upload(float[] values) {
        Tensor t = allocate(values.length);
        write(t, 0, values, 0, values.length);
        return t;
    }

    /** Host → buffer: {@code dst[dstOffset..+length) = src[srcOffset..+length)}. */
    void write(Tensor dst, int dstOffset, float[] src, int srcOffset, int length);

    /** Buffer → host: {@code dst[dstOffset..+length) = src[srcOffset..+length)}. */
    void read(Tensor src, int srcOffset, float[] dst, int dstOffset, int length);

    /** Buffer → buffer copy (regions may not overlap). */
    void copy(Tensor src, int srcOffset, Tensor dst, int dstOffset, int length);

    /** Sets every element to {@code value}. */
    void fill(Tensor t, float value);

    /**
     * Prepares a frozen weight for {@link #matmul(Tensor, Tensor, WeightHandle, int)} and
     * {@link #embedding(Tensor, int[], WeightHandle)}.
     *
     * @param dequantize expand to fp32 once (faster, more memory); otherwise quantized weights stay
     *                   quantized and are expanded per tile when used
     */
    WeightHandle prepare(Weight weight, boolean dequantize);

    // ---- forward ops ---------------------------------------------------------------------------

    /** {@code out[i] = table[ids[i]]}: {@code out} is {@code [ids.length, table.cols]}. */
    void embedding(Tensor out, int[] ids, WeightHandle table);

    /** {@code out[n, w.rows] = x[n, w.cols] · Wᵀ} over a frozen (possibly quantized) weight. */
    void matmul(Tensor out, Tensor x, WeightHandle w, int n);

    /**
     * {@code outs[i][n, ws[i].rows] = x · ws[i]ᵀ} for several frozen weights that read the same input (a block's
     * q/k/v or gate/up projections). Same results as one {@link #matmul(Tensor, Tensor, WeightHandle, int)} per
     * weight; a backend may run them as one job (the CPU backend does for decode: one thread hand-off instead of one
     * per weight).
     */
    default void matmul(Tensor[] outs, Tensor x, WeightHandle[] ws, int n) {
        if (outs.length != ws.length) {
            throw new IllegalArgumentException("matmul: " + outs.length + " outputs for " + ws.length + " weights");
        }
        for (int i = 0; i < ws.length; i++) {
            matmul(outs[i], x, ws[i], n);
        }
    }

    /**
     * {@code out[n, outDim] = (accumulate ? out : 0) + scale · x[n, inDim] · w[outDim, inDim]ᵀ} over an fp32
     * buffer — the LoRA path: {@code y += s·(x·Aᵀ)·Bᵀ} is two calls.
     */
    void matmul(Tensor out, Tensor x, Tensor w, int n, int outDim, int inDim, float scale, boolean accumulate);

    /**
     * A LoRA-adapted linear layer, {@code out[n, w.rows] = x·Wᵀ + scale·u·Bᵀ} with {@code u[n, r] = xl·Aᵀ} kept
     * for the backward. {@code xl} is {@code x}, or its dropout-masked copy (PEFT drops the LoRA branch's input
     * only); {@code a [r, w.cols]}, {@code b [w.rows, r]}. The default is the three calls above; a backend may
     * order or fuse them (the CUDA one writes the LoRA term first and lets the frozen GEMM add it).
     */
    default void loraLinear(Tensor out, Tensor u, Tensor x, Tensor xl, WeightHandle w, Tensor a, Tensor b, int n,
                            int r, float scale) {
        matmul(out, x, w, n);
        matmul(u, xl, a, n, r, w.cols(), 1f, false);
        matmul(out, u, b, n, w.rows(), r, scale, true);
    }

    /**
     * RMSNorm over rows: {@code out[i] = x[i] / sqrt(mean(x[i]²) + eps) * weight}, {@code x, out [n, dim]},
     * {@code weight [dim]}. {@code rstd [n]} receives {@code 1/sqrt(mean(x²)+eps)} for the backward; may be null.
     * {@code out} may alias {@code x}.
     */
    void rmsnorm(Tensor out, Tensor rstd, Tensor x, Tensor weight, int n, int dim, float eps);

    /**
     * Rotary embedding in place, Hugging Face rotate-half convention (pairs {@code (i, i + headDim/2)}):
     * {@code x [n, numHeads, headDim]}, token {@code t} rotated by angle {@code positions[t] · θ^(-2i/headDim)}.
     */
    void rope(Tensor x, int[] positions, int n, int numHeads, int headDim, double theta);

    /**
     * Causal grouped-query attention, softmax(q·kᵀ/√d + mask)·v; see {@link AttentionShape} for layouts.
     *
     * @param out     {@code [batch, queryLen, numHeads, headDim]}; a query that sees no key gets zeros
     * @param lse     {@code [batch, queryLen, numHeads]} log-sum-exp of the scaled scores (for a backward
     *                that recomputes the probabilities); may be null
     * @param keyMask {@code [batch, capacity]}, 1 = real token, 0 = padding; null = all real
     */
    void attention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, int[] keyMask, AttentionShape shape);

    /** SwiGLU: {@code out = silu(gate) * up} elementwise over {@code n} floats. {@code out} may alias either. */
    void swiglu(Tensor out, Tensor gate, Tensor up, int n);

    /** {@code out = a + b} over {@code n} floats (the residual); {@code out} may alias {@code a} or {@code b}. */
    void add(Tensor out, Tensor a, Tensor b, int n);

    /** Row softmax: {@code out[n, cols] = softmax(x[n, cols])}; {@code out} may alias {@code x}. */
    void softmax(Tensor out, Tensor x, int n, int cols);

    /** {@code out[i] = log Σ_j exp(logits[i, j])} for {@code logits [n, vocab]}. */
    void logsumexp(Tensor out, Tensor logits, int n, int vocab);

    /**
     * Per-row cross-entropy {@code losses[i] = logsumexp(logits[i]) − logits[i, targets[i]]}; rows whose target
     * is negative (e.g. −100) are ignored and get 0.
     */
    void crossEntropy(Tensor losses, Tensor logits, int[] targets, int n, int vocab);

    // ---- backward ops (training): each beside its forward above in meaning, same argument names -----------

    /**
     * Backward of {@link #matmul(Tensor, Tensor, WeightHandle, int)} for a frozen weight (no weight gradient):
     * {@code dx[n, w.cols] (+)= dout[n, w.rows] · W}.
     */
    void matmulBackward(Tensor dx, Tensor dout, WeightHandle w, int n, boolean accumulate);

    /**
     * Backward of the fp32 {@link #matmul(Tensor, Tensor, Tensor, int, int, int, float, boolean)}
     * ({@code out = scale·x·wᵀ}): {@code dx[n, inDim] (+)= scale·dout·w} when {@code dx} is not null, and
     * {@code dw[outDim, inDim] += scale·doutᵀ·x} (always accumulated: the caller zeroes it per optimizer step).
     */
    void matmulBackward(Tensor dx, Tensor dw, Tensor dout, Tensor x, Tensor w, int n, int outDim, int inDim,
                        float scale, boolean accumulateDx);

    /**
     * Backward of {@link #loraLinear} with no dropout ({@code xl = x}): {@code dx[n, w.cols] (+)= dout·W + du·A}
     * with {@code du[n, r] = scale·dout·B} (left in {@code du}), {@code dB += scale·doutᵀ·u} and
     * {@code dA += duᵀ·x}. The default is the three calls of the separate ops; a backend may fuse them.
     */
    default void loraLinearBackward(Tensor dx, Tensor du, Tensor dA, Tensor dB, Tensor dout, Tensor x, Tensor u,
                                    WeightHandle w, Tensor a, Tensor b, int n, int r, float scale, boolean accumulate) {
        matmulBackward(dx, dout, w, n, accumulate);
        matmulBackward(du, dB, dout, u, b, n, w.rows(), r, scale, false);
        matmulBackward(dx, dA, du, x, a, n, r, w.cols(), 1f, true);
    }

    /**
     * Backward of {@link #rmsnorm}: {@code dx += ∂(rmsnorm)/∂x · dout}, using the {@code rstd} the forward saved
     * (accumulates because the input is the residual stream). The norm weight is frozen: no weight gradient.
     */
    void rmsnormBackward(Tensor dx, Tensor dout, Tensor x, Tensor weight, Tensor rstd, int n, int dim);

    /** Backward of {@link #rope} in place: the inverse rotation (angle {@code −positions[t]·θ^(−2i/d)}). */
    void ropeBackward(Tensor dx, int[] positions, int n, int numHeads, int headDim, double theta);

    /**
     * Backward of {@link #attention} for a pass without a cache ({@code queryStart = 0}, keys are the rows'
     * own tokens): writes (not accumulates) {@code dq} ({@code q}'s layout) and {@code dk}, {@code dv}
     * ({@code k}'s layout; grouped query heads summed into their kv head), recomputing the probabilities from
     * {@code lse} the forward saved.
     */
    void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse, Tensor q, Tensor k,
                           Tensor v, int[] keyMask, AttentionShape shape);

    /** Backward of {@link #swiglu}: writes {@code dgate = dout·up·silu'(gate)} and {@code dup = dout·silu(gate)}. */
    void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up, int n);

    /**
     * Inverted dropout (PEFT's LoRA dropout): {@code dst[i] = src[i]·mask_i} for {@code i < count}, with the mask of
     * {@link DropoutMask} for {@code (seed, p)}: the same on every backend, so the backward re-applies it by calling
     * this again with the same seed. {@code dst} may alias {@code src}. This default goes through the host; a backend
     * computes the mask where its data lives.
     */
    default void dropout(Tensor dst, Tensor src, int count, long seed, float p) {
        DropoutMask.check("dropout", p);
        if (count < 0 || count > src.size() || count > dst.size()) {
            throw new IllegalArgumentException("dropout: count " + count + " outside the tensors (" + src.size()
                    + " and " + dst.size() + " floats)");
        }
        float[] v = new float[count];
        read(src, 0, v, 0, count);
        DropoutMask.apply(v, 0, count, seed, p);
        write(dst, 0, v, 0, count);
    }

    /**
     * Backward of {@link #crossEntropy} summed with weight {@code scale}: {@code dlogits[i] = scale·(softmax(logits[i])
     * − onehot(targets[i]))}, zero rows where the target is negative. {@code dlogits} may alias {@code logits}.
     */
    void crossEntropyBackward(Tensor dlogits, Tensor logits, int[] targets, int n, int vocab, float scale);

    // ---- optimizer (training): the defaults run on the host through read/write; a device backend
    //      overrides them so parameters, gradients and moments never leave the device -------------------

    /**
     * {@code Σ x²} over every element of every tensor, for the global gradient norm. The default reads each
     * tensor to the host and accumulates {@code (double) x * x} in list order, as
     * {@code ai.safetune.train.AdamW.clipGradNorm} does; a device backend may sum in another order and in fp32
     * partial sums.
     */
    default double sumOfSquares(List<Tensor> tensors) {
        double sum = 0;
        float[] buf = new float[0];
        for (Tensor t : tensors) {
            int n = t.size();
            if (buf.length < n) {
                buf = new float[n];
            }
            read(t, 0, buf, 0, n);
            for (int i = 0; i < n; i++) {
                sum += (double) buf[i] * buf[i];
            }
        }
        return sum;
    }

    /** Fills every tensor of the list with {@code value} (zeroing gradients); a device backend may do it in one launch. */
    default void fill(List<Tensor> tensors, float value) {
        for (Tensor t : tensors) {
            fill(t, value);
        }
    }

    /**
     * {@link #adamw(Tensor, Tensor, Tensor, Tensor, double, double, double, double, double, long, float)} for each
     * index of four lists of equal length, with the same hyper-parameters; a device backend may do it in one launch.
     */
    default void adamw(List<Tensor> p, List<Tensor> g, List<Tensor> m, List<Tensor> v, double lr, double beta1,
                       double beta2, double eps, double weightDecay, long step, float gradScale) {
        if (g.size() != p.size() || m.size() != p.size() || v.size() != p.size()) {
            throw new IllegalArgumentException("adamw: lists of " + p.size() + " parameters, " + g.size()
                    + " gradients, " + m.size() + " and " + v.size() + " moments");
        }
        for (int i = 0; i < p.size(); i++) {
            adamw(p.get(i), g.get(i), m.get(i), v.get(i), lr, beta1, beta2, eps, weightDecay, step, gradScale);
        }
    }

    /**
     * One AdamW update of {@code p} in place, as {@code torch.optim.AdamW} (non-amsgrad): with
     * {@code g' = gradScale·g} (clipping; {@code g} itself is not changed),
     * <pre>
     * p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g';  v ← β2·v + (1−β2)·g'²
     * p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps)
     * </pre>
     * over all {@code p.size()} elements ({@code g}, {@code m}, {@code v} at least as large). The default does
     * it on the host with the arithmetic of {@code ai.safetune.train.AdamW.step} (double intermediates), so a
     * CPU run is bit-identical to the host optimizer; a device backend runs it there in fp32.
     *
     * @param step the 1-based step count {@code t} (bias corrections)
     */
    default void adamw(Tensor p, Tensor g, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps,
                       double weightDecay, long step, float gradScale) {
        int n = p.size();
        if (g.size() < n || m.size() < n || v.size() < n) {
            throw new IllegalArgumentException("adamw: parameter has " + n + " values, gradient " + g.size()
                    + ", moments " + m.size() + " and " + v.size());
        }
        if (step < 1) {
            throw new IllegalArgumentException("adamw: step must be >= 1, got " + step);
        }
        float[] ph = new float[n];
        float[] gh = new float[n];
        float[] mh = new float[n];
        float[] vh = new float[n];
        read(p, 0, ph, 0, n);
        read(g, 0, gh, 0, n);
        read(m, 0, mh, 0, n);
        read(v, 0, vh, 0, n);
        double bc1 = 1 - Math.pow(beta1, step);
        double bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
        double stepSize = lr / bc1;
        float decay = (float) (1 - lr * weightDecay);
        HostAdamW.update(ph, gh, mh, vh, n, gradScale, decay, stepSize, bc2Sqrt, beta1, beta2, eps);
        write(p, 0, ph, 0, n);
        write(m, 0, mh, 0, n);
        write(v, 0, vh, 0, n);
    }

    /**
     * {@link #crossEntropy} and {@link #crossEntropyBackward} in one call, for training: {@code losses[i]} as
     * crossEntropy writes it, and {@code logits} overwritten in place by crossEntropyBackward's {@code dlogits}.
     * A backend may fuse the two sweeps over the {@code [n, vocab]} logits; this default runs them one after
     * the other.
     */
    default void crossEntropyWithGrad(Tensor losses, Tensor logits, int[] targets, int n, int vocab, float scale) {
        crossEntropy(losses, logits, targets, n, vocab);
        crossEntropyBackward(logits, logits, targets, n, vocab, scale);
    }

    @Override
    void close();
}
