package ai.safetune.backend;

import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.RandomWeights;
import ai.safetune.model.Weight;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Each CPU op against a direct, naive formula in double precision; the scalar kernels here, the SIMD ones in
 * {@link CpuBackendSimdTest} (same tests).
 */
class CpuBackendTest {
    protected static Backend be;
    private final Random rnd = new Random(42);

    @BeforeAll
    static void setUp() {
        be = new CpuBackend(2, false);
        assertThat(((CpuBackend) be).kernelName()).isEqualTo("scalar");
    }

    @AfterAll
    static void tearDown() {
        be.close();
    }

    private float[] randn(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        return a;
    }

    private float[] read(Tensor t) {
        float[] out = new float[t.size()];
        be.read(t, 0, out, 0, out.length);
        return out;
    }

    /** Max |a-b| / (1 + |b|), reported with the worst index on failure. */
    static void assertClose(float[] actual, double[] expected, double tol) {
        assertThat(actual.length).isGreaterThanOrEqualTo(expected.length);
        int worst = -1;
        double worstErr = 0;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i]));
            if (!(err <= worstErr)) {
                worstErr = err;
                worst = i;
            }
        }
        assertThat(worstErr).as("worst element %d: actual %s expected %s", worst,
                worst < 0 ? 0 : actual[worst], worst < 0 ? 0 : expected[worst]).isLessThanOrEqualTo(tol);
    }

    @ParameterizedTest
    @CsvSource({"1,7,5", "3,64,130", "4,576,64", "5,33,65", "16,576,192", "37,96,200", "130,576,1536", "200,40,70"})
    void matmulOverFrozenWeightsMatchesNaive(int n, int k, int m) {
        float[] x = randn(n * k);
        float[] w = randn(m * k);
        double[] ref = new double[n * m];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                double s = 0;
                for (int c = 0; c < k; c++) {
                    s += (double) x[i * k + c] * w[j * k + c];
                }
                ref[i * m + j] = s;
            }
        }
        for (String type : new String[] {"F32", "TEST"}) {
            for (boolean deq : new boolean[] {false, true}) {
                Weight wt = new RandomWeights.ArrayWeight("w", m, k, w, type);
                try (WeightHandle h = be.prepare(wt, deq); Tensor xt = be.upload(x); Tensor out = be.allocate(n * m)) {
                    be.fill(out, Float.NaN); // poison: unwritten elements fail
                    be.matmul(out, xt, h, n);
                    assertClose(read(out), ref, 1e-5 * Math.sqrt(k));
                }
            }
        }
    }

    @Test
    void matmulOverBuffersScalesAndAccumulates() {
        int n = 9, k = 20, m = 70;
        float[] x = randn(n * k);
        float[] w = randn(m * k);
        float[] init = randn(n * m);
        double[] ref = new double[n * m];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                double s = 0;
                for (int c = 0; c < k; c++) {
                    s += (double) x[i * k + c] * w[j * k + c];
                }
                ref[i * m + j] = init[i * m + j] + 0.5 * s;
            }
        }
        try (Tensor xt = be.upload(x); Tensor wt = be.upload(w); Tensor out = be.upload(init)) {
            be.matmul(out, xt, wt, n, m, k, 0.5f, true);
            assertClose(read(out), ref, 1e-5);
        }
    }

    @Test
    void rmsnormMatchesFormula() {
        int n = 5, d = 48;
        float[] x = randn(n * d);
        float[] w = randn(d);
        double[] ref = new double[n * d];
        double[] rstdRef = new double[n];
        for (int i = 0; i < n; i++) {
            double ss = 0;
            for (int j = 0; j < d; j++) {
                ss += x[i * d + j] * (double) x[i * d + j];
            }
            rstdRef[i] = 1 / Math.sqrt(ss / d + 1e-5);
            for (int j = 0; j < d; j++) {
                ref[i * d + j] = x[i * d + j] * rstdRef[i] * w[j];
            }
        }
        try (Tensor xt = be.upload(x); Tensor wt = be.upload(w); Tensor out = be.allocate(n * d); Tensor r = be.allocate(n)) {
            be.rmsnorm(out, r, xt, wt, n, d, 1e-5f);
            assertClose(read(out), ref, 1e-5);
            assertClose(read(r), rstdRef, 1e-5);
        }
    }

    @Test
    void ropeRotatesHalvesByPositionTimesFrequency() {
        int n = 4, heads = 3, d = 16;
        double theta = 10000;
        float[] x = randn(n * heads * d);
        int[] pos = {0, 1, 7, 1000};
        double[] ref = new double[x.length];
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < heads; h++) {
                int base = (t * heads + h) * d;
                for (int i = 0; i < d / 2; i++) {
                    // (x1 + i·x2) · e^{iφ}, φ = pos · θ^(-2i/d)
                    double phi = pos[t] * Math.pow(theta, -2.0 * i / d);
                    double x1 = x[base + i], x2 = x[base + d / 2 + i];
                    ref[base + i] = x1 * Math.cos(phi) - x2 * Math.sin(phi);
                    ref[base + d / 2 + i] = x2 * Math.cos(phi) + x1 * Math.sin(phi);
                }
            }
        }
        try (Tensor xt = be.upload(x)) {
            be.rope(xt, pos, n, heads, d, theta);
            assertClose(read(xt), ref, 2e-4); // position 1000: the fp32 angle as HF rounds it
        }
    }

    /** One and two queries per row take the decode path (direct dot products), more the packed-Kᵀ products. */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 5})
    void attentionMatchesNaiveQuadraticReference(int tq) {
        // 2 rows, GQA 4/2 heads, a cache of capacity 9 holding 7 slots; tq new queries at the last slots; padding masked
        int b = 2, tk = 7, cap = 9, start = tk - tq, h = 4, hkv = 2, d = 8;
        AttentionShape s = new AttentionShape(b, tq, tk, cap, start, h, hkv, d);
        float[] q = randn(s.querySize());
        float[] k = randn(s.kvSize());
        float[] v = randn(s.kvSize());
        int[] mask = new int[b * cap];
        java.util.Arrays.fill(mask, 1);
        mask[0] = 0; // row 0: left padding at slot 0
        mask[cap + 5] = 0; // row 1: a padded slot in the middle
        double[] ref = new double[s.querySize()];
        double[] lseRef = new double[b * tq * h];
        for (int bb = 0; bb < b; bb++) {
            for (int hh = 0; hh < h; hh++) {
                int kvh = hh / (h / hkv);
                for (int i = 0; i < tq; i++) {
                    int qo = ((bb * tq + i) * h + hh) * d;
                    double[] sc = new double[tk];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < tk; j++) {
                        sc[j] = Double.NEGATIVE_INFINITY;
                        if (j > start + i || mask[bb * cap + j] == 0) {
                            continue;
                        }
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += q[qo + c] * (double) k[((bb * cap + j) * hkv + kvh) * d + c];
                        }
                        sc[j] = dot / Math.sqrt(d);
                        max = Math.max(max, sc[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < tk; j++) {
                        sum += Math.exp(sc[j] - max);
                    }
                    lseRef[(bb * tq + i) * h + hh] = max + Math.log(sum);
                    for (int j = 0; j < tk; j++) {
                        double p = Math.exp(sc[j] - max) / sum;
                        for (int c = 0; c < d; c++) {
                            ref[qo + c] += p * v[((bb * cap + j) * hkv + kvh) * d + c];
                        }
                    }
                }
            }
        }
        try (Tensor qt = be.upload(q); Tensor kt = be.upload(k); Tensor vt = be.upload(v);
             Tensor out = be.allocate(s.querySize()); Tensor lse = be.allocate(b * tq * h)) {
            be.fill(out, Float.NaN);
            be.attention(out, lse, qt, kt, vt, mask, s);
            assertClose(read(out), ref, 1e-5);
            assertClose(read(lse), lseRef, 1e-5);
        }
    }

    @Test
    void attentionQueryWithNoVisibleKeyGetsZeros() {
        AttentionShape s = AttentionShape.full(1, 2, 1, 1, 4);
        try (Tensor q = be.upload(randn(8)); Tensor k = be.upload(randn(8)); Tensor v = be.upload(randn(8));
             Tensor out = be.allocate(8)) {
            be.fill(out, Float.NaN);
            be.attention(out, null, q, k, v, new int[] {0, 1}, s);
            float[] o = read(out);
            assertThat(new float[] {o[0], o[1], o[2], o[3]}).containsOnly(0f);
            assertThat(o[4]).isFinite();
        }
    }

    @Test
    void elementwiseAndLossOps() {
        int n = 3, vocab = 11;
        float[] g = randn(n * vocab);
        float[] u = randn(n * vocab);
        double[] swiRef = new double[g.length];
        for (int i = 0; i < g.length; i++) {
            swiRef[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
        }
        double[] sm = new double[g.length];
        double[] lse = new double[n];
        double[] ce = new double[n];
        int[] targets = {3, -100, 10};
        for (int i = 0; i < n; i++) {
            double sum = 0;
            for (int j = 0; j < vocab; j++) {
                sum += Math.exp(g[i * vocab + j]);
            }
            lse[i] = Math.log(sum);
            for (int j = 0; j < vocab; j++) {
                sm[i * vocab + j] = Math.exp(g[i * vocab + j]) / sum;
            }
            ce[i] = targets[i] < 0 ? 0 : lse[i] - g[i * vocab + targets[i]];
        }
        try (Tensor gt = be.upload(g); Tensor ut = be.upload(u); Tensor out = be.allocate(g.length);
             Tensor rows = be.allocate(n)) {
            be.swiglu(out, gt, ut, g.length);
            assertClose(read(out), swiRef, 1e-5);
            be.softmax(out, gt, n, vocab);
            assertClose(read(out), sm, 1e-6);
            be.logsumexp(rows, gt, n, vocab);
            assertClose(read(rows), lse, 1e-6);
            be.crossEntropy(rows, gt, targets, n, vocab);
            assertClose(read(rows), ce, 1e-6);
            be.add(out, gt, ut, g.length);
            double[] sum = new double[g.length];
            for (int i = 0; i < g.length; i++) {
                sum[i] = g[i] + (double) u[i];
            }
            assertClose(read(out), sum, 1e-7);
        }
    }

    @Test
    void argumentChecksNameTheOpAndArgument() {
        try (Tensor small = be.allocate(3); Tensor x = be.allocate(8)) {
            assertThatThrownBy(() -> be.swiglu(small, x, x, 8)).hasMessageContaining("swiglu: out has 3 floats, need 8");
            assertThatThrownBy(() -> be.embedding(x, new int[] {5},
                    be.prepare(new RandomWeights.ArrayWeight("e", 2, 4, new float[8], "F32"), false)))
                    .hasMessageContaining("token id 5");
        }
        Tensor closed = be.allocate(1);
        closed.close();
        assertThatThrownBy(() -> be.fill(closed, 0f)).isInstanceOf(IllegalStateException.class);
    }
}
