package ai.safetune.cuda;

import ai.safetune.backend.AttentionShape;
import ai.safetune.backend.Backend;
import ai.safetune.backend.BackendProvider;
import ai.safetune.backend.Backends;
import ai.safetune.backend.Tensor;
import ai.safetune.backend.WeightHandle;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.FloatWeight;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every op of the CUDA backend against the CPU reference backend on fresh random inputs (a new seed each
 * run, logged), with the output poisoned with NaN first so an element the GPU never wrote fails. Bound per
 * element: |gpu − cpu| ≤ atol + rtol·|cpu| (fp32 on both sides; only summation order differs). Without a
 * GPU (or without the native library) the GPU tests skip with the provider's reason; the provider tests
 * below run everywhere.
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
        Tensor t = gpu.allocate(n);
        gpu.fill(t, Float.NaN);
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
    }

    private void checkAttention(String what, AttentionShape s, int[] mask) {
        float[] q = random(s.querySize(), -2, 2);
        float[] k = random(s.kvSize(), -2, 2);
        float[] v = random(s.kvSize(), -1, 1);
        int nl = s.batch() * s.queryLen() * s.numHeads();
        try (Tensor cq = cpu.upload(q); Tensor ck = cpu.upload(k); Tensor cv = cpu.upload(v);
             Tensor co = cpu.allocate(s.querySize()); Tensor cl = cpu.allocate(nl);
             Tensor gq = gpu.upload(q); Tensor gk = gpu.upload(k); Tensor gv = gpu.upload(v);
             Tensor go = poisoned(s.querySize()); Tensor gl = poisoned(nl)) {
            cpu.attention(co, cl, cq, ck, cv, mask, s);
            gpu.attention(go, gl, gq, gk, gv, mask, s);
            assertClose(what + " out", get(gpu, go, s.querySize()), get(cpu, co, s.querySize()), 2e-5, 2e-4);
            assertClose(what + " lse", get(gpu, gl, nl), get(cpu, cl, nl), 2e-5, 2e-5);
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

    @Test
    void nativeErrorsCarryOpAndMessage() {
        needGpu();
        AttentionShape bad = AttentionShape.full(1, 4, 2, 2, 48);  // head dim 48 has no kernel
        try (Tensor q = gpu.allocate(bad.querySize()); Tensor k = gpu.allocate(bad.kvSize());
             Tensor v = gpu.allocate(bad.kvSize()); Tensor o = gpu.allocate(bad.querySize())) {
            assertThatThrownBy(() -> gpu.attention(o, null, q, k, v, null, bad)).isInstanceOf(CudaException.class)
                    .hasMessageContaining("attention").hasMessageContaining("head dim 48");
        }
        Tensor t = gpu.allocate(4);
        t.close();
        assertThatThrownBy(() -> gpu.fill(t, 1f)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> gpu.fill(cpu.allocate(3), 1f)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("another backend");
    }
}
