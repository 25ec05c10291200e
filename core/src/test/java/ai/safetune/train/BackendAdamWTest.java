package ai.safetune.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.safetune.backend.Tensor;
import ai.safetune.backend.cpu.CpuBackend;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The backend-resident optimizer on the CPU backend (the {@link ai.safetune.backend.Backend} host defaults)
 * must reproduce the host {@link AdamW} plus {@link AdamW#clipGradNorm} bit for bit: FineTuner now runs
 * through it on every backend, and the checkpoint resume test relies on exact repetition.
 */
class BackendAdamWTest {
    private static final int[] SIZES = {37, 1, 250, 64};

    private static float[] random(SplittableRandom r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        }
        return a;
    }

    @Test
    void matchesHostAdamWWithClippingBitForBit() {
        SplittableRandom r = new SplittableRandom(11);
        List<float[]> hostParams = new ArrayList<>();
        for (int s : SIZES) {
            hostParams.add(random(r, s, 0.5));
        }
        AdamW host = new AdamW(SIZES, 0.9, 0.999, 1e-8, 0.01);
        try (CpuBackend cpu = new CpuBackend(1);
             BackendAdamW dev = new BackendAdamW(cpu, SIZES, 0.9, 0.999, 1e-8, 0.01)) {
            List<Tensor> params = new ArrayList<>();
            List<Tensor> grads = new ArrayList<>();
            for (int i = 0; i < SIZES.length; i++) {
                params.add(cpu.upload(hostParams.get(i)));
                grads.add(cpu.allocate(SIZES[i]));
            }
            // gradient scales 0.01 (no clipping), 3 (clipped to 1.0), 50 (clipped): both branches of the clip
            double[] scales = {0.01, 3, 50, 0.2, 7};
            for (int step = 0; step < scales.length; step++) {
                List<float[]> g = new ArrayList<>();
                for (int i = 0; i < SIZES.length; i++) {
                    float[] gi = random(r, SIZES[i], scales[step]);
                    g.add(gi);
                    cpu.write(grads.get(i), 0, gi, 0, gi.length);
                }
                double devNorm = dev.gradNorm(grads);
                double hostNorm = AdamW.clipGradNorm(g, 1.0);
                assertThat(devNorm).as("norm at step %d", step).isEqualTo(hostNorm);
                double lr = 1e-3 * (step + 1);
                host.step(hostParams, g, lr);
                dev.step(params, grads, lr, BackendAdamW.clipScale(devNorm, 1.0));
                for (int i = 0; i < SIZES.length; i++) {
                    float[] p = new float[SIZES[i]];
                    cpu.read(params.get(i), 0, p, 0, p.length);
                    assertThat(p).as("tensor %d after step %d", i, step).containsExactly(hostParams.get(i));
                }
            }
            assertThat(dev.stepCount()).isEqualTo(host.stepCount());
            float[][] m = dev.firstMoments();
            float[][] v = dev.secondMoments();
            float[][] hm = host.firstMoments();
            float[][] hv = host.secondMoments();
            for (int i = 0; i < SIZES.length; i++) {
                assertThat(m[i]).containsExactly(hm[i]);
                assertThat(v[i]).containsExactly(hv[i]);
            }
        }
    }

    @Test
    void restoreContinuesExactlyAndChecksShapes() {
        int[] sizes = {5, 3};
        SplittableRandom r = new SplittableRandom(3);
        try (CpuBackend cpu = new CpuBackend(1);
             BackendAdamW a = new BackendAdamW(cpu, sizes, 0.9, 0.999, 1e-8, 0.1);
             BackendAdamW b = new BackendAdamW(cpu, sizes, 0.9, 0.999, 1e-8, 0.1)) {
            List<Tensor> pa = List.of(cpu.upload(random(r, 5, 1)), cpu.upload(random(r, 3, 1)));
            List<Tensor> g = List.of(cpu.upload(random(r, 5, 1)), cpu.upload(random(r, 3, 1)));
            a.step(pa, g, 0.01, 1f);
            b.restore(a.firstMoments(), a.secondMoments(), a.stepCount());
            List<Tensor> pb = new ArrayList<>();
            for (Tensor t : pa) {
                float[] h = new float[t.size()];
                cpu.read(t, 0, h, 0, h.length);
                pb.add(cpu.upload(h));
            }
            a.step(pa, g, 0.01, 0.5f);
            b.step(pb, g, 0.01, 0.5f);
            for (int i = 0; i < 2; i++) {
                float[] x = new float[sizes[i]];
                float[] y = new float[sizes[i]];
                cpu.read(pa.get(i), 0, x, 0, x.length);
                cpu.read(pb.get(i), 0, y, 0, y.length);
                assertThat(y).containsExactly(x);
            }
            assertThatThrownBy(() -> b.restore(new float[2][4], new float[2][4], 1)).hasMessageContaining("expected 5");
            assertThatThrownBy(() -> b.step(List.of(pa.get(0)), g, 0.01, 1f)).hasMessageContaining("built for 2 tensors");
            assertThatThrownBy(() -> b.step(List.of(pa.get(1), pa.get(0)), g, 0.01, 1f))
                    .hasMessageContaining("tensor 0: expected 5");
        }
        try (CpuBackend cpu = new CpuBackend(1)) {
            assertThatThrownBy(() -> new BackendAdamW(cpu, sizes, 1.0, 0.999, 1e-8, 0)).hasMessageContaining("betas");
        }
    }

    @Test
    void clipScaleIsTorchsFactor() {
        assertThat(BackendAdamW.clipScale(0.5, 1.0)).isEqualTo(1f);
        assertThat(BackendAdamW.clipScale(4.0, 1.0)).isEqualTo((float) (1.0 / (4.0 + 1e-6)));
        assertThat(BackendAdamW.clipScale(4.0, 0)).isEqualTo(1f);
        assertThat(BackendAdamW.clipScale(Double.NaN, 1.0)).isEqualTo(1f);
    }
}
