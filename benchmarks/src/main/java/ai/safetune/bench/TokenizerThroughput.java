package ai.safetune.bench;

import ai.safetune.tokenizer.Tokenizer;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.List;

/**
 * Single-thread encode throughput in tokens per second of this thread's CPU time as well as wall time:
 * on a shared, overloaded box the CPU-time figure is what one core does. Same corpus as
 * {@link TokenizerBenchmark} (2,000 GSM8K items); "cold" clears the piece cache before every pass.
 * <pre>
 * java -Dsafetune.shared=../shared -cp benchmarks/target/benchmarks.jar ai.safetune.bench.TokenizerThroughput [passes]
 * </pre>
 */
public final class TokenizerThroughput {
    private TokenizerThroughput() {
    }

    public static void main(String[] args) throws Exception {
        int passes = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        Tokenizer tok = Tokenizer.fromHfFiles(TokenizerBenchmark.shared().resolve("models/tiny-llama"));
        List<String> docs = TokenizerBenchmark.gsm8k(2000);
        long chars = docs.stream().mapToLong(String::length).sum();
        for (boolean cold : new boolean[] {false, true}) {
            run(tok, docs, cold, passes / 2);           // warm-up: JIT
            long[] r = run(tok, docs, cold, passes);
            double cpu = r[1] / 1e9;
            double wall = r[2] / 1e9;
            System.out.printf("%-5s %d docs, %d chars, %d tokens: %.0f tokens/s CPU (%.2f s CPU), %.0f tokens/s wall%n",
                    cold ? "cold" : "warm", docs.size(), chars * passes, r[0], r[0] / cpu, cpu, r[0] / wall);
        }
    }

    /** {tokens, thread CPU ns, wall ns}. */
    static long[] run(Tokenizer tok, List<String> docs, boolean cold, int passes) {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        long tokens = 0;
        long cpu0 = mx.getCurrentThreadCpuTime();
        long wall0 = System.nanoTime();
        for (int p = 0; p < passes; p++) {
            if (cold) {
                tok.clearCache();
            }
            for (String d : docs) {
                tokens += tok.encode(d).length;
            }
        }
        return new long[] {tokens, mx.getCurrentThreadCpuTime() - cpu0, System.nanoTime() - wall0};
    }
}
