package ai.safetune.bench;

import ai.safetune.model.ModelFiles;
import ai.safetune.model.Weight;
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
import org.openjdk.jmh.annotations.TearDown;

/**
 * Expanding a whole quantized weight of SmolLM2 to fp32 with {@code Weight.dequantizeRows}, one thread:
 * {@code mlp.up_proj} (Q4_1, 1536 × 576) and a slice of the embedding (Q8_0, 1536 × 576 rows), and the Q/K path
 * through the un-permuting row map. Divide 884,736 elements by the time for elements per second.
 * <pre>java -jar benchmarks/target/benchmarks.jar DequantBenchmark -f 1 -wi 3 -i 5</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class DequantBenchmark {
    @Param({"../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf"})
    public String model;

    private ModelFiles files;
    private Weight q41;
    private Weight q80;
    private Weight qProj;
    private final float[] out = new float[1536 * 576];

    @Setup
    public void setup() {
        files = ModelFiles.open(Path.of(model));
        q41 = files.weights().get("model.layers.0.mlp.up_proj.weight");
        q80 = files.weights().get("model.embed_tokens.weight");
        qProj = files.weights().get("model.layers.0.self_attn.q_proj.weight");
    }

    @TearDown
    public void tearDown() {
        files.close();
    }

    @Benchmark
    public float q4_1() {
        q41.dequantizeRows(0, 1536, out, 0);
        return out[7];
    }

    @Benchmark
    public float q8_0() {
        q80.dequantizeRows(1000, 1536, out, 0);
        return out[7];
    }

    /** 576 × 576 Q4_1 through the row map (elements: 331,776). */
    @Benchmark
    public float q4_1Unpermuted() {
        qProj.dequantizeRows(0, 576, out, 0);
        return out[7];
    }
}
