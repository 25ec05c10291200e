package ai.safetune.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import ai.safetune.backend.AttentionShape;
import ai.safetune.backend.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The {@link OpKernel}s (scalar and Vector API) and the tiled {@link Attention} on them, against plain
 * definitions computed in double: odd lengths (vector tails, rounded-up tiles), GQA groups, padding key masks,
 * a query that sees no key, a KV-cache forward ({@code queryStart > 0}), and results independent of the
 * thread count.
 */
class OpKernelTest {
    private final Random rnd = new Random(5);

    static Stream<OpKernel> kernels() {
        return Stream.of(new ScalarOpKernel(), new VectorOpKernel());
    }

    private float[] randn(int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rnd.nextGaussian() * scale);
        }
        return a;
    }

    private static void assertClose(String what, float[] got, double[] want, double tol) {
        for (int i = 0; i < want.length; i++) {
            assertThat((double) got[i]).as("%s[%d]", what, i)
                    .isCloseTo(want[i], org.assertj.core.data.Offset.offset(tol * Math.max(1, Math.abs(want[i]))));
        }
    }

    // ---- plain definitions ----------------------------------------------------------------------------------

    /** P[b][h][i][j] (0 where invisible) and lse, in double. */
    private static double[][] probabilities(AttentionShape s, int[] mask, float[] q, float[] k, double[] lse) {
        int hq = s.numHeads(), hkv = s.numKvHeads(), d = s.headDim(), tq = s.queryLen(), cap = s.capacity();
        double[][] p = new double[s.batch() * hq * tq][s.keyLen()];
        for (int b = 0; b < s.batch(); b++) {
            for (int h = 0; h < hq; h++) {
                int kvh = h / (hq / hkv);
                for (int i = 0; i < tq; i++) {
                    double[] row = p[(b * hq + h) * tq + i];
                    double max = Double.NEGATIVE_INFINITY;
                    Arrays.fill(row, Double.NEGATIVE_INFINITY);
                    for (int j = 0; j <= s.queryStart() + i; j++) {
                        if (mask != null && mask[b * cap + j] == 0) {
                            continue;
                        }
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += (double) q[((b * tq + i) * hq + h) * d + c] * k[((b * cap + j) * hkv + kvh) * d + c];
                        }
                        row[j] = dot / Math.sqrt(d);
                        max = Math.max(max, row[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < row.length; j++) {
                        row[j] = max == Double.NEGATIVE_INFINITY ? 0 : Math.exp(row[j] - max);
                        sum += row[j];
                    }
                    for (int j = 0; j < row.length; j++) {
                        row[j] = sum == 0 ? 0 : row[j] / sum;
                    }
                    lse[(b * tq + i) * hq + h] = sum == 0 ? Double.NEGATIVE_INFINITY : max + Math.log(sum);
                }
            }
        }
        return p;
    }

    private static double[] attend(AttentionShape s, double[][] p, float[] v) {
        int hq = s.numHeads(), hkv = s.numKvHeads(), d = s.headDim(), tq = s.queryLen(), cap = s.capacity();
        double[] out = new double[s.querySize()];
        for (int b = 0; b < s.batch(); b++) {
            for (int h = 0; h < hq; h++) {
                int kvh = h / (hq / hkv);
                for (int i = 0; i < tq; i++) {
                    for (int j = 0; j < s.keyLen(); j++) {
                        double pj = p[(b * hq + h) * tq + i][j];
                        for (int c = 0; c < d; c++) {
                            out[((b * tq + i) * hq + h) * d + c] += pj * v[((b * cap + j) * hkv + kvh) * d + c];
                        }
                    }
                }
            }
        }
        return out;
    }

    static Stream<Object[]> forwardCases() {
        return kernels().flatMap(k -> Stream.of(
                // batch, queryLen, keyLen, capacity, queryStart, heads, kvHeads, headDim, masked slots (b*cap+j)
                new Object[] {k, new AttentionShape(2, 37, 37, 37, 0, 6, 2, 64), new int[] {0, 37 + 33, 37 + 34, 37 + 35, 37 + 36}},
                new Object[] {k, new AttentionShape(2, 5, 9, 11, 4, 4, 2, 8), new int[] {0, 11 + 6}},
                new Object[] {k, new AttentionShape(1, 1, 13, 16, 12, 3, 1, 20), new int[] {2}},
                new Object[] {k, new AttentionShape(3, 19, 19, 19, 0, 3, 3, 40), null}));
    }

    @ParameterizedTest
    @MethodSource("forwardCases")
    void attentionForwardMatchesTheDefinition(OpKernel ker, AttentionShape s, int[] maskedSlots) {
        int[] mask = mask(s, maskedSlots);
        float[] q = randn(s.querySize(), 1);
        float[] k = randn(s.kvSize(), 1);
        float[] v = randn(s.kvSize(), 1);
        double[] lseWant = new double[s.batch() * s.queryLen() * s.numHeads()];
        double[] want = attend(s, probabilities(s, mask, q, k, lseWant), v);
        float[] out = new float[s.querySize()];
        Arrays.fill(out, Float.NaN);
        float[] lse = new float[lseWant.length];
        try (Parallel par = new Parallel(2)) {
            Attention.forward(par, ker, out, lse, q, k, v, mask, s);
        }
        assertClose("out", out, want, 2e-5);
        for (int i = 0; i < lse.length; i++) {
            if (lseWant[i] == Double.NEGATIVE_INFINITY) {
                assertThat(lse[i]).as("lse[%d] of a query that sees no key", i).isEqualTo(Float.NEGATIVE_INFINITY);
            } else {
                assertThat((double) lse[i]).as("lse[%d]", i).isCloseTo(lseWant[i], org.assertj.core.data.Offset.offset(2e-5));
            }
        }
    }

    private static int[] mask(AttentionShape s, int[] maskedSlots) {
        if (maskedSlots == null) {
            return null;
        }
        int[] mask = new int[s.batch() * s.capacity()];
        Arrays.fill(mask, 1);
        for (int m : maskedSlots) {
            mask[m] = 0;
        }
        return mask;
    }

    static Stream<Object[]> backwardCases() {
        return kernels().flatMap(k -> Stream.of(
                new Object[] {k, AttentionShape.full(2, 37, 6, 2, 64), new int[] {37 + 33, 37 + 34, 37 + 35, 37 + 36}},
                new Object[] {k, AttentionShape.full(2, 6, 4, 2, 8), new int[] {0, 6 + 5}},
                new Object[] {k, AttentionShape.full(1, 50, 3, 1, 24), null},
                // queries after cached keys: the backward also reaches the cache slots' dK/dV
                new Object[] {k, new AttentionShape(2, 5, 9, 11, 4, 4, 2, 8), new int[] {0, 11 + 6}}));
    }

    /** dV = Pᵀ·dO, dS = P∘(dO·Vᵀ − rowsum(dO∘O)), dQ = dS·K/√d, dK = dSᵀ·Q/√d, in double from the definition. */
    @ParameterizedTest
    @MethodSource("backwardCases")
    void attentionBackwardMatchesTheDefinitionAndNotTheThreadCount(OpKernel ker, AttentionShape s, int[] maskedSlots) {
        int[] mask = mask(s, maskedSlots);
        int hq = s.numHeads(), hkv = s.numKvHeads(), d = s.headDim(), tq = s.queryLen(), cap = s.capacity();
        float[] q = randn(s.querySize(), 1);
        float[] k = randn(s.kvSize(), 1);
        float[] v = randn(s.kvSize(), 1);
        float[] dout = randn(s.querySize(), 1);
        double[] lseD = new double[s.batch() * tq * hq];
        double[][] p = probabilities(s, mask, q, k, lseD);
        double[] o = attend(s, p, v);
        double[] dq = new double[s.querySize()];
        double[] dk = new double[s.kvSize()];
        double[] dv = new double[s.kvSize()];
        double scale = 1 / Math.sqrt(d);
        for (int b = 0; b < s.batch(); b++) {
            for (int h = 0; h < hq; h++) {
                int kvh = h / (hq / hkv);
                for (int i = 0; i < tq; i++) {
                    int qo = ((b * tq + i) * hq + h) * d;
                    double di = 0;
                    for (int c = 0; c < d; c++) {
                        di += dout[qo + c] * o[qo + c];
                    }
                    for (int j = 0; j < s.keyLen(); j++) {
                        double pj = p[(b * hq + h) * tq + i][j];
                        int ko = ((b * cap + j) * hkv + kvh) * d;
                        double dp = 0;
                        for (int c = 0; c < d; c++) {
                            dp += dout[qo + c] * (double) v[ko + c];
                            dv[ko + c] += pj * dout[qo + c];
                        }
                        double ds = pj * (dp - di) * scale;
                        for (int c = 0; c < d; c++) {
                            dq[qo + c] += ds * k[ko + c];
                            dk[ko + c] += ds * q[qo + c];
                        }
                    }
                }
            }
        }
        float[] out = new float[s.querySize()];
        float[] lse = new float[lseD.length];
        float[][] got1 = new float[3][];
        float[][] got3 = new float[3][];
        for (int threads : new int[] {1, 3}) {
            float[] gq = new float[s.querySize()];
            float[] gk = new float[s.kvSize()];
            float[] gv = new float[s.kvSize()];
            Arrays.fill(gk, Float.NaN); // written, not accumulated
            try (Parallel par = new Parallel(threads)) {
                Attention.forward(par, ker, out, lse, q, k, v, mask, s);
                Attention.backward(par, ker, gq, gk, gv, dout, out, lse, q, k, v, mask, s);
            }
            float[][] got = threads == 1 ? got1 : got3;
            got[0] = gq;
            got[1] = gk;
            got[2] = gv;
        }
        assertClose("dq", got1[0], dq, 1e-4);
        assertClose("dk", got1[1], dk, 1e-4);
        assertClose("dv", got1[2], dv, 1e-4);
        for (int i = 0; i < 3; i++) {
            assertThat(got3[i]).as("gradient %d with 3 threads equals 1 thread bit for bit", i).isEqualTo(got1[i]);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void stridedProductsMatchTheDefinition(OpKernel ker) {
        for (int[] c : List.of(new int[] {4, 64, 64}, new int[] {7, 13, 45}, new int[] {1, 3, 5}, new int[] {9, 40, 70})) {
            int rows = c[0], kk = c[1], n = c[2];
            float[] a = randn(rows * kk, 1);
            float[] b = randn((kk + 2) * (n + 3), 1);
            float[] prior = randn(rows * (n + 1), 1);
            for (boolean transposed : new boolean[] {false, true}) {
                for (boolean acc : new boolean[] {false, true}) {
                    // A read as [rows][kk] or, transposed, as a [kk][rows] array; B [k][n] at offset 3, ldb n + 3;
                    // C [rows][n + 1]: columns [1, n) from k in [1, kk)
                    int ars = transposed ? 1 : kk;
                    int aks = transposed ? rows : 1;
                    float[] cc = prior.clone();
                    ker.mm(a, 0, ars, aks, rows, b, 3, n + 3, 1, kk, cc, 0, n + 1, 1, n, acc);
                    double[] want = new double[cc.length];
                    for (int i = 0; i < cc.length; i++) {
                        want[i] = prior[i];
                    }
                    for (int r = 0; r < rows; r++) {
                        for (int j = 1; j < n; j++) {
                            double sum = acc ? prior[r * (n + 1) + j] : 0;
                            for (int k = 1; k < kk; k++) {
                                sum += (double) a[r * ars + k * aks] * b[3 + k * (n + 3) + j];
                            }
                            want[r * (n + 1) + j] = sum;
                        }
                    }
                    assertClose(ker.name() + " mm " + Arrays.toString(c) + " t=" + transposed + " acc=" + acc, cc, want, 1e-5);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void rowOpsMatchTheDefinitions(OpKernel ker) {
        int n = 1000 + 37;
        float[] x = randn(n, 3);
        x[5] = Float.NEGATIVE_INFINITY;
        x[6] = -200f;
        float[] e = x.clone();
        float sum = ker.expRow(e, 0, n, 0.5f, 1.25f);
        double want = 0;
        for (int i = 0; i < n; i++) {
            double w = Math.exp(x[i] * 0.5 - 1.25);
            want += w;
            assertThat((double) e[i]).as("exp[%d]", i).isCloseTo(w, org.assertj.core.data.Offset.offset(3e-7 * w + 1e-38));
        }
        assertThat(e[5]).isEqualTo(0f);
        assertThat((double) sum).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-5 * want));
        assertThat(ker.max(x, 3, n - 3)).isEqualTo(max(x, 3, n));

        float[] g = randn(n, 3);
        float[] u = randn(n, 1);
        float[] dout = randn(n, 1);
        float[] act = new float[n];
        float[] dg = new float[n];
        float[] du = new float[n];
        ker.swiglu(act, g, u, 1, n);
        ker.swigluBackward(dg, du, dout, g, u, 1, n);
        for (int i = 1; i < n; i++) {
            double sig = 1 / (1 + Math.exp(-g[i]));
            assertThat((double) act[i]).isCloseTo(g[i] * sig * u[i], org.assertj.core.data.Offset.offset(1e-5));
            assertThat((double) du[i]).isCloseTo(dout[i] * g[i] * sig, org.assertj.core.data.Offset.offset(1e-5));
            assertThat((double) dg[i]).isCloseTo(dout[i] * u[i] * sig * (1 + g[i] * (1 - sig)),
                    org.assertj.core.data.Offset.offset(1e-5));
        }
        assertThat(act[0]).isEqualTo(0f);

        float[] w = randn(n, 1);
        assertThat(ker.sumSquares(x, 7, n - 7)).isCloseTo(sumSq(x, 7, n), org.assertj.core.data.Offset.offset(1e-6 * sumSq(x, 7, n)));
        double nd = 0;
        for (int i = 0; i < n - 7; i++) {
            nd += (double) g[7 + i] * w[i] * u[7 + i];
        }
        assertThat(ker.normDot(g, w, u, 7, n - 7)).isCloseTo(nd, org.assertj.core.data.Offset.offset(1e-4 * Math.max(1, Math.abs(nd))));

        float[] logits = randn(n, 4);
        float[] grad = logits.clone();
        double max = max(logits, 0, n);
        double s = 0;
        for (float l : logits) {
            s += Math.exp(l - max);
        }
        double lse = max + Math.log(s);
        assertThat((double) ker.crossEntropyRow(logits.clone(), 0, n, false, 0f)).isCloseTo(lse, org.assertj.core.data.Offset.offset(1e-5));
        assertThat((double) ker.crossEntropyRow(grad, 0, n, true, 0.25f)).isCloseTo(lse, org.assertj.core.data.Offset.offset(1e-5));
        double[] gw = new double[n];
        for (int i = 0; i < n; i++) {
            gw[i] = 0.25 * Math.exp(logits[i] - lse);
        }
        assertClose("softmax grad", grad, gw, 1e-5);
    }

    private static float max(float[] x, int from, int to) {
        float m = Float.NEGATIVE_INFINITY;
        for (int i = from; i < to; i++) {
            m = Math.max(m, x[i]);
        }
        return m;
    }

    private static double sumSq(float[] x, int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) {
            s += (double) x[i] * x[i];
        }
        return s;
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void fusedCrossEntropyEqualsTheTwoOps(OpKernel unused) {
        int n = 6, vocab = 301;
        float[] l = randn(n * vocab, 3);
        int[] targets = {5, -100, 300, 0, 17, -100};
        try (CpuBackend be = new CpuBackend(2, unused instanceof VectorOpKernel);
             Tensor a = be.upload(l); Tensor b = be.upload(l); Tensor la = be.allocate(n); Tensor lb = be.allocate(n)) {
            be.crossEntropy(la, a, targets, n, vocab);
            be.crossEntropyBackward(a, a, targets, n, vocab, 0.5f);
            be.crossEntropyWithGrad(lb, b, targets, n, vocab, 0.5f);
            float[] ga = new float[n * vocab];
            float[] gb = new float[n * vocab];
            be.read(a, 0, ga, 0, ga.length);
            be.read(b, 0, gb, 0, gb.length);
            double[] want = new double[ga.length];
            for (int i = 0; i < want.length; i++) {
                want[i] = ga[i];
            }
            assertClose("dlogits", gb, want, 1e-6);
            float[] lossA = new float[n];
            float[] lossB = new float[n];
            be.read(la, 0, lossA, 0, n);
            be.read(lb, 0, lossB, 0, n);
            for (int i = 0; i < n; i++) {
                assertThat((double) lossB[i]).isCloseTo(lossA[i], org.assertj.core.data.Offset.offset(1e-5));
                if (targets[i] < 0) {
                    assertThat(lossB[i]).isEqualTo(0f);
                    for (int j = 0; j < vocab; j++) {
                        assertThat(gb[i * vocab + j]).isEqualTo(0f);
                    }
                }
            }
        }
    }
}
