package ai.safetune.bench;

import ai.safetune.backend.Backend;
import ai.safetune.backend.Tensor;
import ai.safetune.backend.WeightHandle;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.FloatWeight;

import java.util.Random;

/**
 * GFLOP/s of the CPU backend's matmul on fp32 weights, per CPU-second (robust on a shared machine).
 * {@code java -cp benchmarks.jar ai.safetune.bench.GemmBench [threads] [n K M ...]}
 */
public final class GemmBench {
    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 1;
        int[][] shapes = {{1, 576, 1536}, {4, 576, 1536}, {64, 576, 1536}, {256, 576, 1536}, {1024, 576, 576}};
        if (args.length > 1) {
            shapes = new int[][] {{Integer.parseInt(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3])}};
        }
        Random rnd = new Random(1);
        try (Backend be = new CpuBackend(threads)) {
            for (int[] s : shapes) {
                int n = s[0], k = s[1], m = s[2];
                float[] w = new float[m * k];
                float[] x = new float[n * k];
                for (int i = 0; i < w.length; i++) {
                    w[i] = (float) rnd.nextGaussian();
                }
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) rnd.nextGaussian();
                }
                try (WeightHandle h = be.prepare(new FloatWeight("w", m, k, w), true); Tensor xt = be.upload(x);
                     Tensor out = be.allocate(n * m)) {
                    double flop = 2.0 * n * k * m;
                    int reps = (int) Math.max(3, 2e10 / flop);
                    for (int warm = 0; warm < reps; warm++) {
                        be.matmul(out, xt, h, n);
                    }
                    long c = ForwardBench.cpuNanos();
                    long t = System.nanoTime();
                    for (int r = 0; r < reps; r++) {
                        be.matmul(out, xt, h, n);
                    }
                    double cpu = (ForwardBench.cpuNanos() - c) / 1e9;
                    double wall = (System.nanoTime() - t) / 1e9;
                    System.out.printf("n=%d K=%d M=%d: %.2f GFLOP per CPU-second, %.2f GFLOP/s wall%n", n, k, m,
                            flop * reps / cpu / 1e9, flop * reps / wall / 1e9);
                }
            }
        }
    }
}
