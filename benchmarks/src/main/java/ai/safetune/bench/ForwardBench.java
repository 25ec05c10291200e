package ai.safetune.bench;

import ai.safetune.backend.Backend;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.KvCache;
import ai.safetune.model.LlamaModel;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.TokenBatch;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Forward-pass throughput on a real model: prefill tokens/s (batch × length, one forward over all positions'
 * hidden states, logits of the last position) and decode tokens/s (KV cache, one token per row per step).
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar ai.safetune.bench.ForwardBench MODEL [threads] [dequantize] [what...]
 *   what: prefill:B:T  decode:B:N  (default prefill:4:256 decode:1:64 decode:16:64)
 * </pre>
 * Prints one line per measurement and the peak RSS (VmHWM) at the end.
 */
public final class ForwardBench {
    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: ForwardBench MODEL [threads] [dequantize:true|false] [prefill:B:T|decode:B:N ...]");
            System.exit(2);
        }
        Path model = Path.of(args[0]);
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        boolean dequantize = args.length > 2 && Boolean.parseBoolean(args[2]);
        List<String> what = new ArrayList<>();
        for (int i = 3; i < args.length; i++) {
            what.add(args[i]);
        }
        if (what.isEmpty()) {
            what = List.of("prefill:4:256", "decode:1:64", "decode:16:64");
        }
        long t0 = System.nanoTime();
        try (ModelFiles files = ModelFiles.open(model)) {
            double openS = (System.nanoTime() - t0) / 1e9;
            try (Backend be = new CpuBackend(threads)) {
                long t1 = System.nanoTime();
                try (LlamaModel m = LlamaModel.load(files.config(), files.weights(), be, dequantize)) {
                    System.out.printf("model %s open %.3f s, prepare %.3f s, threads %d, dequantize %b%n", model.getFileName(),
                            openS, (System.nanoTime() - t1) / 1e9, threads, dequantize);
                    Random rnd = new Random(1);
                    int vocab = files.config().vocabSize();
                    for (String w : what) {
                        String[] p = w.split(":");
                        int b = Integer.parseInt(p[1]);
                        int n = Integer.parseInt(p[2]);
                        if (p[0].equals("prefill")) {
                            prefill(m, rnd, vocab, b, n);
                        } else if (p[0].equals("decode")) {
                            decode(m, rnd, vocab, b, n);
                        } else {
                            throw new IllegalArgumentException("unknown measurement " + w);
                        }
                    }
                }
            }
        }
        System.out.println("peak RSS " + PeakRss.describe());
    }

    /** CPU time of the whole process: on a shared machine, tokens per CPU-second × threads estimates an idle box. */
    static long cpuNanos() {
        java.lang.management.OperatingSystemMXBean os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) {
            return sun.getProcessCpuTime();
        }
        return 0;
    }

    private static List<int[]> rows(Random rnd, int vocab, int b, int t) {
        List<int[]> rows = new ArrayList<>();
        for (int r = 0; r < b; r++) {
            int[] ids = new int[t];
            for (int i = 0; i < t; i++) {
                ids[i] = rnd.nextInt(vocab);
            }
            rows.add(ids);
        }
        return rows;
    }

    private static void prefill(LlamaModel m, Random rnd, int vocab, int b, int t) {
        TokenBatch batch = TokenBatch.leftPadded(rows(rnd, vocab, b, t), 0);
        for (int rep = 0; rep < 3; rep++) { // first run warms the JIT
            try (KvCache cache = m.newCache(b, t)) {
                long s = System.nanoTime();
                long c = cpuNanos();
                m.forward(cache, batch, LlamaModel.Logits.LAST);
                double sec = (System.nanoTime() - s) / 1e9;
                double cpu = (cpuNanos() - c) / 1e9;
                System.out.printf("prefill %dx%d run %d: %.2f s, %.1f tokens/s (process CPU %.2f s: %.1f tokens per CPU-second)%s%n",
                        b, t, rep, sec, b * t / sec, cpu, b * t / cpu, rep == 0 ? " (warm-up)" : "");
            }
        }
    }

    private static void decode(LlamaModel m, Random rnd, int vocab, int b, int stepsWanted) {
        int promptLen = 16;
        // two full-length warm-up runs (the JIT compiles the decode kernels during the first), then five measured
        // runs, as llama-bench repeats its own; the peer table takes their median
        for (int rep = 0; rep < 7; rep++) {
            int steps = stepsWanted;
            try (KvCache cache = m.newCache(b, promptLen + steps)) {
                m.forward(cache, TokenBatch.leftPadded(rows(rnd, vocab, b, promptLen), 0), LlamaModel.Logits.LAST);
                long s = System.nanoTime();
                long c = cpuNanos();
                for (int i = 0; i < steps; i++) {
                    int[] ids = new int[b];
                    int[] pos = new int[b];
                    int[] mask = new int[b];
                    for (int r = 0; r < b; r++) {
                        ids[r] = rnd.nextInt(vocab);
                        pos[r] = cache.nextPosition(r);
                        mask[r] = 1;
                    }
                    m.forward(cache, new TokenBatch(b, 1, ids, pos, mask), LlamaModel.Logits.LAST);
                }
                double sec = (System.nanoTime() - s) / 1e9;
                double cpu = (cpuNanos() - c) / 1e9;
                System.out.printf("decode batch %d, %d steps run %d: %.2f s, %.1f tokens/s (process CPU %.2f s: %.1f tokens per CPU-second)%s%n",
                        b, steps, rep, sec, b * steps / sec, cpu, b * steps / cpu, rep < 2 ? " (warm-up)" : "");
            }
        }
    }
}
