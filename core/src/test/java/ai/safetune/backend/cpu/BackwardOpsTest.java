package ai.safetune.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import ai.safetune.backend.AttentionShape;
import ai.safetune.backend.Backend;
import ai.safetune.backend.Tensor;
import ai.safetune.backend.WeightHandle;
import ai.safetune.model.FloatWeight;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every backward op against central finite differences of its forward, on small random inputs: for a random
 * projection {@code r}, {@code L(x) = Σ r ⊙ f(x)}, the analytic gradient's directional derivative along a random
 * direction must equal {@code (L(x + h·u) − L(x − h·u)) / 2h} (fp32 forward, so tolerance ~1e-3 relative).
 */
class BackwardOpsTest {
    private static Backend be;
    private final Random rnd = new Random(11);

    @BeforeAll
    static void setUp() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void tearDown() {
        be.close();
    }

    private float[] randn(int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rnd.nextGaussian() * scale);
        }
        return a;
    }

    private float[] read(Tensor t) {
        float[] a = new float[t.size()];
        be.read(t, 0, a, 0, a.length);
        return a;
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) a[i] * b[i];
        }
        return s;
    }

    /** Checks grad·u against the central difference of L = r·f(x) along u. */
    private void checkDirectional(String op, float[] x, float[] grad, Function<float[], float[]> f, float[] r) {
        float[] u = randn(x.length, 1);
        double h = 1e-2;
        float[] xp = x.clone();
        float[] xm = x.clone();
        for (int i = 0; i < x.length; i++) {
            xp[i] += (float) (h * u[i]);
            xm[i] -= (float) (h * u[i]);
        }
        double numeric = (dot(r, f.apply(xp)) - dot(r, f.apply(xm))) / (2 * h);
        double analytic = dot(grad, u);
        assertThat(Math.abs(numeric - analytic)).as(op + ": analytic " + analytic + " vs numeric " + numeric)
                .isLessThanOrEqualTo(2e-3 * Math.max(1, Math.abs(numeric)));
    }

    @Test
    void rmsnorm() {
        int n = 3, dim = 16;
        float[] x = randn(n * dim, 1);
        float[] w = randn(dim, 1);
        float[] r = randn(n * dim, 1);
        Function<float[], float[]> f = xs -> {
            try (Tensor out = be.allocate(n * dim); Tensor xt = be.upload(xs); Tensor wt = be.upload(w)) {
                be.rmsnorm(out, null, xt, wt, n, dim, 1e-5f);
                return read(out);
            }
        };
        try (Tensor xt = be.upload(x); Tensor wt = be.upload(w); Tensor out = be.allocate(n * dim);
             Tensor rstd = be.allocate(n); Tensor dout = be.upload(r); Tensor dx = be.allocate(n * dim)) {
            be.rmsnorm(out, rstd, xt, wt, n, dim, 1e-5f);
            be.rmsnormBackward(dx, dout, xt, wt, rstd, n, dim);
            checkDirectional("rmsnorm", x, read(dx), f, r);
        }
    }

    @Test
    void rope() {
        int n = 5, heads = 2, hd = 8;
        int[] pos = {0, 3, 1, 7, 100};
        float[] x = randn(n * heads * hd, 1);
        float[] r = randn(x.length, 1);
        Function<float[], float[]> f = xs -> {
            try (Tensor t = be.upload(xs)) {
                be.rope(t, pos, n, heads, hd, 10000);
                return read(t);
            }
        };
        try (Tensor d = be.upload(r)) {
            be.ropeBackward(d, pos, n, heads, hd, 10000);
            checkDirectional("rope", x, read(d), f, r);
        }
    }

    @Test
    void swiglu() {
        int n = 40;
        float[] g = randn(n, 2);
        float[] u = randn(n, 1);
        float[] r = randn(n, 1);
        try (Tensor gt = be.upload(g); Tensor ut = be.upload(u); Tensor d = be.upload(r);
             Tensor dg = be.allocate(n); Tensor du = be.allocate(n)) {
            be.swigluBackward(dg, du, d, gt, ut, n);
            checkDirectional("swiglu/gate", g, read(dg), gs -> {
                try (Tensor a = be.upload(gs); Tensor b = be.upload(u); Tensor o = be.allocate(n)) {
                    be.swiglu(o, a, b, n);
                    return read(o);
                }
            }, r);
            checkDirectional("swiglu/up", u, read(du), us -> {
                try (Tensor a = be.upload(g); Tensor b = be.upload(us); Tensor o = be.allocate(n)) {
                    be.swiglu(o, a, b, n);
                    return read(o);
                }
            }, r);
        }
    }

    @Test
    void crossEntropy() {
        int n = 4, vocab = 11;
        int[] targets = {3, -100, 0, 10};
        float[] logits = randn(n * vocab, 2);
        float[] r = {1f, 1f, 1f, 1f};
        Function<float[], float[]> f = ls -> {
            try (Tensor lt = be.upload(ls); Tensor out = be.allocate(n)) {
                be.crossEntropy(out, lt, targets, n, vocab);
                return read(out);
            }
        };
        try (Tensor lt = be.upload(logits); Tensor d = be.allocate(n * vocab)) {
            be.crossEntropyBackward(d, lt, targets, n, vocab, 1f);
            float[] g = read(d);
            for (int j = 0; j < vocab; j++) {
                assertThat(g[vocab + j]).as("ignored row gets no gradient").isZero();
            }
            checkDirectional("crossEntropy", logits, g, f, r);
        }
    }

    @Test
    void frozenAndLoraMatmul() {
        int n = 6, in = 20, out = 9, rank = 3;
        float[] x = randn(n * in, 1);
        float[] w = randn(out * in, 0.3);
        float[] a = randn(rank * in, 0.3);
        float[] r = randn(n * out, 1);
        float scale = 1.7f;
        try (WeightHandle wh = be.prepare(new FloatWeight("w", out, in, w), false);
             Tensor dout = be.upload(r); Tensor dx = be.allocate(n * in)) {
            be.matmulBackward(dx, dout, wh, n, false);
            checkDirectional("matmul(frozen)", x, read(dx), xs -> {
                try (Tensor xt = be.upload(xs); Tensor o = be.allocate(n * out)) {
                    be.matmul(o, xt, wh, n);
                    return read(o);
                }
            }, r);
        }
        // fp32 weight: gradients for both x and w
        float[] dRank = randn(n * rank, 1);
        try (Tensor xt = be.upload(x); Tensor at = be.upload(a); Tensor dout = be.upload(dRank);
             Tensor dx = be.allocate(n * in); Tensor da = be.allocate(rank * in)) {
            be.matmulBackward(dx, da, dout, xt, at, n, rank, in, scale, false);
            checkDirectional("matmul(fp32)/x", x, read(dx), xs -> {
                try (Tensor xx = be.upload(xs); Tensor o = be.allocate(n * rank)) {
                    be.matmul(o, xx, at, n, rank, in, scale, false);
                    return read(o);
                }
            }, dRank);
            checkDirectional("matmul(fp32)/w", a, read(da), as -> {
                try (Tensor aa = be.upload(as); Tensor o = be.allocate(n * rank)) {
                    be.matmul(o, xt, aa, n, rank, in, scale, false);
                    return read(o);
                }
            }, dRank);
        }
    }

    @Test
    void groupedQueryAttentionWithPadding() {
        int b = 2, t = 5, hq = 4, hkv = 2, d = 8;
        AttentionShape s = AttentionShape.full(b, t, hq, hkv, d);
        int[] mask = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0}; // second row right-padded
        float[] q = randn(s.querySize(), 1);
        float[] k = randn(s.kvSize(), 1);
        float[] v = randn(s.kvSize(), 1);
        float[] r = randn(s.querySize(), 1);
        // padded queries' outputs do not matter in training: no loss flows from them
        for (int i = 3; i < 5; i++) {
            for (int j = 0; j < hq * d; j++) {
                r[((t + i) * hq) * d + j] = 0f;
            }
        }
        try (Tensor qt = be.upload(q); Tensor kt = be.upload(k); Tensor vt = be.upload(v);
             Tensor out = be.allocate(s.querySize()); Tensor lse = be.allocate(b * t * hq); Tensor dout = be.upload(r);
             Tensor dq = be.allocate(s.querySize()); Tensor dk = be.allocate(s.kvSize()); Tensor dv = be.allocate(s.kvSize())) {
            be.attention(out, lse, qt, kt, vt, mask, s);
            be.attentionBackward(dq, dk, dv, dout, out, lse, qt, kt, vt, mask, s);
            checkDirectional("attention/q", q, read(dq), xs -> attend(s, mask, xs, k, v), r);
            checkDirectional("attention/k", k, read(dk), xs -> attend(s, mask, q, xs, v), r);
            checkDirectional("attention/v", v, read(dv), xs -> attend(s, mask, q, k, xs), r);
        }
    }


    @Test
    void frozenMatmulBackwardOnDenseWeightsUsesTheGemmPathAndMatchesTheDefinition() {
        int n = 70, in = 40, out = 130; // n >= Gemm.NB: the transposed-GEMM path
        float[] w = randn(out * in, 0.3);
        float[] g = randn(n * out, 1);
        float[] prior = randn(n * in, 1);
        try (WeightHandle wh = be.prepare(new FloatWeight("w", out, in, w), true);
             Tensor dout = be.upload(g); Tensor dx = be.upload(prior)) {
            be.matmulBackward(dx, dout, wh, n, true);
            float[] got = read(dx);
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < in; k++) {
                    double e = prior[i * in + k];
                    for (int j = 0; j < out; j++) {
                        e += (double) g[i * out + j] * w[j * in + k];
                    }
                    assertThat((double) got[i * in + k]).as("dx[%d,%d]", i, k).isCloseTo(e, org.assertj.core.data.Offset.offset(1e-4 * Math.max(1, Math.abs(e))));
                }
            }
        }
    }

    /**
     * A base kept as stored (here F16 rows, as a bf16 or quantized base is): the frozen backward runs the packed GEMM
     * on rows expanded one K block at a time (two K blocks: out > Gemm.KC), not the per-row axpy loop, and matches the
     * definition on the decoded weights; a second weight in between and a repeat give the same numbers (the
     * per-thread expanded block is keyed by weight and block).
     */
    @Test
    void frozenMatmulBackwardOnAWeightKeptAsStoredMatchesTheDefinition() {
        int n = 70, in = 48, out = Gemm.KC + 232;
        float[] g = randn(n * out, 1);
        float[] prior = randn(n * in, 1);
        ai.safetune.model.io.MappedWeight w1 = f16Weight("w1", out, in, 11);
        ai.safetune.model.io.MappedWeight w2 = f16Weight("w2", out, in, 12);
        float[] dense = w1.toFloatArray();
        try (WeightHandle h1 = be.prepare(w1, false); WeightHandle h2 = be.prepare(w2, false);
             Tensor dout = be.upload(g); Tensor dx = be.upload(prior); Tensor other = be.allocate(n * in)) {
            be.matmulBackward(dx, dout, h1, n, true);
            float[] first = read(dx);
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < in; k++) {
                    double e = prior[i * in + k];
                    for (int j = 0; j < out; j++) {
                        e += (double) g[i * out + j] * dense[j * in + k];
                    }
                    assertThat((double) first[i * in + k]).as("dx[%d,%d]", i, k)
                            .isCloseTo(e, org.assertj.core.data.Offset.offset(1e-4 * Math.max(1, Math.abs(e))));
                }
            }
            be.matmulBackward(other, dout, h2, n, false);
            be.write(dx, 0, prior, 0, n * in);
            be.matmulBackward(dx, dout, h1, n, true);
            assertThat(read(dx)).as("again, after another weight").containsExactly(first);
        }
    }

    private static ai.safetune.model.io.MappedWeight f16Weight(String name, int rows, int cols, long seed) {
        java.util.Random r = new java.util.Random(seed);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(rows * cols * 2).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < rows * cols; i++) {
            b.putShort(ai.safetune.model.io.Float16.floatToHalf((float) (r.nextGaussian() * 0.3)));
        }
        return new ai.safetune.model.io.MappedWeight(name, "F16", rows, cols,
                ai.safetune.model.io.MappedRows.wrap(b.rewind(), rows, cols * 2L),
                ai.safetune.model.gguf.GgmlType.F16.decoder(), null, () -> false);
    }

    private float[] attend(AttentionShape s, int[] mask, float[] q, float[] k, float[] v) {
        try (Tensor qt = be.upload(q); Tensor kt = be.upload(k); Tensor vt = be.upload(v);
             Tensor out = be.allocate(s.querySize())) {
            be.attention(out, null, qt, kt, vt, mask, s);
            return read(out);
        }
    }
}
