package ai.safetune.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The model options the {@code logits} and {@code generate} commands share, and opening the model with them. */
final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "PATH", description = "A .gguf file or a Hugging Face model directory.")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "A PEFT LoRA adapter directory applied to the model.")
    Path adapter;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: all cores).")
    int threads;

    @Option(names = "--dequantize", description = "Expand quantized weights to fp32 once (faster, about 4-8x the memory of "
            + "the quantized file); by default they stay quantized and are expanded per tile.")
    boolean dequantize;

    void validate() {
        if (threads < 0) {
            throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
        }
    }

    ModelRuntime open() {
        return new ModelRuntime(model, adapter, threads, dequantize);
    }
}
