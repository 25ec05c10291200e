package ai.safetune.backend;

/**
 * The inverted-dropout mask of {@link Backend#dropout}: element {@code i} is dropped when the {@code i}-th
 * {@code nextDouble()} of {@code new SplittableRandom(seed)} is below {@code p}, and kept scaled by {@code 1/(1−p)}
 * otherwise. SplittableRandom is SplitMix64, whose {@code i}-th draw is a pure function of {@code (seed, i)}, so a
 * backend computes any element on its own (a GPU thread per element) and every backend gets the same mask.
 */
public final class DropoutMask {
    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;

    private DropoutMask() {
    }

    /** The {@code i}-th (from 0) {@code nextDouble()} of {@code new SplittableRandom(seed)}. */
    public static double uniform(long seed, long i) {
        return (mix64(seed + (i + 1) * GOLDEN_GAMMA) >>> 11) * 0x1.0p-53;
    }

    /**
     * The seed of mask stream {@code stream} (a module) under {@code key} (a pass): hashed, so different streams start
     * at unrelated points of SplitMix64's sequence. Seeds that differ by a multiple of its step would draw shifted
     * copies of one sequence: with key 0, plain {@code key ^ (stream+1)·γ} gave module k+1 module k's mask moved by
     * one element.
     */
    public static long streamSeed(long key, int stream) {
        return mix64(key + (stream + 1L) * GOLDEN_GAMMA);
    }

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** The scale of a kept element, {@code 1/(1−p)} in fp32. */
    public static float keep(float p) {
        return 1f / (1f - p);
    }

    /** {@code values[i] *= mask_i} for {@code i} in {@code [from, to)}. */
    public static void apply(float[] values, int from, int to, long seed, float p) {
        float keep = keep(p);
        for (int i = from; i < to; i++) {
            values[i] *= uniform(seed, i) < p ? 0f : keep;
        }
    }

    /** Checks a dropout probability: in {@code [0, 1)}. */
    public static void check(String op, float p) {
        if (!(p >= 0 && p < 1)) {
            throw new IllegalArgumentException(op + ": dropout probability must be in [0, 1), got " + p);
        }
    }
}
