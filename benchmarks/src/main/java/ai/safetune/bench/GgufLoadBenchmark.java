package ai.safetune.bench;

import ai.safetune.model.ModelFiles;
import ai.safetune.model.ModelWeights;
import ai.safetune.model.Weight;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Time to open a model: {@code ModelFiles.open} on the SmolLM2 GGUF (header + metadata incl. 49k tokens and
 * 49k merges, 272 tensor infos validated, every tensor memory-mapped, shapes checked) and close it.
 * {@code openAndTouch} also expands one row of every weight, so each mapping is really paged in.
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar GgufLoadBenchmark -f 3 -wi 3 -i 5          # warm JVM
 * java -jar benchmarks/target/benchmarks.jar GgufLoadBenchmark.open -bm ss -f 5 -wi 0 -i 1  # first load in a fresh JVM
 * </pre>
 * The model path defaults to {@code ../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf}; override with {@code -p model=PATH}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class GgufLoadBenchmark {
    @Param({"../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf"})
    public String model;

    private Path path;

    @Setup
    public void setup() {
        path = Path.of(model);
        if (!Files.exists(path)) {
            throw new IllegalStateException("model not found: " + path.toAbsolutePath() + " (run from the repository root or pass -p model=PATH)");
        }
    }

    @Benchmark
    public int open() {
        try (ModelFiles m = ModelFiles.open(path)) {
            return m.weights().names().size() + m.config().hiddenSize();
        }
    }

    @Benchmark
    public float openAndTouch() {
        try (ModelFiles m = ModelFiles.open(path)) {
            ModelWeights w = m.weights();
            float s = 0;
            for (String n : w.names()) {
                Weight t = w.get(n);
                float[] row = new float[t.cols()];
                t.dequantizeRows(t.rows() - 1, 1, row, 0);
                s += row[0];
            }
            return s;
        }
    }
}
