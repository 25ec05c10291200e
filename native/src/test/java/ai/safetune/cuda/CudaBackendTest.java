package ai.safetune.cuda;

import ai.safetune.backend.AttentionShape;
import ai.safetune.backend.Backend;
import ai.safetune.backend.BackendProvider;
import ai.safetune.backend.Backends;
import ai.safetune.backend.Tensor;
import ai.safetune.backend.WeightHandle;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.FloatWeight;
import ai.safetune.model.gguf.GgmlType;
import ai.safetune.model.io.Float16;
import ai.safetune.model.io.MappedRows;
import ai.safetune.model.io.MappedWeight;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every op of the CUDA backend against the CPU reference backend on fresh random inputs (a new seed each
 * run, logged), with the output poisoned with NaN first so an element the GPU never wrote fails. Bound per
 * element: |gpu − cpu| ≤ atol + rtol·|cpu| (fp32 on both sides; only summation order differs). Without a
 * GPU (or without the native library) the GPU tests skip with the provider's reason; the provider tests
 * below run everywhere. The native module's {@code host-emulation} test run repeats them on the host emulation of
 * the kernel library (cuda-kernels/host), which checks this backend's Java side without a GPU.
 */
class CudaBackendTest {
    private static final Logger LOG = LoggerFactory.getLogger(CudaBackendTest.class);
    private static BackendProvider.Availability availability;
    private static CudaBackend gpu;
    private static CpuBackend cpu;
    private static final long SEED = System.nanoTime();
    private final Random rnd = new Random(SEED);

    @BeforeAll
    static void setUp() {
        availability = new CudaBackendProvider().availability();
        LOG.info("cuda backend availability: {} ({}); seed {}", availability.available(), availability.reason(), SEED);
        cpu = new CpuBackend(2);
        if (availability.available()) {
            gpu = new CudaBackend(0);
            LOG.info("{}", gpu.description());
        }
    }

    @AfterAll
    static void tearDown() {
        if (gpu != null) {
            gpu.close();
        }
        cpu.close();
    }

    private static void needGpu() {
        assumeTrue(availability.available(), () -> "no CUDA backend here: " + availability.reason());
    }

    // ---- runs everywhere -------------------------------------------------------------------------------

    @Test
    void providerReportsAReasonAndSelectionFallsBackToCpu() {
        assertThat(availability.reason()).isNotBlank();
        if (!availability.available()) {
            assumeTrue(System.getenv(Backends.ENV) == null && System.getProperty(Backends.PROPERTY) == null,
                    "a backend is forced in this environment");
            try (Backend b = Backends.select()) {
                assertThat(b.name()).isEqualTo("cpu");
            }
        }
    }

    @Test
    void forcingCudaWithoutAGpuFailsWithTheReason() {
        assumeTrue(!availability.available(), "a GPU is present");
        String before = System.getProperty(Backends.PROPERTY);
        System.setProperty(Backends.PROPERTY, "cuda");
        try {
            assertThatThrownBy(Backends::select).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("cuda").hasMessageContaining(availability.reason());
        } finally {
            if (before == null) {
                System.clearProperty(Backends.PROPERTY);
            } else {
                System.setProperty(Backends.PROPERTY, before);
            }
        }
    }

    // ---- GPU vs CPU --------------------------------------------------------------------------------------

