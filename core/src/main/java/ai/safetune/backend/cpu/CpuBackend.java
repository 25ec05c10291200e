package ai.safetune.backend.cpu;

import ai.safetune.backend.AttentionShape;
import ai.safetune.backend.Backend;
import ai.safetune.backend.DropoutMask;
import ai.safetune.backend.Tensor;
import ai.safetune.backend.WeightHandle;
import ai.safetune.model.QuantizedWeight;
import ai.safetune.model.Weight;

import java.util.Arrays;

/**
 * The reference backend: every op in plain fp32 Java, parallel over rows on a small spinning worker pool ({@link Parallel}). Matmuls use
 * {@link Gemm} (packed panels and a register-tiled micro-kernel; quantized weights expanded per panel).
 */
public final class CpuBackend implements Backend {
    private final Parallel par;
    private final Kernel kernel;
    private final OpKernel ops;
    private final RopeTable ropeTable = new RopeTable();
    private final QuantKernel quantKernel;
    private boolean closed;

    /** A backend with {@code threads} workers and the fastest kernels this JVM allows. */
    public CpuBackend(int threads) {
        this(threads, true);
    }

    /**
     * @param simd allow the Vector API kernels (used only when the JVM has {@code jdk.incubator.vector});
     *             false forces the plain scalar loops
     */
    public CpuBackend(int threads, boolean simd) {
        if (threads <= 0) {
            throw new IllegalArgumentException("threads must be > 0, got " + threads);
        }
        this.par = new Parallel(threads);
        this.kernel = Kernels.pick(simd);
        this.ops = OpKernels.pick(simd);
        this.quantKernel = QuantGemm.pickKernel(simd);
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public String description() {
        return "pure-Java fp32, " + par.threads() + " thread(s), " + kernel.name() + " kernels";
    }

    public int threads() {
        return par.threads();
    }

    /** Which inner loops run: "scalar" or "vector-api N-bit". */
    public String kernelName() {
        return kernel.name();
    }

    // ---- buffers -----------------------------------------------------------------------------------

    @Override
    public Tensor allocate(int size) {
        checkOpen();
        if (size < 0) {
            throw new IllegalArgumentException("allocate: size must be >= 0, got " + size);
        }
        return new CpuTensor(this, new float[size]);
    }

    @Override
    public void write(Tensor dst, int dstOffset, float[] src, int srcOffset, int length) {
        System.arraycopy(src, srcOffset, data(dst, "write", "dst", dstOffset + length), dstOffset, length);
    }

    @Override
    public void read(Tensor src, int srcOffset, float[] dst, int dstOffset, int length) {
        System.arraycopy(data(src, "read", "src", srcOffset + length), srcOffset, dst, dstOffset, length);
    }

    @Override
    public void copy(Tensor src, int srcOffset, Tensor dst, int dstOffset, int length) {
        System.arraycopy(data(src, "copy", "src", srcOffset + length), srcOffset,
                data(dst, "copy", "dst", dstOffset + length), dstOffset, length);
    }

    @Override
    public void fill(Tensor t, float value) {
        Arrays.fill(data(t, "fill", "t", 0), value);
    }

    @Override
    public WeightHandle prepare(Weight weight, boolean dequantize) {
        checkOpen();
        float[] dense = dequantize || weight.storageType().equals("F32") ? weight.toFloatArray() : null;
        return new CpuWeight(this, weight, dense);
    }

    // ---- ops ---------------------------------------------------------------------------------------

    @Override
    public void embedding(Tensor out, int[] ids, WeightHandle table) {
        CpuWeight w = weight(table, "embedding");
        int c = w.cols();
        float[] o = data(out, "embedding", "out", ids.length * c);
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= w.rows()) {
                throw new IllegalArgumentException("embedding: token id " + ids[i] + " at index " + i
                        + " is outside the vocabulary [0, " + w.rows() + ")");
            }
        }
        par.forRange(ids.length, (s, e) -> {
            for (int i = s; i < e; i++) {
                w.rows(ids[i], 1, o, i * c);
            }
        });
    }

    @Override
    public void matmul(Tensor out, Tensor x, WeightHandle w, int n) {
        CpuWeight cw = weight(w, "matmul");
        int m = cw.rows();
        int k = cw.cols();
        float[] o = data(out, "matmul", "out", n * m);
        float[] xs = data(x, "matmul", "x", n * k);
        QuantFormat qf = cw.dense() == null ? QuantGemm.applies(cw.source(), n) : null;
        if (qf != null) {
            QuantizedWeight qw = (QuantizedWeight) cw.source();
            PackedQuant packed = QuantGemm.PACK ? cw.packed(qw, qf, quantKernel.group()) : null;
            if (packed != null) {
                QuantGemm.matmul(par, quantKernel, packed, o, xs, n, k, m);
            } else {
                QuantGemm.matmul(par, quantKernel, qf, o, xs, n, k, qw, m);
            }
            return;
        }
        Gemm.matmul(par, kernel, o, xs, n, k, cw, m, 1f, false);
    }

    /** Quantized decode products of one input as one parallel job (see {@code QuantGemm.matmul} over several weights). */
    @Override
    public void matmul(Tensor[] outs, Tensor x, WeightHandle[] ws, int n) {
        if (outs.length != ws.length) {
            throw new IllegalArgumentException("matmul: " + outs.length + " outputs for " + ws.length + " weights");
        }
        PackedQuant[] packed = new PackedQuant[ws.length];
        float[][] os = new float[ws.length][];
        int k = -1;
        for (int i = 0; i < ws.length && packed != null; i++) {
            CpuWeight cw = weight(ws[i], "matmul");
            QuantFormat qf = QuantGemm.PACK && cw.dense() == null ? QuantGemm.applies(cw.source(), n) : null;
            packed[i] = qf == null ? null : cw.packed((QuantizedWeight) cw.source(), qf, quantKernel.group());
            if (packed[i] == null || (k >= 0 && cw.cols() != k)) {
                packed = null;
            } else {
                k = cw.cols();
                os[i] = data(outs[i], "matmul", "out", n * cw.rows());
            }
        }
        if (packed == null) {
            Backend.super.matmul(outs, x, ws, n);
            return;
        }
        QuantGemm.matmul(par, quantKernel, packed, os, data(x, "matmul", "x", n * k), n, k);
    }

    @Override
    public void matmul(Tensor out, Tensor x, Tensor w, int n, int outDim, int inDim, float scale, boolean accumulate) {
        float[] o = data(out, "matmul", "out", n * outDim);
        float[] xs = data(x, "matmul", "x", n * inDim);
        float[] ws = data(w, "matmul", "w", outDim * inDim);
        Gemm.matmul(par, kernel, o, xs, n, inDim, Gemm.denseRows(ws, inDim), outDim, scale, accumulate);
    }

    @Override
    public void rmsnorm(Tensor out, Tensor rstd, Tensor x, Tensor weight, int n, int dim, float eps) {
        float[] o = data(out, "rmsnorm", "out", n * dim);
        float[] xs = data(x, "rmsnorm", "x", n * dim);
        float[] w = data(weight, "rmsnorm", "weight", dim);
        float[] r = rstd == null ? null : data(rstd, "rmsnorm", "rstd", n);
        par.forRange(n, (s, e) -> {
            for (int i = s; i < e; i++) {
                int off = i * dim;
                float inv = (float) (1.0 / Math.sqrt(ops.sumSquares(xs, off, dim) / dim + eps));
                if (r != null) {
                    r[i] = inv;
                }
                // HF order: (x * rstd) then * weight, each rounded to fp32
                ops.normRow(o, off, xs, off, w, inv, dim);
            }
        });
    }

    @Override
    public void rope(Tensor x, int[] positions, int n, int numHeads, int headDim, double theta) {
        float[] xs = data(x, "rope", "x", n * numHeads * headDim);
        if (positions.length < n) {
            throw new IllegalArgumentException("rope: positions has " + positions.length + " entries, need " + n);
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("rope: headDim must be even, got " + headDim);
        }
        CpuBackward.rotate(par, ops, ropeTable, xs, positions, n, numHeads, headDim, theta, 1f);
    }

    @Override
    public void attention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, int[] keyMask, AttentionShape s) {
        float[] o = data(out, "attention", "out", s.querySize());
        float[] qs = data(q, "attention", "q", s.querySize());
        float[] ks = data(k, "attention", "k", s.kvSize());
        float[] vs = data(v, "attention", "v", s.kvSize());
        float[] ls = lse == null ? null : data(lse, "attention", "lse", s.batch() * s.queryLen() * s.numHeads());
        if (keyMask != null && keyMask.length < s.batch() * s.capacity()) {
            throw new IllegalArgumentException("attention: keyMask has " + keyMask.length + " entries, need batch*capacity = "
                    + s.batch() * s.capacity());
        }
        Attention.forward(par, ops, o, ls, qs, ks, vs, keyMask, s);
    }

    @Override
    public void swiglu(Tensor out, Tensor gate, Tensor up, int n) {
        float[] o = data(out, "swiglu", "out", n);
        float[] g = data(gate, "swiglu", "gate", n);
        float[] u = data(up, "swiglu", "up", n);
        if (n < 1 << 14) {
            ops.swiglu(o, g, u, 0, n); // decode: a few microseconds, less than handing it to another thread
        } else {
            par.forRange(n, (s, e) -> ops.swiglu(o, g, u, s, e));
        }
    }

    @Override
    public void add(Tensor out, Tensor a, Tensor b, int n) {
        float[] o = data(out, "add", "out", n);
        float[] as = data(a, "add", "a", n);
        float[] bs = data(b, "add", "b", n);
        if (n < 1 << 15) {
            ops.add(o, as, bs, 0, n);
        } else {
            par.forRange(n, (s, e) -> ops.add(o, as, bs, s, e));
        }
    }

    /** {@link DropoutMask} in place on the arrays, on the pool's threads (each element's mask is its own draw). */
    @Override
    public void dropout(Tensor dst, Tensor src, int count, long seed, float p) {
        DropoutMask.check("dropout", p);
        float[] d = data(dst, "dropout", "dst", count);
        float[] s = data(src, "dropout", "src", count);
        if (d != s) {
            System.arraycopy(s, 0, d, 0, count);
        }
        if (count < 1 << 15) {
            DropoutMask.apply(d, 0, count, seed, p);
        } else {
            par.forRange(count, (from, to) -> DropoutMask.apply(d, from, to, seed, p));
        }
    }

    @Override
    public void softmax(Tensor out, Tensor x, int n, int cols) {
        float[] o = data(out, "softmax", "out", n * cols);
        float[] xs = data(x, "softmax", "x", n * cols);
        par.forRange(n, (s, e) -> {
            for (int i = s; i < e; i++) {
                int off = i * cols;
                if (o != xs) {
                    System.arraycopy(xs, off, o, off, cols);
                }
                float max = ops.max(o, off, cols);
                float sum = ops.expRow(o, off, cols, 1f, max);
                ops.scale(o, off, cols, 1f / sum);
            }
        });
    }

    @Override
    public void logsumexp(Tensor out, Tensor logits, int n, int vocab) {
        float[] o = data(out, "logsumexp", "out", n);
        float[] l = data(logits, "logsumexp", "logits", n * vocab);
        par.forRange(n, (s, e) -> {
            for (int i = s; i < e; i++) {
                o[i] = ops.crossEntropyRow(l, i * vocab, vocab, false, 0f);
            }
        });
    }

    @Override
    public void crossEntropy(Tensor losses, Tensor logits, int[] targets, int n, int vocab) {
        float[] o = data(losses, "crossEntropy", "losses", n);
        float[] l = data(logits, "crossEntropy", "logits", n * vocab);
        if (targets.length < n) {
            throw new IllegalArgumentException("crossEntropy: targets has " + targets.length + " entries, need " + n);
        }
        for (int i = 0; i < n; i++) {
            if (targets[i] >= vocab) {
                throw new IllegalArgumentException("crossEntropy: target " + targets[i] + " at row " + i
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        par.forRange(n, (s, e) -> {
            for (int i = s; i < e; i++) {
                o[i] = targets[i] < 0 ? 0f : ops.crossEntropyRow(l, i * vocab, vocab, false, 0f) - l[i * vocab + targets[i]];
            }
        });
    }

    // ---- backward ops ----------------------------------------------------------------------------------

    @Override
    public void matmulBackward(Tensor dx, Tensor dout, WeightHandle w, int n, boolean accumulate) {
        CpuWeight cw = weight(w, "matmulBackward");
        int m = cw.rows();
        int k = cw.cols();
        float[] d = data(dx, "matmulBackward", "dx", n * k);
        float[] g = data(dout, "matmulBackward", "dout", n * m);
        float[] dense = cw.dense();
        if (n >= Gemm.SMALL_N) {
            // dx = dout·W: W [m, k] row-major is already the B operand [kdim = m][cols = k]; its panels are plain
            // row-segment copies, no transpose (a base kept as stored is expanded one K block of rows at a time)
            Gemm.gemm(par, kernel, d, k, n, k, m, g, m, false,
                    dense != null ? Gemm.rowMajor(dense, k) : Gemm.expandedRows(cw, k), 1f, accumulate);
            return;
        }
        CpuBackward.matmulFrozen(par, d, g, n, cw, m, k, accumulate);
    }

    @Override
    public void matmulBackward(Tensor dx, Tensor dw, Tensor dout, Tensor x, Tensor w, int n, int outDim, int inDim,
                               float scale, boolean accumulateDx) {
        float[] g = data(dout, "matmulBackward", "dout", n * outDim);
        float[] xs = data(x, "matmulBackward", "x", n * inDim);
        float[] ws = data(w, "matmulBackward", "w", outDim * inDim);
        float[] dws = data(dw, "matmulBackward", "dw", outDim * inDim);
        if (dx != null) {
            float[] dxs = data(dx, "matmulBackward", "dx", n * inDim);
            Gemm.matmulNN(par, kernel, dxs, g, ws, n, outDim, inDim, scale, accumulateDx);
        }
        Gemm.matmulTN(par, kernel, dws, g, xs, n, outDim, inDim, scale);
    }

    @Override
    public void rmsnormBackward(Tensor dx, Tensor dout, Tensor x, Tensor weight, Tensor rstd, int n, int dim) {
        CpuBackward.rmsnorm(par, ops, data(dx, "rmsnormBackward", "dx", n * dim), data(dout, "rmsnormBackward", "dout", n * dim),
                data(x, "rmsnormBackward", "x", n * dim), data(weight, "rmsnormBackward", "weight", dim),
                data(rstd, "rmsnormBackward", "rstd", n), n, dim);
    }

    @Override
    public void ropeBackward(Tensor dx, int[] positions, int n, int numHeads, int headDim, double theta) {
        float[] d = data(dx, "ropeBackward", "dx", n * numHeads * headDim);
        if (positions.length < n) {
            throw new IllegalArgumentException("ropeBackward: positions has " + positions.length + " entries, need " + n);
        }
        CpuBackward.rotate(par, ops, ropeTable, d, positions, n, numHeads, headDim, theta, -1f);
    }

    @Override
    public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse, Tensor q,
                                  Tensor k, Tensor v, int[] keyMask, AttentionShape s) {
        int nl = s.batch() * s.queryLen() * s.numHeads();
        if (keyMask != null && keyMask.length < s.batch() * s.capacity()) {
            throw new IllegalArgumentException("attentionBackward: keyMask has " + keyMask.length
                    + " entries, need batch*capacity = " + s.batch() * s.capacity());
        }
        Attention.backward(par, ops, data(dq, "attentionBackward", "dq", s.querySize()),
                data(dk, "attentionBackward", "dk", s.kvSize()), data(dv, "attentionBackward", "dv", s.kvSize()),
                data(dout, "attentionBackward", "dout", s.querySize()), data(out, "attentionBackward", "out", s.querySize()),
                data(lse, "attentionBackward", "lse", nl), data(q, "attentionBackward", "q", s.querySize()),
                data(k, "attentionBackward", "k", s.kvSize()), data(v, "attentionBackward", "v", s.kvSize()), keyMask, s);
    }

    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up, int n) {
        CpuBackward.swiglu(par, ops, data(dgate, "swigluBackward", "dgate", n), data(dup, "swigluBackward", "dup", n),
                data(dout, "swigluBackward", "dout", n), data(gate, "swigluBackward", "gate", n),
                data(up, "swigluBackward", "up", n), n);
    }

    @Override
    public void crossEntropyBackward(Tensor dlogits, Tensor logits, int[] targets, int n, int vocab, float scale) {
        checkTargets("crossEntropyBackward", targets, n, vocab);
        CpuBackward.crossEntropy(par, ops, null, data(dlogits, "crossEntropyBackward", "dlogits", n * vocab),
                data(logits, "crossEntropyBackward", "logits", n * vocab), targets, n, vocab, scale);
    }

    /** One sweep per row: max, exp (stored in place) with their sum, then the scaling to the gradient. */
    @Override
    public void crossEntropyWithGrad(Tensor losses, Tensor logits, int[] targets, int n, int vocab, float scale) {
        checkTargets("crossEntropyWithGrad", targets, n, vocab);
        float[] l = data(logits, "crossEntropyWithGrad", "logits", n * vocab);
        CpuBackward.crossEntropy(par, ops, data(losses, "crossEntropyWithGrad", "losses", n), l, l, targets, n, vocab,
                scale);
    }

    private static void checkTargets(String op, int[] targets, int n, int vocab) {
        if (targets.length < n) {
            throw new IllegalArgumentException(op + ": targets has " + targets.length + " entries, need " + n);
        }
        for (int i = 0; i < n; i++) {
            if (targets[i] >= vocab) {
                throw new IllegalArgumentException(op + ": target " + targets[i] + " at row " + i
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        par.close();
    }

    // ---- argument checks ---------------------------------------------------------------------------

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("cpu backend used after close");
        }
    }

    private float[] data(Tensor t, String op, String arg, int needed) {
        checkOpen();
        if (t == null) {
            throw new IllegalArgumentException(op + ": " + arg + " is null");
        }
        if (!(t instanceof CpuTensor ct) || t.backend() != this) {
            throw new IllegalArgumentException(op + ": " + arg + " belongs to another backend");
        }
        float[] d = ct.data();
        if (needed < 0 || d.length < needed) {
            throw new IllegalArgumentException(op + ": " + arg + " has " + d.length + " floats, need " + needed);
        }
        return d;
    }

    private CpuWeight weight(WeightHandle w, String op) {
        checkOpen();
        if (!(w instanceof CpuWeight cw) || w.backend() != this) {
            throw new IllegalArgumentException(op + ": weight " + (w == null ? "null" : w.name())
                    + " was not prepared by this backend");
        }
        return cw;
    }
}
