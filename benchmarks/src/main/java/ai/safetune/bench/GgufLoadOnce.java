package ai.safetune.bench;

import ai.safetune.model.ModelFiles;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;

/**
 * The first model load in a fresh JVM, as a CLI command sees it: wall time and the loading thread's CPU time
 * (CPU time stays meaningful on a shared, overloaded machine where wall time mostly measures waiting).
 * <pre>java -cp benchmarks/target/benchmarks.jar ai.safetune.bench.GgufLoadOnce [PATH]</pre>
 */
public final class GgufLoadOnce {
    private GgufLoadOnce() {
    }

    public static void main(String[] args) {
        Path p = Path.of(args.length > 0 ? args[0] : "../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf");
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        long c0 = threads.getCurrentThreadCpuTime();
        long t0 = System.nanoTime();
        int n;
        try (ModelFiles m = ModelFiles.open(p)) {
            n = m.weights().names().size();
        }
        long t1 = System.nanoTime();
        long c1 = threads.getCurrentThreadCpuTime();
        System.out.printf("%s: %d weights; first load %.0f ms wall, %.0f ms CPU (loading thread)%n", p.getFileName(), n,
                (t1 - t0) / 1e6, (c1 - c0) / 1e6);
    }
}