    private float[] random(int n, float lo, float hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = lo + (hi - lo) * rnd.nextFloat();
        }
        return a;
    }

    /** An output buffer of {@code n} floats on the GPU, poisoned with NaN. */
    private static Tensor poisoned(int n) {
        return poisoned(gpu, n);
    }

    private static Tensor poisoned(Backend g, int n) {
        Tensor t = g.allocate(n);
        g.fill(t, Float.NaN);
        return t;
    }

    private static float[] get(Backend b, Tensor t, int n) {
        float[] out = new float[n];
        b.read(t, 0, out, 0, n);
        return out;
    }

    private static void assertClose(String what, float[] actual, float[] expected, double atol, double rtol) {
        int bad = 0;
        int worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i];
            double a = actual[i];
            double ratio;
            if (Double.isNaN(e) || Double.isInfinite(e)) {
                ratio = Double.compare(a, e) == 0 ? 0 : Double.POSITIVE_INFINITY;
            } else if (!Double.isFinite(a)) {
                ratio = Double.POSITIVE_INFINITY;
            } else {
                double err = Math.abs(a - e);
                ratio = err == 0 ? 0 : err / (atol + rtol * Math.abs(e));
            }
            if (ratio > 1) {
                bad++;
            }
            if (ratio > worstRatio || worst < 0) {
                worstRatio = ratio;
                worst = i;
            }
        }
        LOG.info("{}: n={} worst err/tol={} at {}", what, expected.length, worstRatio, worst);
        assertThat(bad).as("%s: %d of %d elements outside %g + %g·|ref|; worst at %d: gpu %s cpu %s", what, bad,
                expected.length, atol, rtol, worst, actual[worst], expected[worst]).isZero();
    }

    @Test
    void buffersRoundTripAndCopy() {
        needGpu();
        float[] a = random(1000, -1, 1);
        try (Tensor t = gpu.upload(a); Tensor u = poisoned(1200)) {
            gpu.copy(t, 100, u, 7, 900);
            float[] back = new float[1200];
            gpu.read(u, 0, back, 0, 1200);
            for (int i = 0; i < 900; i++) {
                assertThat(back[7 + i]).isEqualTo(a[100 + i]);
            }
            assertThat(back[0]).isNaN();
            float[] part = new float[10];
            gpu.read(t, 5, part, 2, 8);
            assertThat(part[2]).isEqualTo(a[5]);
            gpu.write(u, 3, a, 10, 4);
            assertThat(get(gpu, u, 7)[3]).isEqualTo(a[10]);
        }
    }

    @Test
    void frozenMatmulAndLoraMatmulMatchCpu() {
        needGpu();
        int n = 37;
        int in = 96;
        int out = 70;
        float[] x = random(n * in, -1, 1);
        float[] w = random(out * in, -0.2f, 0.2f);
        FloatWeight fw = new FloatWeight("w", out, in, w);
        float[] expected;
        try (WeightHandle cw = cpu.prepare(fw, false); Tensor cx = cpu.upload(x); Tensor co = cpu.allocate(n * out)) {
            cpu.matmul(co, cx, cw, n);
            expected = get(cpu, co, n * out);
        }
        try (WeightHandle gw = gpu.prepare(fw, false); Tensor gx = gpu.upload(x); Tensor go = poisoned(n * out)) {
            gpu.matmul(go, gx, gw, n);
            assertClose("matmul frozen f32", get(gpu, go, n * out), expected, 1e-5, 1e-4);
        }
        // LoRA-style fp32 matmul with scale and accumulate
        int r = 8;
        float[] a = random(r * in, -0.3f, 0.3f);
        float[] start = random(n * r, -1, 1);
        try (Tensor cx = cpu.upload(x); Tensor ca = cpu.upload(a); Tensor co = cpu.upload(start);
             Tensor gx = gpu.upload(x); Tensor ga = gpu.upload(a); Tensor go = gpu.upload(start)) {
            cpu.matmul(co, cx, ca, n, r, in, 1.5f, true);
            gpu.matmul(go, gx, ga, n, r, in, 1.5f, true);
            assertClose("matmul fp32 scale+accumulate", get(gpu, go, n * r), get(cpu, co, n * r), 1e-5, 1e-4);
            cpu.matmul(co, cx, ca, n, r, in, 0.5f, false);
            gpu.matmul(go, gx, ga, n, r, in, 0.5f, false);
            assertClose("matmul fp32 overwrite", get(gpu, go, n * r), get(cpu, co, n * r), 1e-5, 1e-4);
        }
    }

    /**
     * The backward ops of both matmuls in fp32: the frozen one (tile kernel with r = 0 for widths that are
     * multiples of 32, the strided GEMM otherwise; bf16-stored and fp32 weights; written and accumulated) and
     * the fp32 LoRA one (dx and the always-accumulated dw).
     */
    @Test
    void matmulBackwardsMatchCpu() {
        needGpu();
        int n = 37;
        for (int in : new int[]{96, 40}) {
            int out = 70;
            float[] dout = random(n * out, -1, 1);
            float[] start = random(n * in, -1, 1);
            float[] w = random(out * in, -0.2f, 0.2f);
            float[] wb = new float[w.length];
            for (int i = 0; i < w.length; i++) {
                wb[i] = Float.intBitsToFloat(Float.floatToRawIntBits(w[i]) & 0xFFFF0000);  // exact in bf16
            }
            for (ai.safetune.model.Weight fw : new ai.safetune.model.Weight[]{new FloatWeight("w", out, in, w),
                    new ai.safetune.model.SyntheticLlama.Bf16Weight(new FloatWeight("wb", out, in, wb))}) {
                String what = "matmulBackward frozen " + fw.storageType() + " in=" + in;
                try (WeightHandle cw = cpu.prepare(fw, false); Tensor cd = cpu.upload(dout);
                     Tensor cdx = cpu.allocate(n * in); Tensor cacc = cpu.upload(start);
                     WeightHandle gw = gpu.prepare(fw, false); Tensor gd = gpu.upload(dout);
                     Tensor gdx = poisoned(n * in); Tensor gacc = gpu.upload(start)) {
                    cpu.matmulBackward(cdx, cd, cw, n, false);
                    gpu.matmulBackward(gdx, gd, gw, n, false);
                    assertClose(what, get(gpu, gdx, n * in), get(cpu, cdx, n * in), 1e-5, 1e-4);
                    cpu.matmulBackward(cacc, cd, cw, n, true);
                    gpu.matmulBackward(gacc, gd, gw, n, true);
                    assertClose(what + " accumulate", get(gpu, gacc, n * in), get(cpu, cacc, n * in), 1e-5, 1e-4);
                }
            }
        }
        int in = 96;
        int r = 8;
        float[] dout = random(n * r, -1, 1);
        float[] x = random(n * in, -1, 1);
        float[] a = random(r * in, -0.3f, 0.3f);
        float[] dw0 = random(r * in, -1, 1);
        try (Tensor cd = cpu.upload(dout); Tensor cx = cpu.upload(x); Tensor ca = cpu.upload(a);
             Tensor cdx = cpu.allocate(n * in); Tensor cdw = cpu.upload(dw0);
             Tensor gd = gpu.upload(dout); Tensor gx = gpu.upload(x); Tensor ga = gpu.upload(a);
             Tensor gdx = poisoned(n * in); Tensor gdw = gpu.upload(dw0)) {
            cpu.matmulBackward(cdx, cdw, cd, cx, ca, n, r, in, 1.5f, false);
            gpu.matmulBackward(gdx, gdw, gd, gx, ga, n, r, in, 1.5f, false);
            assertClose("matmulBackward fp32 dx", get(gpu, gdx, n * in), get(cpu, cdx, n * in), 1e-5, 1e-4);
            assertClose("matmulBackward fp32 dw (accumulated)", get(gpu, gdw, r * in), get(cpu, cdw, r * in), 1e-5, 1e-4);
        }
    }

    // ---- bf16 precisions ---------------------------------------------------------------------------------

    /** bf16's unit roundoff: 8 significant bits (7 stored + the implicit one), round to nearest. */
    private static final double U_BF16 = 0x1p-8;
    /** fp32's unit roundoff. */
    private static final double U_F32 = 0x1p-24;

    /**
     * The frozen matmul and its backward in the two bf16 precisions against the exact CPU backend, with error
     * bounds derived from bf16 rounding. The GPU rounds both factors of every product x_k·w_k to bf16
     * (relative error |δ| ≤ u = 2⁻⁸ each) and accumulates in fp32. So, per output element:
     * <ul>
     * <li>worst case (every rounding aligned): |err| ≤ (2u + u²)·Σ_k|x_k w_k| + 3·K·2⁻²⁴·Σ_k|x_k w_k|
     *     (the last term: fp32 accumulation on both sides, truncating tensor cores included) — checked on every
 *     element;</li>
     * <li>typical (independent roundings, zero mean, E[δ²] ≤ u²/3 per factor): err has variance
     *     ≤ (2/3)·u²·Σ_k (x_k w_k)², i.e. grows like √K·2⁻⁸·|x||w| — the RMS over all elements must stay
     *     below 1.5× that prediction, and above 0.1× (so the bf16 path really ran: fp32 would be ~10⁵× smaller).</li>
     * </ul>
     * Widths that are not a multiple of 32 fall back to the fp32 path: checked at fp32 bounds.
     */
    /** Random GGUF blocks (fp16 scales, and mins for Q4_1, of realistic size) as the GGUF reader maps them. */
    private MappedWeight randomBlocks(String type, int rows, int cols) {
        int blockBytes = GgmlType.valueOf(type).typeSize();
        int rowBytes = (int) GgmlType.valueOf(type).rowBytes(cols);
        byte[] b = new byte[rows * rowBytes];
        rnd.nextBytes(b);
        for (int p = 0; p < b.length; p += blockBytes) {
            short d = Float16.floatToHalf((0.002f + 0.02f * rnd.nextFloat()) * (rnd.nextBoolean() ? 1 : -1));
            b[p] = (byte) d;
            b[p + 1] = (byte) (d >> 8);
            if (blockBytes == 20) {
                short m = Float16.floatToHalf(-0.1f + 0.2f * rnd.nextFloat());
                b[p + 2] = (byte) m;
                b[p + 3] = (byte) (m >> 8);
            }
        }
        return new MappedWeight("w" + type, type, rows, cols, MappedRows.wrap(ByteBuffer.wrap(b), rows, rowBytes),
                GgmlType.valueOf(type).decoder(), null, () -> false);
    }

    @Test
    void quantizedBaseGoesToTheDeviceAsItsBlocks() {
        needGpu();
        int n = 29;
        int out = 70;
        int in = 96;
        int[] ids = {3, 0, 69, 3, 12};
        for (String type : new String[]{"Q8_0", "Q4_1"}) {
            MappedWeight w = randomBlocks(type, out, in);
            float[] x = random(n * in, -1, 1);
            float[] dout = random(n * out, -1, 1);
            float[] start = random(n * in, -1, 1);
            // CPU: the blocks expanded to fp32 once (exact); GPU f32 precision: expanded per tile in fp32
            try (WeightHandle cw = cpu.prepare(w, true); WeightHandle gw = gpu.prepare(w, false);
                 Tensor cx = cpu.upload(x); Tensor gx = gpu.upload(x);
                 Tensor cy = cpu.allocate(n * out); Tensor gy = poisoned(n * out);
                 Tensor cd = cpu.upload(dout); Tensor gd = gpu.upload(dout);
                 Tensor cdx = cpu.upload(start); Tensor gdx = gpu.upload(start);
                 Tensor ce = cpu.allocate(ids.length * in); Tensor ge = poisoned(ids.length * in)) {
                assertThat(((CudaWeight) gw).wtype()).isEqualTo(type.equals("Q8_0") ? SafeTuneKernels.ST_W_Q8_0
                        : SafeTuneKernels.ST_W_Q4_1);
                cpu.matmul(cy, cx, cw, n);
                gpu.matmul(gy, gx, gw, n);
                assertClose(type + " matmul", get(gpu, gy, n * out), get(cpu, cy, n * out), 1e-5, 1e-4);
                cpu.matmulBackward(cdx, cd, cw, n, true);
                gpu.matmulBackward(gdx, gd, gw, n, true);
                assertClose(type + " matmulBackward accumulate", get(gpu, gdx, n * in), get(cpu, cdx, n * in), 1e-5,
                        1e-4);
                cpu.embedding(ce, ids, cw);
                gpu.embedding(ge, ids, gw);
                assertClose(type + " embedding", get(gpu, ge, ids.length * in), get(cpu, ce, ids.length * in), 1e-7,
                        1e-6);
            }
            // bf16 (cuBLAS) precision: the blocks are expanded to bf16 once per call; bf16-exact x keeps the
            // error to the rounding of the expanded weights, 2^-9 of each product
            float[] xb = new float[x.length];
            for (int i = 0; i < xb.length; i++) {
                xb[i] = Float.intBitsToFloat(Float.floatToRawIntBits(x[i]) & 0xFFFF0000);
            }
            try (CudaBackend g16 = new CudaBackend(0, CudaPrecision.BF16);
                 WeightHandle cw = cpu.prepare(w, true); WeightHandle gw = g16.prepare(w, false);
                 Tensor cx = cpu.upload(xb); Tensor gx = g16.upload(xb);
                 Tensor cy = cpu.allocate(n * out); Tensor gy = poisoned(g16, n * out)) {
                cpu.matmul(cy, cx, cw, n);
                g16.matmul(gy, gx, gw, n);
                float[] wf = w.toFloatArray();
                float[] want = get(cpu, cy, n * out);
                float[] got = get(g16, gy, n * out);
                for (int t = 0; t < n; t++) {
                    for (int o = 0; o < out; o++) {
                        double abs = 0;
                        for (int i = 0; i < in; i++) {
                            abs += Math.abs((double) xb[t * in + i] * wf[o * in + i]);
                        }
                        double err = Math.abs(got[t * out + o] - want[t * out + o]);
                        assertThat(err).as("%s bf16 matmul [%d,%d]", type, t, o).isLessThanOrEqualTo(abs * 0x1p-8 + 1e-6);
                    }
                }
            }
        }
    }

    @Test
    void frozenMatmulInBf16PrecisionsIsWithinTheDerivedBounds() {
        needGpu();
        for (CudaPrecision prec : new CudaPrecision[]{CudaPrecision.BF16, CudaPrecision.BF16_TILED}) {
            try (CudaBackend g16 = new CudaBackend(0, prec)) {
                assertThat(g16.description()).contains("precision " + prec.id());
                checkBf16Matmul(g16, prec.id(), 67, 256, 96);
                checkBf16Matmul(g16, prec.id(), 128, 576, 1536);
                // 40 columns: not a multiple of 32, the weight stays fp32 and the strided fp32 GEMM runs
                int n = 9;
                int in = 40;
                int out = 24;
                float[] x = random(n * in, -1, 1);
                FloatWeight fw = new FloatWeight("w40", out, in, random(out * in, -0.2f, 0.2f));
                try (WeightHandle cw = cpu.prepare(fw, false); Tensor cx = cpu.upload(x); Tensor co = cpu.allocate(n * out);
                     WeightHandle gw = g16.prepare(fw, false); Tensor gx = g16.upload(x); Tensor go = g16.allocate(n * out)) {
                    g16.fill(go, Float.NaN);
                    cpu.matmul(co, cx, cw, n);
                    g16.matmul(go, gx, gw, n);
                    assertClose(prec.id() + " matmul, 40 columns (fp32 fallback)", get(g16, go, n * out),
                            get(cpu, co, n * out), 1e-5, 1e-4);
                }
            }
        }
    }

    private void checkBf16Matmul(CudaBackend g16, String prec, int n, int in, int out) {
        float[] x = random(n * in, -1, 1);
        float bound = (float) (1 / Math.sqrt(in));
        float[] w = random(out * in, -bound, bound);
        float[] dout = random(n * out, -1, 1);
        float[] dxStart = random(n * in, -1, 1);
        FloatWeight fw = new FloatWeight("w", out, in, w);  // stored fp32: the bf16 backend rounds it at prepare
        float[] y;
        float[] dx;
        float[] dxAcc;
        try (WeightHandle cw = cpu.prepare(fw, false); Tensor cx = cpu.upload(x); Tensor co = cpu.allocate(n * out);
             Tensor cd = cpu.upload(dout); Tensor cdx = cpu.allocate(n * in); Tensor cdxa = cpu.upload(dxStart)) {
            cpu.matmul(co, cx, cw, n);
            cpu.matmulBackward(cdx, cd, cw, n, false);
            cpu.matmulBackward(cdxa, cd, cw, n, true);
            y = get(cpu, co, n * out);
            dx = get(cpu, cdx, n * in);
            dxAcc = get(cpu, cdxa, n * in);
        }
        try (WeightHandle gw = g16.prepare(fw, false); Tensor gx = g16.upload(x); Tensor go = g16.allocate(n * out);
             Tensor gd = g16.upload(dout); Tensor gdx = g16.allocate(n * in); Tensor gdxa = g16.upload(dxStart)) {
            g16.fill(go, Float.NaN);
            g16.fill(gdx, Float.NaN);
            g16.matmul(go, gx, gw, n);
            g16.matmulBackward(gdx, gd, gw, n, false);
            g16.matmulBackward(gdxa, gd, gw, n, true);
            String shape = " n" + n + " " + in + "->" + out;
            // forward: y[t, o] = Σ_i x[t, i]·w[o, i], K = in
            assertBf16(prec + " matmul" + shape, get(g16, go, n * out), y, n, out, in,
                    (t, o, i) -> (double) x[t * in + i] * w[o * in + i]);
            // backward: dx[t, i] = Σ_o dout[t, o]·w[o, i], K = out
            Product back = (t, i, o) -> (double) dout[t * out + o] * w[o * in + i];
            assertBf16(prec + " matmulBackward" + shape, get(g16, gdx, n * in), dx, n, in, out, back);
            float[] accumulated = get(g16, gdxa, n * in);
            float[] added = new float[n * in];
            for (int i = 0; i < added.length; i++) {
                added[i] = accumulated[i] - dxStart[i];  // the same products; the start value adds one fp32 rounding
            }
            float[] cpuAdded = new float[n * in];
            for (int i = 0; i < cpuAdded.length; i++) {
                cpuAdded[i] = dxAcc[i] - dxStart[i];
            }
            assertBf16(prec + " matmulBackward accumulate" + shape, added, cpuAdded, n, in, out, back);
        }
    }

    /**
     * The bf16 LoRA layer in its fused order (LoRA term first, the frozen cuBLAS GEMM adds it through beta), with
     * the rank-r products on cuBLAS TF32 (the default: u, du, dA, dB come from the same calls as the separate ops,
     * so they are bit-equal) and on the library's exact fp32 kernels (opt-in: u, du, dA and dB against the CPU
     * backend's fp32 ops; two fp32 reductions of K terms differ by ≤ 2·(K+1)·2⁻²⁴·Σ|terms| + 2⁻²⁴ of the value,
     * which TF32 would miss by ~2⁻¹¹, so that half fails if the kernels are not used). y and dx against the separate GPU ops
     * (frozen bf16 GEMM, then the TF32 LoRA products): the same bf16 products, so they differ by the TF32 rounding
     * of the LoRA term (≤ 3·2⁻¹¹·Σ|LoRA terms|) plus fp32 reduction order (2·K·2⁻²⁴·Σ|frozen terms| +
     * 4·2⁻²⁴·(|value| + 1)). Dropping or doubling either term breaks that bound by orders of magnitude.
     */
    @Test
    void fusedLoraLinearMatchesTheSeparateOps() {
        needGpu();
        int n = 67;
        int in = 256;
        int out = 96;
        int r = 16;
        float scale = 2f;
        float[] x = random(n * in, -1, 1);
        float[] w = random(out * in, -1f / 16, 1f / 16);
        float[] a = random(r * in, -0.1f, 0.1f);
        float[] b = random(out * r, -0.1f, 0.1f);
        float[] dout = random(n * out, -1, 1);
        float[] dxStart = random(n * in, -1, 1);
        float[] gradStartA = random(r * in, -1, 1);
        float[] gradStartB = random(out * r, -1, 1);
        FloatWeight fw = new FloatWeight("w", out, in, w);
        try (CudaBackend g = new CudaBackend(0, CudaPrecision.BF16)) {
            g.bf16Rank(false);  // u, du, dA, dB below are the separate ops' TF32 bits
            for (boolean exact : new boolean[]{false, true}) {
                g.exactRankProducts(exact);
                for (boolean accumulate : new boolean[]{false, true}) {
                    try (WeightHandle gw = g.prepare(fw, false); Tensor gx = g.upload(x); Tensor ga = g.upload(a);
                         Tensor gb = g.upload(b); Tensor gd = g.upload(dout);
                         Tensor y1 = g.allocate(n * out); Tensor u1 = g.allocate(n * r); Tensor y2 = g.allocate(n * out);
                         Tensor u2 = g.allocate(n * r); Tensor dx1 = g.upload(dxStart); Tensor dx2 = g.upload(dxStart);
                         Tensor du1 = g.allocate(n * r); Tensor du2 = g.allocate(n * r);
                         Tensor dA1 = g.upload(gradStartA); Tensor dA2 = g.upload(gradStartA);
                         Tensor dB1 = g.upload(gradStartB); Tensor dB2 = g.upload(gradStartB)) {
                        for (Tensor t : List.of(y2, u2, du2)) {
                            g.fill(t, Float.NaN);
                        }
                        // the separate ops, in the order of Backend's default
                        g.matmul(y1, gx, gw, n);
                        g.matmul(u1, gx, ga, n, r, in, 1f, false);
                        g.matmul(y1, u1, gb, n, out, r, scale, true);
                        g.matmulBackward(dx1, gd, gw, n, accumulate);
                        g.matmulBackward(du1, dB1, gd, u1, gb, n, out, r, scale, false);
                        g.matmulBackward(dx1, dA1, du1, gx, ga, n, r, in, 1f, true);
                        // fused
                        g.loraLinear(y2, u2, gx, gx, gw, ga, gb, n, r, scale);
                        g.loraLinearBackward(dx2, du2, dA2, dB2, gd, gx, u2, gw, ga, gb, n, r, scale, accumulate);
                        float[] u = get(g, u2, n * r);
                        float[] du = get(g, du2, n * r);
                        if (!exact) {
                            assertSameBits("u", u, get(g, u1, n * r));
                            assertSameBits("du", du, get(g, du1, n * r));
                            assertSameBits("dA", get(g, dA2, r * in), get(g, dA1, r * in));
                            assertSameBits("dB", get(g, dB2, out * r), get(g, dB1, out * r));
                        } else {
                            // exact fp32 rank-r products on the CPU backend, from the GPU's own u and du
                            float[] cu;
                            float[] cdu;
                            float[] cdA;
                            float[] cdB;
                            try (Tensor cx = cpu.upload(x); Tensor ca = cpu.upload(a); Tensor cb = cpu.upload(b);
                                     Tensor cd = cpu.upload(dout); Tensor cuT = cpu.allocate(n * r);
                                 Tensor cuG = cpu.upload(u);
                                 Tensor cduT = cpu.allocate(n * r); Tensor cduG = cpu.upload(du);
                                 Tensor cA = cpu.upload(gradStartA); Tensor cB = cpu.upload(gradStartB)) {
                                cpu.matmul(cuT, cx, ca, n, r, in, 1f, false);
                                cpu.matmulBackward(cduT, cB, cd, cuG, cb, n, out, r, scale, false);
                                cpu.matmulBackward(null, cA, cduG, cx, ca, n, r, in, 1f, false);
                                cu = get(cpu, cuT, n * r);
                                cdu = get(cpu, cduT, n * r);
                                cdA = get(cpu, cA, r * in);
                                cdB = get(cpu, cB, out * r);
                            }
                            assertFp32("u", u, cu, n, r, in,
                                    (t, j) -> sumAbs(in, i -> x[t * in + i] * a[j * in + i]));
                            assertFp32("du", du, cdu, n, r, out,
                                    (t, j) -> sumAbs(out, o -> scale * dout[t * out + o] * b[o * r + j]));
                            assertFp32("dA", get(g, dA2, r * in), cdA, r, in, n,
                                    (j, i) -> Math.abs(gradStartA[j * in + i])
                                            + sumAbs(n, t -> du[t * r + j] * x[t * in + i]));
                            assertFp32("dB", get(g, dB2, out * r), cdB, out, r, n,
                                    (o, j) -> Math.abs(gradStartB[o * r + j])
                                            + sumAbs(n, t -> scale * dout[t * out + o] * u[t * r + j]));
                        }
                        assertFusedClose("loraLinear y", get(g, y2, n * out), get(g, y1, n * out), n, out,
                                (t, o) -> sumAbs(in, i -> x[t * in + i] * w[o * in + i]),
                                (t, o) -> sumAbs(r, j -> scale * u[t * r + j] * b[o * r + j]), in);
                        assertFusedClose("loraLinearBackward dx (accumulate " + accumulate + ")", get(g, dx2, n * in),
                                get(g, dx1, n * in), n, in,
                                (t, i) -> sumAbs(out, o -> dout[t * out + o] * w[o * in + i]) + (accumulate ? 1 : 0),
                                (t, i) -> sumAbs(r, j -> du[t * r + j] * a[j * in + i]), out);
                    }
                }
            }
        }
    }

    /**
     * The bf16 copies of RMSNorm/SwiGLU outputs ({@code -Dsafetune.cuda.bf16Copies}): a layer's worth of producers and
     * consumers gives the same bits with and without them, a copy is dropped when its source is written (by the
     * host, by an untracked op, or by a consumer's output), and copies of other tensors survive the tracked ops.
     */
    @Test
    void bf16CopiesGiveTheCastPathsBitsAndDropWhenTheSourceChanges() {
        needGpu();
        assumeTrue(!"false".equals(System.getProperty("safetune.cuda.fusedLora")),
                "the copies serve the fused LoRA layer, turned off by -Dsafetune.cuda.fusedLora=false");
        int n = 67;
        int c = 256;
        int f = 384;
        int kv = 64;
        int r = 16;
        float s = 2f;
        float[] x = random(n * c, -2, 2);
        float[] norm = random(c, 0.5f, 1.5f);
        float[] gate = random(n * f, -4, 4);
        float[] up = random(n * f, -2, 2);
        float[] dact = random(n * f, -1, 1);
        FloatWeight wq = new FloatWeight("q", c, c, random(c * c, -1f / 16, 1f / 16));
        FloatWeight wk = new FloatWeight("k", kv, c, random(kv * c, -1f / 16, 1f / 16));
        FloatWeight wd = new FloatWeight("down", c, f, random(c * f, -1f / 16, 1f / 16));
        FloatWeight wg = new FloatWeight("gate", f, c, random(f * c, -1f / 16, 1f / 16));
        FloatWeight wh = new FloatWeight("head", 4099, c, random(4099 * c, -1f / 16, 1f / 16));
        float[] dres0 = random(n * c, -1, 1);
        int[] targets = new int[n];
        for (int i = 0; i < n; i++) {
            targets[i] = i % 9 == 4 ? -100 : rnd.nextInt(4099);
        }
        float[][] lora = {random(r * c, -0.1f, 0.1f), random(c * r, -0.1f, 0.1f), random(r * c, -0.1f, 0.1f),
                random(kv * r, -0.1f, 0.1f), random(r * f, -0.1f, 0.1f), random(c * r, -0.1f, 0.1f),
                random(r * c, -0.1f, 0.1f), random(f * r, -0.1f, 0.1f)};
        for (int mode = 0; mode < 3; mode++) {  // 0: plain, 1: host write into a copy's source, 2: consumer writes it
            List<float[]> plain = null;
            for (boolean on : new boolean[]{false, true}) {
                try (CudaBackend g = new CudaBackend(0, CudaPrecision.BF16);
                     WeightHandle q = g.prepare(wq, false); WeightHandle k = g.prepare(wk, false);
                     WeightHandle d = g.prepare(wd, false); WeightHandle gw = g.prepare(wg, false);
                     WeightHandle head = g.prepare(wh, false);
                     Tensor tx = g.upload(x); Tensor tn = g.upload(norm); Tensor tg = g.upload(gate);
                     Tensor tu = g.upload(up); Tensor td = g.upload(dact); Tensor h = g.allocate(n * c);
                     Tensor h2 = g.allocate(n * c); Tensor rstd = g.allocate(n); Tensor act = g.allocate(n * f);
                     Tensor yq = g.allocate(n * c); Tensor yk = g.allocate(n * kv); Tensor yd = g.allocate(n * c);
                     Tensor logits = g.allocate(n * 4099); Tensor dg = g.allocate(n * f); Tensor du = g.allocate(n * f);
                     Tensor dh = g.allocate(n * c); Tensor dhf = g.allocate(n * c); Tensor u1 = g.allocate(n * r);
                     Tensor u2 = g.allocate(n * r); Tensor u3 = g.allocate(n * r); Tensor du1 = g.allocate(n * r);
                     Tensor aq = g.upload(lora[0]); Tensor bq = g.upload(lora[1]); Tensor ak = g.upload(lora[2]);
                     Tensor bk = g.upload(lora[3]); Tensor ad = g.upload(lora[4]); Tensor bd = g.upload(lora[5]);
                     Tensor ag = g.upload(lora[6]); Tensor bg = g.upload(lora[7]);
                     Tensor dAg = g.allocate(r * c); Tensor dBg = g.allocate(f * r);
                     Tensor dres = g.upload(dres0); Tensor datt = g.allocate(n * c); Tensor dAq = g.allocate(r * c);
                     Tensor dBq = g.allocate(c * r); Tensor dhead = g.allocate(n * c); Tensor losses = g.allocate(n)) {
                    g.exactRankProducts(false);  // the counts below are the cuBLAS rank-product path's
                    g.bf16Rank(false);  // and the TF32 rank products' (bf16 ones round dA's input where x has a copy)
                    g.bf16Copies(on);
                    g.rmsnorm(h, rstd, tx, tn, n, c, 1e-5f);
                    assertThat(g.bf16CopiesHeld()).as("after rmsnorm").isEqualTo(on ? 1 : 0);
                    if (mode == 1) {
                        g.write(h, 5, new float[]{3f, -7f}, 0, 2);  // the host changes h: its copy is stale
                        assertThat(g.bf16CopiesHeld()).as("after a host write").isZero();
                    }
                    g.swiglu(act, tg, tu, n * f);
                    if (mode == 2) {
                        // a consumer writing h (the copy's source) drops that copy; act's copy feeds it and survives
                        g.loraLinear(h, u3, act, act, d, ad, bd, n, r, s);
                        assertThat(g.bf16CopiesHeld()).as("after a consumer wrote h").isEqualTo(on ? 1 : 0);
                    }
                    g.loraLinear(yq, u1, h, h, q, aq, bq, n, r, s);
                    g.loraLinear(yk, u2, h, h, k, ak, bk, n, r, s);
                    g.loraLinear(yd, u3, act, act, d, ad, bd, n, r, s);
                    g.matmul(logits, h, head, n);
                    // modes 1 and 2: q finds no copy of h and takes the cast path, an untracked op that drops all
                    assertThat(g.bf16CopiesHeld()).as("after the consumers").isEqualTo(on && mode == 0 ? 2 : 0);
                    g.swigluBackward(dg, du, td, tg, tu, n * f);
                    g.rmsnorm(h2, null, tx, tn, n, c, 1e-5f);  // a recomputation: no copy, and the others survive it
                    assertThat(g.bf16CopiesHeld()).as("after swigluBackward and a recomputed norm")
                            .isEqualTo(on ? (mode == 0 ? 4 : 2) : 0);
                    g.matmulBackward(dhf, dg, gw, n, false);
                    g.loraLinearBackward(dh, du1, dAg, dBg, dg, h2, u3, gw, ag, bg, n, r, s, false);
                    assertThat(g.bf16CopiesHeld()).as("after consumers of dgate's copy")
                            .isEqualTo(on ? (mode == 0 ? 4 : 2) : 0);
                    g.loraLinearBackward(dh, du1, dAg, dBg, du, h2, u3, gw, ag, bg, n, r, s, true);
                    g.add(dh, dh, dhf, n * c);
                    assertThat(g.bf16CopiesHeld()).as("after an untracked op").isZero();
                    // the residual stream's gradient (accumulated by the norm's backward) feeds the o projection's
                    g.rmsnormBackward(dres, dh, tx, tn, rstd, n, c);
                    assertThat(g.bf16CopiesHeld()).as("after rmsnormBackward").isEqualTo(on ? 1 : 0);
                    g.loraLinearBackward(datt, du1, dAq, dBq, dres, h, u1, q, aq, bq, n, r, s, false);
                    // dlogits in place of the logits feed the head's backward; reading the losses keeps the copy
                    float[] logitsRead = get(g, logits, n * 4099);
                    g.crossEntropy(losses, logits, targets, n, 4099);
                    g.crossEntropyBackward(logits, logits, targets, n, 4099, 1f / 50);
                    float[] lossesRead = get(g, losses, n);
                    assertThat(g.bf16CopiesHeld()).as("after crossEntropyBackward and a read").isEqualTo(on ? 1 : 0);
                    g.matmulBackward(dhead, logits, head, n, false);
                    List<float[]> got = List.of(get(g, h, n * c), get(g, yq, n * c), get(g, yk, n * kv),
                            get(g, yd, n * c), lossesRead, get(g, dg, n * f), get(g, du, n * f),
                            get(g, dh, n * c), get(g, dAg, r * c), get(g, dBg, f * r), get(g, u1, n * r),
                            get(g, dres, n * c), get(g, datt, n * c), get(g, dAq, r * c), get(g, dBq, c * r),
                            get(g, logits, n * 4099), get(g, dhead, n * c), logitsRead);
                    if (plain == null) {
                        plain = got;
                        continue;
                    }
                    String[] names = {"h", "q", "k", "down", "losses", "dgate", "dup", "dx", "dA", "dB", "u",
                            "dres", "datt", "dA (o)", "dB (o)", "dlogits", "dhead", "logits"};
                    for (int i = 0; i < names.length; i++) {
                        assertSameBits(names[i] + " with bf16 copies (mode " + mode + ")", got.get(i), plain.get(i));
                    }
                }
            }
        }
    }

    /**
     * The fused LoRA layer with bf16 rank-r products ({@code -Dsafetune.cuda.bf16Rank}), at a layer's shape and at
     * 1 token with r = 4: u, du and dB are the fp32 products of the bf16-rounded inputs (only the fp32 reduction
     * order differs: the bound of {@link #assertFp32}), and so is dA where x has a bf16 copy (x made by RMSNorm and
     * dout by SwiGLU's backward, with the copies on); where x has none, dA is the TF32 product of the fp32 inputs;
     * y and dx are the frozen op's own result plus the TF32 LoRA term ({@link #assertTf32Close}). The fp32 bounds
     * catch an unrounded or wrongly rounded input (by 10-100× on most elements); the TF32 ones are loose enough
     * for a truncating TF32 and cannot tell bf16 from TF32 inputs, only a wrong or missing term.
     */
    @Test
    void bf16RankProductsAreTheProductsOfTheRoundedInputs() {
        needGpu();
        assumeTrue(!"false".equals(System.getProperty("safetune.cuda.fusedLora")),
                "the bf16 rank-r products serve the fused LoRA layer, turned off by -Dsafetune.cuda.fusedLora=false");
        int in = 256;
        int out = 96;
        float scale = 2f;
        float[] norm = random(in, 0.5f, 1.5f);
        float[] w = random(out * in, -1f / 16, 1f / 16);
        FloatWeight fw = new FloatWeight("w", out, in, w);
        // a layer's shape (67 tokens, r = 16) and a small one (1 token, r = 4: not a multiple of 8)
        for (int[] shape : new int[][]{{67, 16}, {1, 4}}) {
            int n = shape[0];
            int r = shape[1];
            float[] x0 = random(n * in, -2, 2);
            float[] a = random(r * in, -0.1f, 0.1f);
            float[] b = random(out * r, -0.1f, 0.1f);
            float[] doutUp = random(n * out, -1, 1);
            float[] gate = random(n * out, -4, 4);
            float[] up = random(n * out, -2, 2);
            float[] dxStart = random(n * in, -1, 1);
            float[] startA = random(r * in, -1, 1);
            float[] startB = random(out * r, -1, 1);
            for (boolean withCopy : new boolean[]{false, true}) {
                for (boolean accumulate : new boolean[]{false, true}) {
                    String mode = (withCopy ? "x and dout with bf16 copies" : "no copies") + ", accumulate "
                            + accumulate + ", n " + n + ", r " + r;
                    try (CudaBackend g = new CudaBackend(0, CudaPrecision.BF16);
                         WeightHandle gw = g.prepare(fw, false); Tensor gx0 = g.upload(x0); Tensor gn = g.upload(norm);
                         Tensor ga = g.upload(a); Tensor gb = g.upload(b); Tensor gUp = g.upload(doutUp);
                         Tensor gGate = g.upload(gate); Tensor gUpIn = g.upload(up); Tensor gd = poisoned(g, n * out);
                         Tensor gdUp = poisoned(g, n * out);
                         Tensor h = poisoned(g, n * in); Tensor rstd = poisoned(g, n); Tensor y = poisoned(g, n * out);
                         Tensor u = poisoned(g, n * r); Tensor du = poisoned(g, n * r); Tensor dx = g.upload(dxStart);
                         Tensor dA = g.upload(startA); Tensor dB = g.upload(startB); Tensor yF = poisoned(g, n * out);
                         Tensor dxF = poisoned(g, n * in)) {
                        g.exactRankProducts(false);
                        g.bf16Copies(withCopy);
                        g.bf16Rank(true);
                        assertThat(g.bf16RankOn()).isTrue();
                        // x = RMSNorm(x0) and dout = SwiGLU's dgate: with the copies on both have bf16 copies,
                        // which the layer reads (x for u and dA, dout for du, dB and the frozen dx) instead of casting
                        g.rmsnorm(h, rstd, gx0, gn, n, in, 1e-5f);
                        g.swigluBackward(gd, gdUp, gUp, gGate, gUpIn, n * out);
                        float[] x = get(g, h, n * in);
                        float[] dout = get(g, gd, n * out);
                        g.loraLinear(y, u, h, h, gw, ga, gb, n, r, scale);
                        assertThat(g.bf16CopiesHeld()).as("the copies outlive the forward").isEqualTo(withCopy ? 3 : 0);
                        g.loraLinearBackward(dx, du, dA, dB, gd, h, u, gw, ga, gb, n, r, scale, accumulate);
                        float[] gu = get(g, u, n * r);
                        float[] gdu = get(g, du, n * r);
                        // the frozen products alone (the same bits with or without a copy: both round to nearest even)
                        g.matmul(yF, h, gw, n);
                        g.matmulBackward(dxF, gd, gw, n, false);
                        float[] frozenY = get(g, yF, n * out);
                        float[] frozenDx = get(g, dxF, n * in);

                        float[] ux = sum(n, r, in, (t, j) -> 0, (t, j, i) -> bf(x[t * in + i]) * bf(a[j * in + i]));
                        assertFp32("u on bf16 inputs, " + mode, gu, ux, n, r, in,
                                (t, j) -> sumAbs(in, i -> bf(x[t * in + i]) * bf(a[j * in + i])));
                        float[] dux = sum(n, r, out, (t, j) -> 0,
                                (t, j, o) -> scale * bf(dout[t * out + o]) * bf(b[o * r + j]));
                        assertFp32("du on bf16 inputs, " + mode, gdu, dux, n, r, out,
                                (t, j) -> sumAbs(out, o -> scale * bf(dout[t * out + o]) * bf(b[o * r + j])));
                        float[] dBx = sum(out, r, n, (o, j) -> startB[o * r + j],
                                (o, j, t) -> scale * bf(dout[t * out + o]) * bf(gu[t * r + j]));
                        assertFp32("dB on bf16 inputs, " + mode, get(g, dB, out * r), dBx, out, r, n,
                                (o, j) -> Math.abs(startB[o * r + j])
                                        + sumAbs(n, t -> scale * bf(dout[t * out + o]) * bf(gu[t * r + j])));
                        float[] dAx = sum(r, in, n, (j, i) -> startA[j * in + i],
                                (j, i, t) -> withCopy ? (double) bf(gdu[t * r + j]) * bf(x[t * in + i])
                                        : (double) gdu[t * r + j] * x[t * in + i]);
                        float[] gdA = get(g, dA, r * in);
                        if (withCopy) {
                            assertFp32("dA on bf16 inputs (x's copy), " + mode, gdA, dAx, r, in, n,
                                    (j, i) -> Math.abs(startA[j * in + i])
                                            + sumAbs(n, t -> bf(gdu[t * r + j]) * bf(x[t * in + i])));
                        } else {
                            // TF32 inputs: ≤ 4·2⁻¹¹ per product even if both are truncated, plus fp32 reduction
                            assertWithin("dA TF32 on fp32 x (no copy), " + mode, gdA, dAx, r, in,
                                    (j, i) -> TF32_PRODUCT * sumAbs(n, t -> gdu[t * r + j] * x[t * in + i])
                                            + 2 * (n + 1) * U_F32 * (Math.abs(startA[j * in + i])
                                            + sumAbs(n, t -> gdu[t * r + j] * x[t * in + i]))
                                            + U_F32 * Math.abs(dAx[j * in + i]) + 1e-30);
                        }
                        float[] yx = sum(n, out, r, (t, o) -> frozenY[t * out + o],
                                (t, o, j) -> scale * (double) gu[t * r + j] * b[o * r + j]);
                        assertTf32Close("y with bf16 rank-r products, " + mode, get(g, y, n * out), yx, n, out,
                                (t, o) -> sumAbs(in, i -> x[t * in + i] * w[o * in + i]),
                                (t, o) -> sumAbs(r, j -> scale * gu[t * r + j] * b[o * r + j]), in);
                        float[] dxx = sum(n, in, r,
                                (t, i) -> frozenDx[t * in + i] + (accumulate ? dxStart[t * in + i] : 0),
                                (t, i, j) -> (double) gdu[t * r + j] * a[j * in + i]);
                        assertTf32Close("dx with bf16 rank-r products, " + mode, get(g, dx, n * in), dxx, n, in,
                                (t, i) -> sumAbs(out, o -> dout[t * out + o] * w[o * in + i]) + (accumulate ? 1 : 0),
                                (t, i) -> sumAbs(r, j -> gdu[t * r + j] * a[j * in + i]), out);
                    }
                }
            }
        }
    }

    /**
     * The same floats bit for bit (NaNs of any payload count as equal, like {@code Float.equals}); linear time,
     * unlike AssertJ's {@code containsExactly}, whose diff is quadratic in the length.
     */
    static void assertSameBits(String what, float[] actual, float[] expected) {
        assertThat(actual.length).as(what + ": length").isEqualTo(expected.length);
        for (int i = 0; i < actual.length; i++) {
            if (Float.floatToIntBits(actual[i]) != Float.floatToIntBits(expected[i])) {
                int bad = 0;
                for (int j = i; j < actual.length; j++) {
                    bad += Float.floatToIntBits(actual[j]) != Float.floatToIntBits(expected[j]) ? 1 : 0;
                }
                throw new AssertionError(what + ": " + bad + " of " + actual.length + " elements differ; first at " + i
                        + ": " + actual[i] + " vs " + expected[i]);
            }
        }
    }

    /** {@code start(row, col) + Σ_k term(row, col, k)} for every element of a [rows, cols] result, in double. */
    private static float[] sum(int rows, int cols, int k, Cell start, Product term) {
        float[] out = new float[rows * cols];
        for (int row = 0; row < rows; row++) {
            for (int c = 0; c < cols; c++) {
                double acc = 0;
                for (int j = 0; j < k; j++) {
                    acc += term.at(row, c, j);
                }
                out[row * cols + c] = (float) (start.at(row, c) + acc);
            }
        }
        return out;
    }

    private static float bf(float v) {
        return Bf16ErrorModelTest.bf16(v);
    }

    /** Relative error of one TF32 product against exact arithmetic, both inputs truncated (not rounded) to 10 bits. */
    private static final double TF32_PRODUCT = 5 * 0x1p-11;

    /**
     * A fused output against the frozen op's result plus the exact LoRA term: the frozen reduction order, the TF32
     * LoRA term ({@link #TF32_PRODUCT} of its terms' magnitudes) and the final fp32 roundings.
     */
    private static void assertTf32Close(String what, float[] actual, float[] expected, int rows, int cols, Cell frozen,
                                        Cell lora, int k) {
        assertWithin(what, actual, expected, rows, cols,
                (row, c) -> 2 * k * U_F32 * frozen.at(row, c) + TF32_PRODUCT * lora.at(row, c)
                        + 4 * U_F32 * (Math.abs(expected[row * cols + c]) + 1));
    }

    /** fp32 against fp32: two reductions of {@code k} terms in different orders. */
    private static void assertFp32(String what, float[] gpu, float[] cpuRef, int rows, int cols, int k, Cell abs) {
        assertWithin("rank-r " + what + " (fp32 kernels vs CPU)", gpu, cpuRef, rows, cols,
                (row, c) -> 2 * (k + 1) * U_F32 * abs.at(row, c) + U_F32 * Math.abs(cpuRef[row * cols + c]) + 1e-30);
    }

    /** Fused against separate: the frozen terms' reduction order plus the TF32 rounding of the LoRA term. */
    private static void assertFusedClose(String what, float[] fused, float[] separate, int rows, int cols, Cell frozen,
                                         Cell lora, int k) {
        assertWithin(what + " (fused vs separate)", fused, separate, rows, cols,
                (row, c) -> 2 * k * U_F32 * frozen.at(row, c) + 3 * 0x1p-11 * lora.at(row, c)
                        + 4 * U_F32 * (Math.abs(separate[row * cols + c]) + 1));
    }

    /** Every element of {@code actual} within {@code tolerance(row, col)} of {@code expected}; NaN fails. */
    private static void assertWithin(String what, float[] actual, float[] expected, int rows, int cols, Cell tolerance) {
        int bad = 0;
        int worst = 0;
        double worstRatio = 0;
        for (int row = 0; row < rows; row++) {
            for (int c = 0; c < cols; c++) {
                int i = row * cols + c;
                double ratio = Double.isFinite(actual[i])
                        ? Math.abs((double) actual[i] - expected[i]) / tolerance.at(row, c) : Double.POSITIVE_INFINITY;
                if (!(ratio <= 1)) {
                    bad++;
                }
                if (!(ratio <= worstRatio)) {
                    worstRatio = ratio;
                    worst = i;
                }
            }
        }
        LOG.info("{}: worst |Δ| / bound {} at {}", what, worstRatio, worst);
        assertThat(bad).as("%s: %d elements over the bound; worst at %d: %s vs %s", what, bad, worst, actual[worst],
                expected[worst]).isZero();
    }

    private interface Cell {
        double at(int row, int col);
    }

    private static double sumAbs(int k, java.util.function.IntToDoubleFunction term) {
        double s = 0;
        for (int j = 0; j < k; j++) {
            s += Math.abs(term.applyAsDouble(j));
        }
        return s;
    }

    /** One product term of output element (row, col) at reduction index k. */
    private interface Product {
        double at(int row, int col, int k);
    }

    private static void assertBf16(String what, float[] gpuOut, float[] cpuOut, int rows, int cols, int k, Product prod) {
        double sumSq = 0;
        double predicted = 0;
        int bad = 0;
        int worst = 0;
        double worstRatio = 0;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                double abs = 0;
                double sq = 0;
                for (int j = 0; j < k; j++) {
                    double p = prod.at(r, c, j);
                    abs += Math.abs(p);
                    sq += p * p;
                }
                int i = r * cols + c;
                double err = Math.abs((double) gpuOut[i] - cpuOut[i]);
                // fp32 accumulation: ≤ K·2⁻²³ on the GPU even if the tensor cores truncate, ≤ K·2⁻²⁴ on the CPU; and
                // 4 fp32 roundings of values ≤ |out| + 1 for the accumulate variant (start values in [-1, 1])
                double tol = (2 * U_BF16 + U_BF16 * U_BF16 + 3 * k * U_F32) * abs + 4 * U_F32 * (Math.abs(cpuOut[i]) + 1);
                double ratio = Double.isFinite(gpuOut[i]) ? err / tol : Double.POSITIVE_INFINITY;
                if (!(ratio <= 1)) {
                    bad++;
                }
                if (!(ratio <= worstRatio)) {
                    worstRatio = ratio;
                    worst = i;
                }
                sumSq += err * err;
                predicted += (2.0 / 3.0) * U_BF16 * U_BF16 * sq;
            }
        }
        int total = rows * cols;
        double rms = Math.sqrt(sumSq / total);
        double rmsPredicted = Math.sqrt(predicted / total);
        LOG.info("{}: worst err/bound {} at {}; RMS error {} = {} × the √K·2⁻⁸ prediction {}", what, worstRatio, worst,
                rms, rms / rmsPredicted, rmsPredicted);
        assertThat(bad).as("%s: %d of %d elements over the worst-case bf16 bound; worst at %d: gpu %s cpu %s", what,
                bad, total, worst, gpuOut[worst], cpuOut[worst]).isZero();
        assertThat(rms).as("%s: RMS error vs the predicted %s", what, rmsPredicted)
                .isLessThanOrEqualTo(1.5 * rmsPredicted).isGreaterThanOrEqualTo(0.1 * rmsPredicted);
    }

    // ---- optimizer on the device -----------------------------------------------------------------------

    /**
     * The device {@code sumOfSquares} and {@code adamw} against the {@link Backend} host defaults (= the host
     * AdamW's arithmetic) run by the CPU backend. Bounds: the device sums fp32 partials (≤ 1024 blocks added by
     * atomics, two 5-level shuffle trees, a few elements per thread): relative error ≤ (1024 + 10 + 4)·2⁻²⁴ < 1e-4.
     * AdamW in fp32 against double intermediates: the hyper-parameters become floats (β2 = 0.999f is off by
     * 4.7e-5 relative in 1 − β2, mostly cancelled by the bias correction computed from the same float), so
     * m, v within 1e-4 relative (+ 1e-6 of the largest, for elements near 0) and p within 1e-6 relative plus
     * 1e-3·lr (the update itself, ≤ ~3·lr, to 3e-4 relative) per step.
     */
    @Test
    void optimizerOnTheDeviceMatchesTheHostDefaults() {
        needGpu();
        int[] sizes = {1, 777, 300_001, 4096};
        java.util.List<Tensor> gp = new java.util.ArrayList<>();
        java.util.List<Tensor> cp = new java.util.ArrayList<>();
        java.util.List<Tensor> all = new java.util.ArrayList<>();
        try {
            float[][] g = new float[sizes.length][];
            for (int i = 0; i < sizes.length; i++) {
                g[i] = random(sizes[i], -0.01f * (i + 1), 0.02f * (i + 1));
                gp.add(gpu.upload(g[i]));
                cp.add(cpu.upload(g[i]));
            }
            all.addAll(gp);
            all.addAll(cp);
            double dev = gpu.sumOfSquares(gp);
            double host = cpu.sumOfSquares(cp);
            LOG.info("sumOfSquares gpu {} cpu {} relative {}", dev, host, Math.abs(dev - host) / host);
            assertThat(Math.abs(dev - host)).as("sumOfSquares").isLessThanOrEqualTo(1e-4 * host);
            assertThat(gpu.sumOfSquares(java.util.List.of())).isZero();

            int n = 50_003;
            float[] p0 = random(n, -1, 1);
            Tensor[] gpuT = {gpu.upload(p0), gpu.allocate(n), gpu.allocate(n), gpu.allocate(n)};
            Tensor[] cpuT = {cpu.upload(p0), cpu.allocate(n), cpu.allocate(n), cpu.allocate(n)};
            all.addAll(java.util.List.of(gpuT));
            all.addAll(java.util.List.of(cpuT));
            double lr = 1e-2;
            float[] scales = {1f, 0.37f, 1f};
            for (int step = 1; step <= 3; step++) {
                float[] grad = random(n, -2, 2);
                gpu.write(gpuT[1], 0, grad, 0, n);
                cpu.write(cpuT[1], 0, grad, 0, n);
                gpu.adamw(gpuT[0], gpuT[1], gpuT[2], gpuT[3], lr, 0.9, 0.999, 1e-8, 0.01, step, scales[step - 1]);
                cpu.adamw(cpuT[0], cpuT[1], cpuT[2], cpuT[3], lr, 0.9, 0.999, 1e-8, 0.01, step, scales[step - 1]);
                float[] m = get(cpu, cpuT[2], n);
                float[] v = get(cpu, cpuT[3], n);
                assertClose("adamw step " + step + " p", get(gpu, gpuT[0], n), get(cpu, cpuT[0], n), 1e-3 * lr * step, 1e-6);
                assertClose("adamw step " + step + " m", get(gpu, gpuT[2], n), m, 1e-6 * maxAbs(m), 1e-4 * step);
                assertClose("adamw step " + step + " v", get(gpu, gpuT[3], n), v, 1e-6 * maxAbs(v), 1e-4 * step);
            }
            assertThat(get(gpu, gpuT[1], n)).as("the gradient is not changed").isEqualTo(get(cpu, cpuT[1], n));
            assertThatThrownBy(() -> gpu.adamw(gpuT[0], gpuT[1], gpuT[2], gpuT[3], lr, 0.9, 0.999, 1e-8, 0, 0, 1f))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("step");
        } finally {
            all.forEach(Tensor::close);
        }
    }

    @Test
    void multiTensorAdamwAndFillMatchTheHostDefaults() {
        needGpu();
        int[] sizes = {5, 70_001, 300};
        java.util.List<Tensor> all = new java.util.ArrayList<>();
        java.util.List<java.util.List<Tensor>> g4 = new java.util.ArrayList<>();  // p, g, m, v lists on the GPU
        java.util.List<java.util.List<Tensor>> c4 = new java.util.ArrayList<>();
        try {
            for (int l = 0; l < 4; l++) {
                g4.add(new java.util.ArrayList<>());
                c4.add(new java.util.ArrayList<>());
            }
            for (int n : sizes) {
                float[] p0 = random(n, -1, 1);
                g4.get(0).add(gpu.upload(p0));
                c4.get(0).add(cpu.upload(p0));
                for (int l = 1; l < 4; l++) {
                    g4.get(l).add(gpu.allocate(n));
                    c4.get(l).add(cpu.allocate(n));
                }
            }
            g4.forEach(all::addAll);
            c4.forEach(all::addAll);
            // two steps with new gradients each: the second reuses the device table uploaded by the first
            for (int step = 1; step <= 2; step++) {
                for (int i = 0; i < sizes.length; i++) {
                    float[] grad = random(sizes[i], -2, 2);
                    gpu.write(g4.get(1).get(i), 0, grad, 0, sizes[i]);
                    cpu.write(c4.get(1).get(i), 0, grad, 0, sizes[i]);
                }
                gpu.adamw(g4.get(0), g4.get(1), g4.get(2), g4.get(3), 1e-2, 0.9, 0.999, 1e-8, 0.01, step, 0.5f);
                cpu.adamw(c4.get(0), c4.get(1), c4.get(2), c4.get(3), 1e-2, 0.9, 0.999, 1e-8, 0.01, step, 0.5f);
                for (int i = 0; i < sizes.length; i++) {
                    int n = sizes[i];
                    float[] m = get(cpu, c4.get(2).get(i), n);
                    assertClose("list adamw step " + step + " p" + i, get(gpu, g4.get(0).get(i), n),
                            get(cpu, c4.get(0).get(i), n), 1e-5 * step, 1e-6);
                    assertClose("list adamw step " + step + " m" + i, get(gpu, g4.get(2).get(i), n), m,
                            1e-6 * maxAbs(m), 1e-4 * step);
                }
            }
            assertThatThrownBy(() -> gpu.adamw(g4.get(0), g4.get(1).subList(0, 2), g4.get(2), g4.get(3), 1e-2, 0.9,
                    0.999, 1e-8, 0, 1, 1f)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("lists");
            gpu.fill(g4.get(1), 0f);
            for (int i = 0; i < sizes.length; i++) {
                assertThat(get(gpu, g4.get(1).get(i), sizes[i])).as("filled gradient " + i).containsOnly(0f);
            }
            assertThat(gpu.sumOfSquares(g4.get(1))).isZero();
        } finally {
            all.forEach(Tensor::close);
        }
    }

    private static double maxAbs(float[] a) {
        double m = 0;
        for (float x : a) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    @Test
    void embeddingRmsnormRopeMatchCpu() {
        needGpu();
        int vocab = 300;
        int c = 64;
        float[] table = random(vocab * c, -1, 1);
        FloatWeight tw = new FloatWeight("embed", vocab, c, table);
        int[] ids = {5, 299, 0, 5, 17, 123};
        int n = ids.length;
        float[] norm = random(c, 0.5f, 1.5f);
        int[] pos = {0, 1, 2, 700, 31, 4};
        try (WeightHandle ct = cpu.prepare(tw, false); WeightHandle gt = gpu.prepare(tw, false);
             Tensor ce = cpu.allocate(n * c); Tensor ge = poisoned(n * c);
             Tensor cw = cpu.upload(norm); Tensor gw = gpu.upload(norm);
             Tensor cr = cpu.allocate(n); Tensor gr = poisoned(n)) {
            cpu.embedding(ce, ids, ct);
            gpu.embedding(ge, ids, gt);
            assertClose("embedding", get(gpu, ge, n * c), get(cpu, ce, n * c), 0, 0);
            cpu.rmsnorm(ce, cr, ce, cw, n, c, 1e-5f);
            gpu.rmsnorm(ge, gr, ge, gw, n, c, 1e-5f);
            assertClose("rmsnorm (in place)", get(gpu, ge, n * c), get(cpu, ce, n * c), 1e-6, 1e-5);
            assertClose("rmsnorm rstd", get(gpu, gr, n), get(cpu, cr, n), 1e-7, 1e-5);
            // the backward adds to dx (the residual stream's gradient): start both from the same values
            float[] dy = random(n * c, -1, 1);
            float[] start = random(n * c, -1, 1);
            try (Tensor cx = cpu.upload(get(cpu, ce, n * c)); Tensor gx = gpu.upload(get(cpu, ce, n * c));
                 Tensor cdy = cpu.upload(dy); Tensor gdy = gpu.upload(dy);
                 Tensor cdx = cpu.upload(start); Tensor gdx = gpu.upload(start)) {
                cpu.rmsnormBackward(cdx, cdy, cx, cw, cr, n, c);
                gpu.rmsnormBackward(gdx, gdy, gx, gw, gr, n, c);
                assertClose("rmsnormBackward (accumulating)", get(gpu, gdx, n * c), get(cpu, cdx, n * c), 1e-5, 1e-4);
            }
            cpu.rope(ce, pos, n, 2, 32, 10000.0);
            gpu.rope(ge, pos, n, 2, 32, 10000.0);
            assertClose("rope", get(gpu, ge, n * c), get(cpu, ce, n * c), 2e-6, 1e-5);
            assertThatThrownBy(() -> gpu.embedding(ge, new int[]{vocab}, gt))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("outside the vocabulary");
        }
    }

    @Test
    void attentionMatchesCpuWithPaddingAndCache() {
        needGpu();
        int batch = 2;
        int len = 45;
        int hq = 6;
        int hkv = 2;
        int d = 64;
        AttentionShape full = AttentionShape.full(batch, len, hq, hkv, d);
        int[] mask = new int[batch * len];
        java.util.Arrays.fill(mask, 1);
        for (int j = 38; j < len; j++) {
            mask[len + j] = 0;  // row 1 right-padded
        }
        checkAttention("attention full, right padding", full, mask);
        checkAttention("attention full, no mask", full, null);
        // KV cache: 4 new queries at slots 30..33 of a 48-slot cache with 34 filled; row 0 left-padded
        AttentionShape cached = new AttentionShape(batch, 4, 34, 48, 30, hq, hkv, d);
        int[] cmask = new int[batch * 48];
        java.util.Arrays.fill(cmask, 1);
        for (int j = 0; j < 5; j++) {
            cmask[j] = 0;
        }
        checkAttention("attention KV cache", cached, cmask);
        // the bf16 precisions run attention on tensor cores: on bf16-exact inputs only the rounding of the
        // probabilities remains, which moves out by at most 2^-9·max|v| (v in [-1, 1]); lse stays fp32-exact
        try (CudaBackend g16 = new CudaBackend(0, CudaPrecision.BF16)) {
            checkAttention(g16, "bf16 attention full, right padding", full, mask, true);
            checkAttention(g16, "bf16 attention KV cache", cached, cmask, true);
        }
    }

    private void checkAttention(String what, AttentionShape s, int[] mask) {
        checkAttention(gpu, what, s, mask, false);
    }

    private void checkAttention(CudaBackend g, String what, AttentionShape s, int[] mask, boolean bf16) {
        float[] q = random(s.querySize(), -2, 2);
        float[] k = random(s.kvSize(), -2, 2);
        float[] v = random(s.kvSize(), -1, 1);
        if (bf16) {
            for (float[] a : new float[][]{q, k, v}) {
                for (int i = 0; i < a.length; i++) {
                    a[i] = Float.intBitsToFloat(CudaBackend.toBf16(a[i]) << 16);
                }
            }
        }
        int nl = s.batch() * s.queryLen() * s.numHeads();
        try (Tensor cq = cpu.upload(q); Tensor ck = cpu.upload(k); Tensor cv = cpu.upload(v);
             Tensor co = cpu.allocate(s.querySize()); Tensor cl = cpu.allocate(nl);
             Tensor gq = g.upload(q); Tensor gk = g.upload(k); Tensor gv = g.upload(v);
             Tensor go = poisoned(g, s.querySize()); Tensor gl = poisoned(g, nl)) {
            cpu.attention(co, cl, cq, ck, cv, mask, s);
            g.attention(go, gl, gq, gk, gv, mask, s);
            assertClose(what + " out", get(g, go, s.querySize()), get(cpu, co, s.querySize()),
                    bf16 ? 0x1p-9 + 1e-5 : 2e-5, bf16 ? 1e-5 : 2e-4);
            assertClose(what + " lse", get(g, gl, nl), get(cpu, cl, nl), bf16 ? 1e-4 : 2e-5, bf16 ? 1e-4 : 2e-5);
        }
    }

    @Test
    void swigluAddSoftmaxLogsumexpCrossEntropyMatchCpu() {
        needGpu();
        int n = 5;
        int vocab = 4099;
        float[] g = random(n * vocab, -6, 6);
        float[] u = random(n * vocab, -2, 2);
        int[] targets = {3, -100, 4098, 0, 77};
        try (Tensor cg = cpu.upload(g); Tensor cu = cpu.upload(u); Tensor co = cpu.allocate(n * vocab);
             Tensor gg = gpu.upload(g); Tensor gu = gpu.upload(u); Tensor go = poisoned(n * vocab);
             Tensor cs = cpu.allocate(n); Tensor gs = poisoned(n)) {
            cpu.swiglu(co, cg, cu, n * vocab);
            gpu.swiglu(go, gg, gu, n * vocab);
            assertClose("swiglu", get(gpu, go, n * vocab), get(cpu, co, n * vocab), 1e-6, 1e-5);
            cpu.add(co, co, cg, n * vocab);
            gpu.add(go, go, gg, n * vocab);
            assertClose("add (aliased)", get(gpu, go, n * vocab), get(cpu, co, n * vocab), 1e-6, 1e-5);
            cpu.logsumexp(cs, cg, n, vocab);
            gpu.logsumexp(gs, gg, n, vocab);
            assertClose("logsumexp", get(gpu, gs, n), get(cpu, cs, n), 2e-5, 2e-6);
            gpu.fill(gs, Float.NaN);
            cpu.crossEntropy(cs, cg, targets, n, vocab);
            gpu.crossEntropy(gs, gg, targets, n, vocab);
            assertClose("crossEntropy (ignored target)", get(gpu, gs, n), get(cpu, cs, n), 2e-5, 2e-5);
            cpu.softmax(co, cg, n, vocab);
            gpu.softmax(go, gg, n, vocab);
            assertClose("softmax", get(gpu, go, n * vocab), get(cpu, co, n * vocab), 1e-8, 1e-4);
        }
    }

    /** LoRA dropout on the device: the CPU backend's mask bit for bit (both are DropoutMask), in and out of place. */
    @Test
    void dropoutMatchesCpuBitForBit() {
        needGpu();
        int n = 100_003;
        float[] x = random(n, -1, 1);
        long seed = rnd.nextLong();
        for (float p : new float[]{0f, 0.05f, 0.5f}) {
            try (Tensor cx = cpu.upload(x); Tensor co = cpu.allocate(n); Tensor gx = gpu.upload(x);
                 Tensor go = poisoned(n)) {
                cpu.dropout(co, cx, n, seed, p);
                gpu.dropout(go, gx, n, seed, p);
                float[] want = get(cpu, co, n);
                assertSameBits("dropout p=" + p, get(gpu, go, n), want);
                gpu.dropout(gx, gx, n, seed, p);
                assertSameBits("dropout in place p=" + p, get(gpu, gx, n), want);
            }
        }
        try (Tensor a = gpu.allocate(4); Tensor b = gpu.allocate(4)) {
            assertThatThrownBy(() -> gpu.dropout(a, b, 4, 1L, 1f)).hasMessageContaining("[0, 1)");
        }
    }

    @Test
    void nativeErrorsCarryOpAndMessage() {
        needGpu();
        AttentionShape bad = AttentionShape.full(1, 4, 2, 2, 160);  // head dim 160 has no kernel (max 128)
        try (Tensor q = gpu.allocate(bad.querySize()); Tensor k = gpu.allocate(bad.kvSize());
             Tensor v = gpu.allocate(bad.kvSize()); Tensor o = gpu.allocate(bad.querySize())) {
            assertThatThrownBy(() -> gpu.attention(o, null, q, k, v, null, bad)).isInstanceOf(CudaException.class)
                    .hasMessageContaining("attention").hasMessageContaining("head dim 160");
        }
        Tensor t = gpu.allocate(4);
        t.close();
        assertThatThrownBy(() -> gpu.fill(t, 1f)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> gpu.fill(cpu.allocate(3), 1f)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("another backend");
    }
}
