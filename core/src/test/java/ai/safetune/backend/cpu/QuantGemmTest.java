package ai.safetune.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.safetune.backend.Tensor;
import ai.safetune.backend.WeightHandle;
import ai.safetune.model.gguf.GgmlType;
import ai.safetune.model.io.Float16;
import ai.safetune.model.io.MappedRows;
import ai.safetune.model.io.MappedWeight;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The fused quantized products against the definition {@code x · dequantize(W)ᵀ} (the weight expanded by the
 * GGUF dequantizer, the product summed in double): every supported format, both kernels, odd row counts,
 * 1–100 x rows, row-permuted weights, and the dispatch through {@link CpuBackend#matmul}.
 */
class QuantGemmTest {
    private static Parallel par;
    private final Random rnd = new Random(7);

    @BeforeAll
    static void setUp() {
        par = new Parallel(2);
    }

    @AfterAll
    static void tearDown() {
        par.close();
    }

    /** Random blocks of {@code f} with finite fp16 scales (and mins) of realistic size. */
    private MappedWeight randomWeight(QuantFormat f, int rows, int cols, int[] rowMap) {
        int rowBytes = cols / 32 * f.blockBytes;
        byte[] b = new byte[rows * rowBytes];
        rnd.nextBytes(b);
        for (int p = 0; p < b.length; p += f.blockBytes) {
            putHalf(b, p, (float) (0.002 + 0.02 * rnd.nextDouble()) * (rnd.nextBoolean() ? 1 : -1));
            if (f == QuantFormat.Q4_1) {
                putHalf(b, p + 2, (float) (-0.1 + 0.2 * rnd.nextDouble()));
            }
        }
        return new MappedWeight("w", f.name(), rows, cols, MappedRows.wrap(ByteBuffer.wrap(b), rows, rowBytes),
                GgmlType.valueOf(f.name()).decoder(), rowMap, () -> false);
    }

    private static void putHalf(byte[] b, int p, float v) {
        short h = Float16.floatToHalf(v);
        b[p] = (byte) h;
        b[p + 1] = (byte) (h >> 8);
    }

    private float[] randn(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        return a;
    }

    /** Checks {@code got} against {@code x · W^T} with W dequantized; tolerance scaled by {@code Σ|x||w|}. */
    private static void assertProduct(float[] got, float[] x, MappedWeight w, int n, String what) {
        int M = w.rows();
        int K = w.cols();
        float[] wd = w.toFloatArray();
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < M; j++) {
                double s = 0;
                double mag = 0;
                for (int k = 0; k < K; k++) {
                    s += (double) x[i * K + k] * wd[j * K + k];
                    mag += Math.abs((double) x[i * K + k] * wd[j * K + k]);
                }
                double err = Math.abs(got[i * M + j] - s);
                if (!(err <= 2e-6 * mag + 1e-6)) {
                    throw new AssertionError(what + ": out[" + i + "][" + j + "] = " + got[i * M + j] + ", expected " + s
                            + " (error " + err + ", Σ|x·w| " + mag + ")");
                }
            }
        }
    }

    private static List<QuantKernel> kernels() {
        List<QuantKernel> ks = new ArrayList<>();
        ks.add(new ScalarQuantKernel());
        QuantKernel picked = QuantGemm.pickKernel(true);
        if (!(picked instanceof ScalarQuantKernel)) {
            ks.add(picked);
        }
        return ks;
    }

    @ParameterizedTest
    @EnumSource(QuantFormat.class)
    void fusedProductEqualsDequantizedProduct(QuantFormat f) {
        int[][] shapes = {{37, 96}, {70, 608}, {1, 32}, {513, 64}};
        for (QuantKernel k : kernels()) {
            for (int[] shape : shapes) {
                MappedWeight w = randomWeight(f, shape[0], shape[1], null);
                for (int n : new int[] {1, 2, 3, 5, 8, 13, 16, 100}) {
                    float[] x = randn(n * shape[1]);
                    float[] out = new float[n * shape[0]];
                    java.util.Arrays.fill(out, Float.NaN); // every entry must be written
                    QuantGemm.matmul(par, k, f, out, x, n, shape[1], w, shape[0]);
                    assertProduct(out, x, w, n, f + " " + k.name() + " n=" + n + " " + shape[0] + "x" + shape[1]);
                    java.util.Arrays.fill(out, Float.NaN);
                    QuantGemm.matmul(par, k, PackedQuant.pack(w, f, k.group()), out, x, n, shape[1], shape[0]);
                    assertProduct(out, x, w, n, f + " packed " + k.name() + " n=" + n + " " + shape[0] + "x" + shape[1]);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(QuantFormat.class)
    void rowMapIsFollowed(QuantFormat f) {
        int rows = 64;
        int[] map = new int[rows];
        for (int r = 0; r < rows; r++) {
            map[r] = (r * 29 + 3) % rows; // a permutation: 29 is coprime with 64
        }
        MappedWeight w = randomWeight(f, rows, 128, map);
        for (QuantKernel k : kernels()) {
            float[] x = randn(3 * 128);
            float[] out = new float[3 * rows];
            QuantGemm.matmul(par, k, f, out, x, 3, 128, w, rows);
            assertProduct(out, x, w, 3, f + " " + k.name() + " permuted");
            QuantGemm.matmul(par, k, PackedQuant.pack(w, f, k.group()), out, x, 3, 128, rows);
            assertProduct(out, x, w, 3, f + " packed " + k.name() + " permuted");
        }
    }

    /**
     * The packed layout holds the same values as the GGUF dequantizer, exactly (Q4_0 as q·d − 8d too), plain and
     * with rows interleaved in groups (a partial last group included).
     */
    @ParameterizedTest
    @EnumSource(QuantFormat.class)
    void packedRowsExpandToTheDequantizedWeight(QuantFormat f) {
        int[] map = {3, 0, 4, 1, 2};
        MappedWeight w = randomWeight(f, 5, 96, map);
        float[] want = w.toFloatArray();
        float[] row = new float[96];
        for (int group : new int[] {1, 2, 8, 16}) {
            PackedQuant p = PackedQuant.pack(w, f, group);
            for (int r = 0; r < 5; r++) {
                p.expandRow(r, row);
                for (int k = 0; k < 96; k++) {
                    // == : equal values; only the sign of a zero may differ ((8−8)·d = −0 for d < 0, 8d − 8d = +0)
                    assertThat(row[k] == want[r * 96 + k])
                            .as("%s group %d row %d col %d: %s vs %s", f, group, r, k, row[k], want[r * 96 + k]).isTrue();
                }
            }
        }
        PackedQuant p = PackedQuant.pack(w, f, 1);
        assertThatThrownBy(() -> QuantGemm.matmul(par, new ScalarQuantKernel(), p, new float[5], new float[64], 1, 64, 5))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[5, 96]");
        assertThatThrownBy(() -> PackedQuant.pack(w, f, 0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void halfConversionIsExactForEveryBitPattern() {
        for (int h = 0; h < 65536; h++) {
            float want = Float16.halfToFloat((short) h);
            float got = ScalarQuantKernel.half(h);
            if (Float.floatToRawIntBits(got) != Float.floatToRawIntBits(want) && !(Float.isNaN(got) && Float.isNaN(want))) {
                throw new AssertionError("fp16 0x" + Integer.toHexString(h) + ": " + got + ", expected " + want);
            }
        }
    }

    @Test
    void vectorKernelIsUsedWhenTheModuleIsPresent() {
        boolean module = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        assertThat(QuantGemm.pickKernel(true).name()).startsWith(module ? "vector-api" : "scalar");
        assertThat(QuantGemm.pickKernel(false).name()).isEqualTo("scalar");
    }

    @Test
    void dispatchOnlyForSupportedTypesAndFewRows() {
        assertThat(QuantGemm.applies(randomWeight(QuantFormat.Q4_1, 4, 64, null), 1)).isEqualTo(QuantFormat.Q4_1);
        assertThat(QuantGemm.applies(randomWeight(QuantFormat.Q8_0, 4, 64, null), QuantGemm.MAX_ROWS))
                .isEqualTo(QuantFormat.Q8_0);
        assertThat(QuantGemm.applies(randomWeight(QuantFormat.Q8_0, 4, 64, null), QuantGemm.MAX_ROWS + 1)).isNull();
        MappedWeight f16 = new MappedWeight("h", "F16", 2, 32, MappedRows.wrap(ByteBuffer.allocate(128), 2, 64),
                GgmlType.F16.decoder(), null, () -> false);
        assertThat(QuantGemm.applies(f16, 1)).isNull();
    }

    /** Through the backend op, both kernels, with the fused path (few rows) and the tile path (many rows). */
    @ParameterizedTest
    @EnumSource(QuantFormat.class)
    void backendMatmulOnQuantizedWeights(QuantFormat f) {
        MappedWeight w = randomWeight(f, 97, 160, null);
        for (boolean simd : new boolean[] {false, true}) {
            try (CpuBackend be = new CpuBackend(2, simd); WeightHandle h = be.prepare(w, false)) {
                for (int n : new int[] {1, 2, 16, 100}) {
                    float[] x = randn(n * 160);
                    Tensor xt = be.allocate(x.length);
                    Tensor ot = be.allocate(n * 97);
                    be.write(xt, 0, x, 0, x.length);
                    be.matmul(ot, xt, h, n);
                    float[] out = new float[n * 97];
                    be.read(ot, 0, out, 0, out.length);
                    assertProduct(out, x, w, n, f + " backend simd=" + simd + " n=" + n);
                }
            }
        }
    }

    /**
     * Several weights of one input as one job (decode's q/k/v): bit-identical to one call per weight, with mixed
     * formats, a dense weight among them (falls back to per-weight calls) and many rows (tile path).
     */
    @Test
    void groupedMatmulEqualsOneCallPerWeight() {
        int k = 96;
        MappedWeight[] ws = {randomWeight(QuantFormat.Q4_1, 37, k, null), randomWeight(QuantFormat.Q8_0, 5, k, null),
                randomWeight(QuantFormat.Q4_0, 64, k, null)};
        for (boolean simd : new boolean[] {false, true}) {
            try (CpuBackend be = new CpuBackend(2, simd)) {
                for (boolean dequantizeLast : new boolean[] {false, true}) {
                    WeightHandle[] hs = new WeightHandle[ws.length];
                    for (int i = 0; i < ws.length; i++) {
                        hs[i] = be.prepare(ws[i], dequantizeLast && i == ws.length - 1);
                    }
                    for (int n : new int[] {1, 3, 16, 100}) {
                        float[] x = randn(n * k);
                        Tensor xt = be.allocate(x.length);
                        be.write(xt, 0, x, 0, x.length);
                        Tensor[] outs = new Tensor[ws.length];
                        for (int i = 0; i < ws.length; i++) {
                            outs[i] = be.allocate(n * ws[i].rows());
                            be.fill(outs[i], Float.NaN);
                        }
                        be.matmul(outs, xt, hs, n);
                        for (int i = 0; i < ws.length; i++) {
                            Tensor one = be.allocate(n * ws[i].rows());
                            be.matmul(one, xt, hs[i], n);
                            float[] want = new float[n * ws[i].rows()];
                            float[] got = new float[want.length];
                            be.read(one, 0, want, 0, want.length);
                            be.read(outs[i], 0, got, 0, got.length);
                            assertThat(got).as("simd=%s dense=%s n=%d weight %d", simd, dequantizeLast, n, i)
                                    .containsExactly(want);
                        }
                    }
                }
                Tensor x = be.allocate(k);
                assertThatThrownBy(() -> be.matmul(new Tensor[] {be.allocate(37)}, x,
                        new WeightHandle[] {be.prepare(ws[0], false), be.prepare(ws[1], false)}, 1))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1 outputs for 2 weights");
            }
        }
    }

    @Test
    void rawRowsAreCheckedAndFailAfterClose() {
        boolean[] closed = {false};
        byte[] b = new byte[3 * 20];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) i;
        }
        MappedWeight w = new MappedWeight("w", "Q4_1", 3, 32, MappedRows.wrap(ByteBuffer.wrap(b), 3, 20),
                GgmlType.Q4_1.decoder(), new int[] {2, 0, 1}, () -> closed[0]);
        byte[] dst = new byte[40];
        w.copyRawRows(0, 2, dst, 0);
        assertThat(dst[0]).isEqualTo((byte) 40); // logical row 0 is stored row 2
        assertThat(dst[20]).isEqualTo((byte) 0);
        assertThatThrownBy(() -> w.copyRawRows(2, 2, dst, 0)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> w.copyRawRows(0, 3, dst, 0)).isInstanceOf(IndexOutOfBoundsException.class)
                .hasMessageContaining("cannot hold");
        closed[0] = true;
        assertThatThrownBy(() -> w.copyRawRows(0, 1, dst, 0)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
    }
}
