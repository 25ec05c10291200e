package ai.safetune.backend.cpu;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link Gemm} on both kernels against a plain triple loop in double: every operand layout (A row-major or
 * transposed; B as weight rows, dense or expanded per panel, or row-major), sizes that are not multiples of the
 * micro-tile or vector length, 1–3 rows, K long enough to be split into blocks, scale ≠ 1, accumulate on and off,
 * and bit-identical results for 1, 2 and 3 threads.
 */
class GemmTest {
    private static Parallel p1;
    private static Parallel p2;
    private static Parallel p3;

    @BeforeAll
    static void setUp() {
        p1 = new Parallel(1);
        p2 = new Parallel(2);
        p3 = new Parallel(3);
    }

    @AfterAll
    static void tearDown() {
        p1.close();
        p2.close();
        p3.close();
    }

    static Stream<Kernel> kernels() {
        Kernel v = Kernels.pick(true);
        assertThat(v.name()).startsWith("vector-api"); // surefire runs with jdk.incubator.vector
        return Stream.of(new ScalarKernel(), v);
    }

    static Stream<Arguments> shapes() {
        List<Arguments> out = new ArrayList<>();
        int[][] shapes = {{1, 7, 5}, {2, 64, 64}, {3, 33, 17}, {5, 70, 129}, {7, 1, 65}, {13, 96, 64}, {16, 40, 200},
                {64, 64, 64}, {100, 35, 130}, {37, 800, 70}, {19, 1700, 33}, {200, 9, 300}};
        kernels().forEach(k -> {
            for (int[] s : shapes) {
                out.add(Arguments.of(k, s[0], s[1], s[2]));
            }
        });
        return out.stream();
    }

    private static float[] random(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        return a;
    }

    /** c (+)= scale · A·B with A(i,k) = a[i·K+k] (or a[k·rows+i]) and B(k,j) = b[k·cols+j] (or w[j·K+k]). */
    private static void check(String what, float[] got, float[] before, float[] a, boolean aT, float[] b, boolean bRows,
                              int rows, int K, int cols, float scale, boolean accumulate) {
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                double s = 0;
                double mag = 0;
                for (int k = 0; k < K; k++) {
                    double av = aT ? a[k * rows + i] : a[i * K + k];
                    double bv = bRows ? b[j * K + k] : b[k * cols + j];
                    s += av * bv;
                    mag += Math.abs(av * bv);
                }
                double want = (accumulate ? before[i * cols + j] : 0) + scale * s;
                double tol = 1e-5 * (Math.abs(scale) * mag + (accumulate ? Math.abs(before[i * cols + j]) : 0)) + 1e-30;
                assertThat((double) got[i * cols + j]).as("%s [%d,%d] of %dx%dx%d", what, i, j, rows, K, cols)
                        .isCloseTo(want, org.assertj.core.data.Offset.offset(tol));
            }
        }
    }

    private static Gemm.Rows quantizedLike(float[] w, int K) {
        return new Gemm.Rows() {
            @Override
            public float[] dense() {
                return null;
            }

            @Override
            public void rows(int row, int count, float[] dst, int off) {
                System.arraycopy(w, row * K, dst, off, count * K);
            }
        };
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void gemmAllLayoutsMatchTheDefinition(Kernel kernel, int rows, int K, int cols) {
        Random rnd = new Random(rows * 31L + K * 7L + cols);
        float[] a = random(rnd, rows * K);
        float[] b = random(rnd, K * cols);
        float[] before = random(rnd, rows * cols);
        for (boolean aT : new boolean[] {false, true}) {
            for (int bKind = 0; bKind < 3; bKind++) {
                for (boolean acc : new boolean[] {false, true}) {
                    float scale = acc ? 0.37f : (bKind == 1 ? 1f : -1.5f);
                    Gemm.BSource src = switch (bKind) {
                        case 0 -> Gemm.rowMajor(b, cols);
                        case 1 -> Gemm.transposedRows(Gemm.denseRows(b, K), K);
                        default -> Gemm.transposedRows(quantizedLike(b, K), K);
                    };
                    float[][] results = new float[3][];
                    Parallel[] pars = {p1, p2, p3};
                    for (int t = 0; t < 3; t++) {
                        float[] c = before.clone();
                        Gemm.gemm(pars[t], kernel, c, cols, rows, cols, K, a, aT ? rows : K, aT, src, scale, acc);
                        results[t] = c;
                    }
                    String what = kernel.name() + " aT=" + aT + " b=" + bKind + " acc=" + acc;
                    check(what, results[0], before, a, aT, b, bKind != 0, rows, K, cols, scale, acc);
                    assertThat(results[1]).as("%s: 2 threads = 1 thread", what).isEqualTo(results[0]);
                    assertThat(results[2]).as("%s: 3 threads = 1 thread", what).isEqualTo(results[0]);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void matmulEntryPointsMatchTheDefinition(Kernel kernel, int n, int K, int M) {
        Random rnd = new Random(n * 17L + K * 5L + M);
        float[] x = random(rnd, n * K);
        float[] w = random(rnd, M * K);
        float[] before = random(rnd, n * M);
        for (boolean acc : new boolean[] {false, true}) {
            float scale = acc ? 2f : 1f;
            // x·Wᵀ (forward): dense and per-panel expanded W, for the dots and the packed path alike
            for (boolean dense : new boolean[] {true, false}) {
                float[] c1 = before.clone();
                float[] c2 = before.clone();
                Gemm.Rows rows = dense ? Gemm.denseRows(w, K) : quantizedLike(w, K);
                Gemm.matmul(p1, kernel, c1, x, n, K, rows, M, scale, acc);
                Gemm.matmul(p2, kernel, c2, x, n, K, rows, M, scale, acc);
                check(kernel.name() + " matmul dense=" + dense, c1, before, x, false, w, true, n, K, M, scale, acc);
                assertThat(c2).isEqualTo(c1);
            }
            // a·b (b row-major [K, M]): the LoRA/frozen backward dx, thin M included
            float[] b = random(rnd, K * M);
            float[] c1 = before.clone();
            float[] c2 = before.clone();
            Gemm.matmulNN(p1, kernel, c1, x, b, n, K, M, scale, acc);
            Gemm.matmulNN(p3, kernel, c2, x, b, n, K, M, scale, acc);
            check(kernel.name() + " matmulNN", c1, before, x, false, b, false, n, K, M, scale, acc);
            assertThat(c2).isEqualTo(c1);
        }
        // out[K, M] += s·aᵀ·b over n rows (weight gradients), thin M included
        float[] g = random(rnd, n * M);
        float[] start = random(rnd, K * M);
        float[] o1 = start.clone();
        float[] o2 = start.clone();
        Gemm.matmulTN(p1, kernel, o1, x, g, n, K, M, 0.5f);
        Gemm.matmulTN(p2, kernel, o2, x, g, n, K, M, 0.5f);
        // aᵀ·g: A(i=k, j=n) = x[j·K + i], i.e. x transposed with K rows
        check(kernel.name() + " matmulTN", o1, start, x, true, g, false, K, n, M, 0.5f, true);
        assertThat(o2).isEqualTo(o1);
    }
}
