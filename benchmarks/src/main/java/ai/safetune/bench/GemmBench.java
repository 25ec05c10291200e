package ai.safetune.bench;

import ai.safetune.backend.Backend;
import ai.safetune.backend.Tensor;
import ai.safetune.backend.WeightHandle;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.FloatWeight;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * GFLOP/s of the CPU backend's fp32 matrix products, per CPU-second (robust on a shared machine) and wall.
 * {@code java --add-modules jdk.incubator.vector -cp benchmarks.jar ai.safetune.bench.GemmBench [threads] [FORM:n:K:M ...]}
 * with FORM {@code fwd} ({@code x[n,K]·W[M,K]ᵀ}, the frozen projection forward and the prefill),
 * {@code bwd} ({@code dx[n,K] = dout[n,M]·W[M,K]}, its backward), {@code lora} (the rank-M LoRA pair on a
 * [n,K] input: forward {@code x·Aᵀ}, {@code h·Bᵀ} and backward dx, dA, dB; M = r). Default: the SmolLM2-135M
 * training/prefill shapes (n = 1024 = 4 × 256 tokens) and a few decode row counts.
 */
public final class GemmBench {
    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 1;
        List<String> forms = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            forms.add(args[i]);
        }
        if (forms.isEmpty()) {
            for (String f : new String[] {"fwd", "bwd"}) {
                for (int[] km : new int[][] {{576, 576}, {576, 192}, {576, 1536}, {1536, 576}, {576, 49152}}) {
                    forms.add(f + ":1024:" + km[0] + ":" + km[1]);
                }
            }
            forms.add("lora:1024:576:8");
            forms.add("lora:1024:1536:8");
            forms.add("fwd:1:576:1536");
            forms.add("fwd:4:576:1536");
            forms.add("fwd:64:576:1536");
        }
        Random rnd = new Random(1);
        try (CpuBackend be = new CpuBackend(threads)) {
            System.out.printf("%s, %d thread(s)%n", be.description(), threads);
            for (String form : forms) {
                String[] p = form.split(":");
                int n = Integer.parseInt(p[1]), k = Integer.parseInt(p[2]), m = Integer.parseInt(p[3]);
                run(be, p[0], n, k, m, rnd);
            }
        }
    }

    private static float[] gaussian(Random rnd, int size) {
        float[] a = new float[size];
        for (int i = 0; i < size; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        return a;
    }

    private static void run(Backend be, String form, int n, int k, int m, Random rnd) {
        try (WeightHandle h = be.prepare(new FloatWeight("w", m, k, gaussian(rnd, m * k)), true);
             Tensor x = be.upload(gaussian(rnd, n * k)); Tensor y = be.upload(gaussian(rnd, n * m));
             Tensor a = be.upload(gaussian(rnd, m * k)); Tensor b = be.upload(gaussian(rnd, k * m));
             Tensor da = be.allocate(m * k); Tensor db = be.allocate(k * m); Tensor hx = be.allocate(n * m);
             Tensor dx = be.allocate(n * k); Tensor out = be.allocate(n * Math.max(m, k))) {
            Runnable op;
            double flop;
            switch (form) {
                case "fwd" -> {
                    op = () -> be.matmul(out, x, h, n);
                    flop = 2.0 * n * k * m;
                }
                case "bwd" -> {
                    op = () -> be.matmulBackward(dx, y, h, n, false);
                    flop = 2.0 * n * k * m;
                }
                case "lora" -> {
                    // A [m=r, k], B [k, r]: forward h = x·Aᵀ, out += s·h·Bᵀ; backward through B then A
                    op = () -> {
                        be.matmul(hx, x, a, n, m, k, 1f, false);
                        be.matmul(out, hx, b, n, k, m, 2f, true);
                        be.matmulBackward(y, db, dx, hx, b, n, k, m, 2f, false);
                        be.matmulBackward(dx, da, y, x, a, n, m, k, 1f, true);
                    };
                    flop = 6 * 2.0 * n * k * m;
                }
                default -> throw new IllegalArgumentException("unknown form " + form + " (fwd, bwd, lora)");
            }
            // warm up, then repeat for at least 2 s of wall time: the process CPU clock ticks coarsely
            long until = System.nanoTime() + 500_000_000L;
            for (int warm = 0; warm < 3 || System.nanoTime() < until; warm++) {
                op.run();
            }
            long c = ForwardBench.cpuNanos();
            long t = System.nanoTime();
            int reps = 0;
            while (reps < 3 || System.nanoTime() - t < 2_000_000_000L) {
                op.run();
                reps++;
            }
            double cpu = (ForwardBench.cpuNanos() - c) / 1e9;
            double wall = (System.nanoTime() - t) / 1e9;
            System.out.printf("%-4s n=%d K=%d M=%d: %.1f GFLOP per CPU-second, %.1f GFLOP/s wall, %.2f ms/call%n", form,
                    n, k, m, flop * reps / cpu / 1e9, flop * reps / wall / 1e9, wall * 1e3 / reps);
        }
    }
}
