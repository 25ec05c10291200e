package ai.safetune.bench;

import ai.safetune.backend.Backend;
import ai.safetune.backend.BackendOptions;
import ai.safetune.backend.Backends;
import ai.safetune.backend.Tensor;
import ai.safetune.model.LlamaLayout;
import ai.safetune.model.ModelConfig;
import ai.safetune.model.ModelWeights;
import ai.safetune.model.SyntheticLlama;
import ai.safetune.model.TokenBatch;
import ai.safetune.train.BackendAdamW;
import ai.safetune.train.LoraConfig;
import ai.safetune.train.LoraTrainingModel;
import ai.safetune.train.PeftAdapter;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One LoRA training step as FineTuner runs it (zero gradients, forward + backward, gradient norm, clipped AdamW on
 * the backend) on random weights in a real shape ({@link SyntheticLlama}), on the backend named by {@code backend}
 * (in its {@code BackendOptions}; {@code cuda} needs the native module's kernel library and a GPU, and reads
 * {@code precision}, {@code bf16Copies} and {@code bf16Rank}). Time per step; tokens/s = batch·seq / that. The same step as the GPU script's
 * {@code LoraTrainBench} (which prints PEFT's side next to it), under JMH:
 * <pre>java -jar benchmarks/target/benchmarks.jar LoraStepBenchmark -p backend=cuda -p shape=llama-1b -p seq=512 -p precision=bf16</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 5)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class LoraStepBenchmark {
    @Param({"cpu"})
    public String backend;
    @Param({"tiny"})
    public String shape;
    @Param({"4"})
    public int batch;
    @Param({"128"})
    public int seq;
    /** The CUDA backend's arithmetic (f32, bf16, bf16-tiled); ignored by the CPU backend. */
    @Param({"f32"})
    public String precision;
    @Param({"16"})
    public int rank;
    /** bf16 only: the bf16 copies of norm/SwiGLU/loss-gradient outputs for the frozen GEMMs ({@code -Dsafetune.cuda.bf16Copies}). */
    @Param({"false"})
    public boolean bf16Copies;
    /** bf16 only: the LoRA rank-r products on bf16 activations ({@code -Dsafetune.cuda.bf16Rank}). */
    @Param({"false"})
    public boolean bf16Rank;
    /** LoRA dropout (0 = off); with dropout each step draws new masks, as FineTuner does per micro-batch. */
    @Param({"0"})
    public double dropout;

    private Backend be;
    private ModelWeights weights;
    private LoraTrainingModel model;
    private BackendAdamW optimizer;
    private TokenBatch tokens;
    private int[] targets;
    private int lossTokens;
    private long dropoutKey;

    @Setup(Level.Trial)
    public void setUp() {
        ModelConfig c = SyntheticLlama.shape(shape);
        System.setProperty("safetune.cuda.bf16Copies", String.valueOf(bf16Copies));  // read when the backend is made
        System.setProperty("safetune.cuda.bf16Rank", String.valueOf(bf16Rank));
        // the backend and its precision named in the options (cuda.precision is the CUDA provider's setting)
        be = Backends.select(new BackendOptions(0, backend, Map.of("cuda.precision", precision)));
        weights = SyntheticLlama.weights(c, true, 42);
        LoraConfig lora = LoraConfig.builder().r(rank).alpha(2 * rank).dropout(dropout)
                .targetModules(LoraConfig.ALL_LINEAR).build();
        model = new LoraTrainingModel(c, weights, be, PeftAdapter.init(c, lora, 7), false);
        optimizer = new BackendAdamW(be, model.parameterSizes(), 0.9, 0.999, 1e-8, 0.0);
        tokens = SyntheticLlama.randomBatch(c, batch, seq, 1);
        targets = LoraTrainingModel.shiftLabels(tokens.ids(), batch, seq);
        for (int t : targets) {
            lossTokens += t >= 0 ? 1 : 0;
        }
        System.out.println("# " + be.description() + "; " + shape + " " + c + "; " + LlamaLayout.class.getSimpleName()
                + " tensors " + LlamaLayout.expectedShapes(c).size());
    }

    @Benchmark
    public double step() {
        model.zeroGradients();
        double loss = model.forwardBackward(tokens, targets, 1f / lossTokens, ++dropoutKey).lossSum();
        List<Tensor> grads = model.gradientTensors();
        double norm = optimizer.gradNorm(grads);  // reads one number back: waits for the step's queued work
        optimizer.step(model.parameterTensors(), grads, 1e-4, BackendAdamW.clipScale(norm, 1.0));
        return loss;
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        optimizer.close();
        model.close();
        be.close();
        weights.close();
    }
}
