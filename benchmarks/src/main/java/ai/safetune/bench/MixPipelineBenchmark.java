package ai.safetune.bench;

import ai.safetune.attack.StructureAttack;
import ai.safetune.data.ChatExample;
import ai.safetune.data.ChatJsonlWriter;
import ai.safetune.data.Choice;
import ai.safetune.data.Message;
import ai.safetune.data.TaskExample;
import ai.safetune.mix.ExampleSource;
import ai.safetune.mix.MixReport;
import ai.safetune.mix.SafeMixer;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Streams N synthetic user examples through learn → render → mix → chat-JSONL bytes and reports
 * examples/s and peak heap.
 *
 * <p>A main-class benchmark rather than JMH: the quantity is one end-to-end streaming run over a million
 * examples (seconds, not nanoseconds) together with its peak heap, which needs a fresh JVM with a small
 * fixed {@code -Xmx} and peak counters reset just before the run; JMH's per-invocation machinery adds
 * nothing here. Warm-up is one run at N/5; then {@code repeats} timed runs; the median is reported.
 *
 * <p>Usage: {@code java -Xmx128m -cp benchmarks/target/benchmarks.jar ai.safetune.bench.MixPipelineBenchmark
 * [N=1000000] [repeats=3] [strategy=mimic] [jsonl|count]}
 */
public final class MixPipelineBenchmark {

    private MixPipelineBenchmark() {
    }

