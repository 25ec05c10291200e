package ai.safetune.backend.cpu;

import java.util.Arrays;

/**
 * The cos/sin of the RoPE angles of the last positions seen, per token: a training step rotates q and k of
 * every layer, forward and backward, with one position array, so the 2·n·headDim/2 trig calls are made once
 * instead of 4·layers times. Reused only when positions, head width and θ are all the same; values are exactly
 * those computed per call before (fp32 angle {@code position · invFreq}, then {@code Math.cos/sin}).
 * Not thread-safe: owned by one backend, which is driven from one thread.
 */
final class RopeTable {
    record Angles(float[] cos, float[] sin) {
    }

    private int[] positions = new int[0];
    private int headDim = -1;
    private double theta = Double.NaN;
    private Angles angles;

    Angles angles(int[] pos, int n, int dim, double th) {
        if (angles != null && dim == headDim && th == theta && positions.length == n
                && Arrays.equals(positions, 0, n, pos, 0, n)) {
            return angles;
        }
        int half = dim / 2;
        float[] invFreq = new float[half];
        for (int i = 0; i < half; i++) {
            invFreq[i] = (float) (1.0 / (float) Math.pow(th, (float) (2 * i) / dim));
        }
        float[] cos = new float[n * half];
        float[] sin = new float[n * half];
        for (int t = 0; t < n; t++) {
            for (int i = 0; i < half; i++) {
                float angle = pos[t] * invFreq[i];
                cos[t * half + i] = (float) Math.cos(angle);
                sin[t * half + i] = (float) Math.sin(angle);
            }
        }
        positions = Arrays.copyOf(pos, n);
        headDim = dim;
        theta = th;
        angles = new Angles(cos, sin);
        return angles;
    }
}
