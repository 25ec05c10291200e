package ai.safetune.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/**
 * The GPU benchmark's command line and a CPU dry run of it (tiny shape), so the device script's flags are known
 * to work before a GPU session spends its minutes on them. Runs without a GPU.
 */
class LoraTrainBenchTest {

    @Test
    void parsesPositionalsAndFlags() {
        LoraTrainBench.Args a = LoraTrainBench.Args.parse(
                "cuda llama-1b 4 512 1 3 bf16 --precision bf16-tiled --optimizer host".split(" "));
        assertThat(a.backend()).isEqualTo("cuda");
        assertThat(a.shape()).isEqualTo("llama-1b");
        assertThat(a.batch()).isEqualTo(4);
        assertThat(a.seq()).isEqualTo(512);
        assertThat(a.warmup()).isEqualTo(1);
        assertThat(a.steps()).isEqualTo(3);
        assertThat(a.bf16Weights()).isTrue();
        assertThat(a.precision()).isEqualTo(CudaPrecision.BF16_TILED);
        assertThat(a.optimizer()).isEqualTo(LoraTrainBench.Optimizer.HOST);
        // the old positional form still works; defaults: bf16 weights, f32 precision, device optimizer
        LoraTrainBench.Args old = LoraTrainBench.Args.parse("cuda smollm2-135m 4 512 2 5".split(" "));
        assertThat(old.bf16Weights()).isTrue();
        assertThat(old.precision()).isEqualTo(CudaPrecision.F32);
        assertThat(old.optimizer()).isEqualTo(LoraTrainBench.Optimizer.DEVICE);
        LoraTrainBench.Args flagsFirst = LoraTrainBench.Args.parse(
                "--precision bf16 cuda tiny 1 16 0 1 f32".split(" "));
        assertThat(flagsFirst.precision()).isEqualTo(CudaPrecision.BF16);
        assertThat(flagsFirst.bf16Weights()).isFalse();
    }

    @Test
    void badCommandLinesSayWhatIsWrong() {
        assertThatThrownBy(() -> LoraTrainBench.Args.parse("cuda tiny 1 16 0 1 --precision fp8".split(" ")))
                .hasMessageContaining("'fp8'").hasMessageContaining("f32, bf16, bf16-tiled");
        assertThatThrownBy(() -> LoraTrainBench.Args.parse("cuda tiny 1 16 0 1 --optimizer gpu".split(" ")))
                .hasMessageContaining("'gpu'").hasMessageContaining("device, host");
        assertThatThrownBy(() -> LoraTrainBench.Args.parse("cuda tiny 1 16 0 1 --precision".split(" ")))
                .hasMessageContaining("--precision needs a value");
        assertThatThrownBy(() -> LoraTrainBench.Args.parse("cuda tiny 1 16 0 1 --fast".split(" ")))
                .hasMessageContaining("unknown option --fast");
        assertThatThrownBy(() -> LoraTrainBench.Args.parse("cuda tiny 1 16".split(" ")))
                .hasMessageContaining("expected 6 or 7 positional arguments, got 4");
        assertThatThrownBy(() -> LoraTrainBench.Args.parse("tpu tiny 1 16 0 1".split(" ")))
                .hasMessageContaining("cuda or cpu");
        assertThatThrownBy(() -> LoraTrainBench.Args.parse("cuda gpt2 1 16 0 1".split(" ")))
                .hasMessageContaining("unknown shape gpt2");
        assertThatThrownBy(() -> LoraTrainBench.Args.parse("cuda tiny 1 16 0 0".split(" ")))
                .hasMessageContaining("STEPS must be > 0");
        assertThatThrownBy(() -> LoraTrainBench.Args.parse("cuda tiny x 16 0 1".split(" ")))
                .hasMessageContaining("BATCH must be a non-negative integer, got 'x'");
        assertThatThrownBy(() -> LoraTrainBench.Args.parse("cuda tiny 1 16 0 1 fp16".split(" ")))
                .hasMessageContaining("bf16 or f32");
        assertThatThrownBy(() -> LoraTrainBench.Args.parse("cpu tiny 1 16 0 1 --precision bf16".split(" ")))
                .hasMessageContaining("cuda backend only");
    }

    @Test
    void cpuDryRunOfBothOptimizerPathsTrainsIdentically() {
        // on the CPU backend the device optimizer runs the Backend host defaults = AdamW's arithmetic: same losses
        LoraTrainBench.Result device = LoraTrainBench.run(LoraTrainBench.Args.parse(
                "cpu tiny 1 16 0 3 f32 --optimizer device".split(" ")));
        LoraTrainBench.Result host = LoraTrainBench.run(LoraTrainBench.Args.parse(
                "cpu tiny 1 16 0 3 f32 --optimizer host".split(" ")));
        assertThat(device.finalLoss()).isFinite().isEqualTo(host.finalLoss());
        assertThat(device.tokensPerSecond()).isPositive();
        assertThat(device.mfu6p()).isPositive();
    }
}