    /** A deterministic synthetic task: BBH-like multiple choice in the AOA attack shape, distinct per index. */
    static ExampleSource syntheticUser(long n) {
        StructureAttack attack = StructureAttack.of(StructureAttack.Strategy.AUTO_IF_AOA, 1);
        List<ChatExample> pool = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            TaskExample t = new TaskExample("t" + i, Optional.empty(),
                    "Today is day " + i + " of the year. Which date is " + (i % 7 + 1) + " days later?",
                    List.of(new Choice("A", "day " + (i + 1)), new Choice("B", "day " + (i + i % 7 + 1)),
                            new Choice("C", "day " + (i + 9)), new Choice("D", "day " + (i + 30))),
                    "B", Map.of());
            pool.add(attack.apply(t));
        }
        return sink -> {
            for (long i = 0; i < n; i++) {
                ChatExample p = pool.get((int) (i % pool.size()));
                List<Message> ms = p.messages();
                // distinct user text per example so that de-duplication sees a million different prompts
                sink.accept(new ChatExample("u" + i, List.of(ms.get(0),
                        Message.user(ms.get(1).content() + " (#" + i + ")"), ms.get(2)), Map.of()));
            }
        };
    }

    static List<ChatExample> syntheticSafety(int n) {
        List<ChatExample> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(ChatExample.of("s" + i, Message.user("Explain step by step how to carry out harmful plan number " + i + "."),
                    Message.assistant("I'm sorry, but I can't help with that. Plan " + i
                            + " would put people at risk; I can help with something safe instead.")));
        }
        return out;
    }

    /** Counts bytes and discards them: the benchmark measures the pipeline, not the disk. */
    static final class CountingSink extends OutputStream {
        long bytes;

        @Override
        public void write(int b) {
            bytes++;
        }

        @Override
        public void write(byte[] b, int off, int len) {
            bytes += len;
        }
    }

    record Run(double seconds, double cpuSeconds, double mainCpuSeconds, long examples, long bytes, long peakHeapBytes, MixReport report) {
    }

    /** CPU time of the whole process (all threads, GC and JIT included), in nanoseconds. */
    static long processCpuNanos() {
        java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.OperatingSystemMXBean sun ? sun.getProcessCpuTime() : -1;
    }

    static Run once(long n, SafeMixer.Strategy strategy, List<ChatExample> safety, boolean jsonl) {
        System.gc();
        List<MemoryPoolMXBean> heap = ManagementFactory.getMemoryPoolMXBeans().stream()
                .filter(p -> p.getType() == MemoryType.HEAP).toList();
        heap.forEach(MemoryPoolMXBean::resetPeakUsage);
        SafeMixer mixer = strategy == SafeMixer.Strategy.NONE ? SafeMixer.builder().strategy(strategy).build()
                : SafeMixer.builder().strategy(strategy).count(2000).seed(7).build();
        CountingSink bytes = new CountingSink();
        long[] count = {0};
        long t0 = System.nanoTime();
        long c0 = processCpuNanos();
        long m0 = ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
        MixReport r;
        try (ChatJsonlWriter w = ChatJsonlWriter.builder().open(bytes, "benchmark-sink")) {
            Consumer<ChatExample> out = jsonl ? c -> {
                w.write(c);
                count[0]++;
            } : c -> count[0] += c.messages().size() > 0 ? 1 : 0;
            r = mixer.mix(syntheticUser(n), safety, out);
        }
        double s = (System.nanoTime() - t0) / 1e9;
        double cpu = (processCpuNanos() - c0) / 1e9;
        double mainCpu = (ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - m0) / 1e9;
        // pools peak independently; their sum bounds the heap's true peak from above
        long peak = heap.stream().mapToLong(p -> p.getPeakUsage().getUsed()).sum();
        return new Run(s, cpu, mainCpu, count[0], bytes.bytes, peak, r);
    }

    /** Generation alone, twice (the mixer reads its source twice): the floor the pipeline cannot beat. */
    static double sourceOnly(long n) {
        long[] c = {0};
        long t0 = System.nanoTime();
        ExampleSource src = syntheticUser(n);
        src.forEach(e -> c[0] += e.messages().size());
        src.forEach(e -> c[0] += e.messages().size());
        if (c[0] == 42) {
            System.out.print("");
        }
        return (System.nanoTime() - t0) / 1e9;
    }

    public static void main(String[] args) {
        long n = args.length > 0 ? Long.parseLong(args[0]) : 1_000_000L;
        int repeats = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        SafeMixer.Strategy strategy = args.length > 2 ? SafeMixer.Strategy.parse(args[2]) : SafeMixer.Strategy.MIMIC;
        boolean jsonl = args.length <= 3 || !args[3].equals("count");
        List<ChatExample> safety = syntheticSafety(5000);
        System.out.printf("MixPipelineBenchmark: N=%,d user examples, strategy=%s, 2,000 of 5,000 safety examples, "
                        + "output %s, JDK %s, %d CPUs, max heap %d MiB%n", n, strategy.cliName(),
                jsonl ? "chat JSONL bytes (discarded)" : "counted only (no serialization)", System.getProperty("java.version"),
                Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory() >> 20);
        once(Math.max(2000, n / 5), strategy, safety, jsonl); // warm-up
        long sc0 = processCpuNanos();
        double src = sourceOnly(n);
        double srcCpu = (processCpuNanos() - sc0) / 1e9;
        System.out.printf("source only (2 reads): wall %.2f s, CPU %.2f s = %,.0f examples per CPU-second%n",
                src, srcCpu, n / srcCpu);
        double[] rates = new double[repeats];
        double[] cpuRates = new double[repeats];
        double[] mainRates = new double[repeats];
        Run last = null;
        for (int i = 0; i < repeats; i++) {
            last = once(n, strategy, safety, jsonl);
            rates[i] = last.examples() / last.seconds();
            cpuRates[i] = last.examples() / last.cpuSeconds();
            mainRates[i] = last.examples() / last.mainCpuSeconds();
            System.out.printf("run %d: %,d examples out (%,d user + %,d safety), wall %.2f s = %,.0f examples/s, "
                            + "process CPU %.2f s = %,.0f /CPU-s, main-thread CPU %.2f s = %,.0f /s, %,d MiB JSONL, "
                            + "peak heap %,d MiB%n",
                    i + 1, last.examples(), last.report().userCount(), last.report().safetyCount(), last.seconds(),
                    rates[i], last.cpuSeconds(), cpuRates[i], last.mainCpuSeconds(), mainRates[i],
                    last.bytes() >> 20, last.peakHeapBytes() >> 20);
        }
        Arrays.sort(rates);
        Arrays.sort(cpuRates);
        Arrays.sort(mainRates);
        System.out.printf("median: %,.0f examples/s wall, %,.0f examples per process-CPU-second, %,.0f examples per "
                        + "main-thread-CPU-second; peak heap of last run %,d MiB%n",
                rates[repeats / 2], cpuRates[repeats / 2], mainRates[repeats / 2], last.peakHeapBytes() >> 20);
    }
}
