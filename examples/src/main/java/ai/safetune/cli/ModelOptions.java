package ai.safetune.cli;

import ai.safetune.backend.BackendOptions;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The model options the {@code logits} and {@code generate} commands share, and opening the model with them. */
final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "PATH", description = "A .gguf file or a Hugging Face model directory.")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "A PEFT LoRA adapter directory applied to the model.")
    Path adapter;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: all cores).")
    int threads;

    @Option(names = "--backend", paramLabel = "auto|cpu|cuda", defaultValue = "auto",
            description = "Where the Java forward runs: cuda, cpu, or auto (SAFETUNE_BACKEND / -Dsafetune.backend if set, else "
                    + "a GPU when one is usable; default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--dequantize", description = "Expand quantized weights to fp32 once (faster, about 4-8x the memory of "
            + "the quantized file); by default they stay quantized and are expanded per tile.")
    boolean dequantize;

    void validate() {
        if (threads < 0) {
            throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
        }
        backendOptions();
    }

    /** The backend flags: a named backend, or auto; checked in {@link #validate()}, before the model opens. */
    BackendOptions backendOptions() {
        return backendOptions(backend, threads, Map.of());
    }

    /** {@code --backend} (auto, cpu or cuda; checked) with a thread count and provider settings. */
    static BackendOptions backendOptions(String backend, int threads, Map<String, String> settings) {
        String b = backend == null ? "auto" : backend.trim().toLowerCase(Locale.ROOT);
        if (!List.of("auto", "cpu", "cuda").contains(b)) {
            throw new IllegalArgumentException("--backend must be auto, cpu or cuda, got '" + backend + "'");
        }
        return new BackendOptions(threads, b, settings);
    }

    ModelRuntime open() {
        return new ModelRuntime(model, adapter, backendOptions(), dequantize);
    }
}
