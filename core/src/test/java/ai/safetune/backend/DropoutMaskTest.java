package ai.safetune.backend;

import ai.safetune.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The counter-based dropout mask against SplittableRandom's own sequence, and the CPU backend's op against it. */
class DropoutMaskTest {
    @Test
    void elementIIsTheIthDrawOfSplittableRandom() {
        Random seeds = new Random(20261126);
        for (int k = 0; k < 20; k++) {
            long seed = k == 0 ? 0 : k == 1 ? -1 : seeds.nextLong();
            SplittableRandom rng = new SplittableRandom(seed);
            for (int i = 0; i < 5000; i++) {
                assertThat(DropoutMask.uniform(seed, i)).as("seed %d draw %d", seed, i).isEqualTo(rng.nextDouble());
            }
        }
    }

    @Test
    void streamsOfOneKeyAreNotShiftedCopiesOfEachOther() {
        for (long key : new long[]{0L, 1L, 0x1234_5678_9abcL}) {
            long s0 = DropoutMask.streamSeed(key, 0);
            long s1 = DropoutMask.streamSeed(key, 1);
            assertThat(s1).isNotEqualTo(s0);
            // a shift by d would make stream 1's draw i equal stream 0's draw i + d
            for (int d = -4; d <= 4; d++) {
                int same = 0;
                for (int i = 8; i < 1008; i++) {
                    same += DropoutMask.uniform(s1, i) == DropoutMask.uniform(s0, i + d) ? 1 : 0;
                }
                assertThat(same).as("key %d, shift %d", key, d).isZero();
            }
        }
    }

    @Test
    void cpuBackendAppliesTheMaskInPlaceAndOutOfPlace() {
        int n = 70_001;  // above the size the CPU backend splits across threads
        float p = 0.1f;
        long seed = 0x5eedL;
        float[] x = new float[n];
        Random r = new Random(7);
        for (int i = 0; i < n; i++) {
            x[i] = r.nextFloat() * 2 - 1;
        }
        // the mask as the training model drew it before the op existed: one SplittableRandom per module
        float[] expected = x.clone();
        SplittableRandom rng = new SplittableRandom(seed);
        float keep = 1f / (1f - p);
        int dropped = 0;
        for (int i = 0; i < n; i++) {
            float m = rng.nextDouble() < p ? 0f : keep;
            dropped += m == 0f ? 1 : 0;
            expected[i] *= m;
        }
        assertThat(dropped).as("about p of the elements dropped").isBetween(n / 10 - 500, n / 10 + 500);
        try (CpuBackend cpu = new CpuBackend(2); Tensor src = cpu.upload(x); Tensor dst = cpu.allocate(n)) {
            cpu.dropout(dst, src, n, seed, p);
            float[] out = new float[n];
            cpu.read(dst, 0, out, 0, n);
            assertThat(out).containsExactly(expected);
            cpu.read(src, 0, out, 0, n);
            assertThat(out).as("source untouched").containsExactly(x);
            cpu.dropout(src, src, n, seed, p);
            cpu.read(src, 0, out, 0, n);
            assertThat(out).as("in place").containsExactly(expected);
            assertThatThrownBy(() -> cpu.dropout(dst, src, n, seed, 1f)).hasMessageContaining("[0, 1)");
            assertThatThrownBy(() -> cpu.dropout(dst, src, n + 1, seed, p)).hasMessageContaining("need " + (n + 1));
        }
    }
}
