package ai.safetune.cli;

import ai.safetune.model.ModelFiles;
import ai.safetune.train.ModelMerger;
import ai.safetune.train.PeftAdapter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code safetune merge}: fold a PEFT LoRA adapter into its base and write a Hugging Face model directory. */
@Command(name = "merge", mixinStandardHelpOptions = true,
        description = {"Merge a PEFT LoRA adapter into its base model (W' = W + scaling*B*A).",
            "Writes model.safetensors (fp32), config.json and the tokenizer files; transformers loads the folder."})
public final class MergeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "PATH", description = "The base: a .gguf file or a Hugging Face model directory.")
    Path model;

    @Option(names = "--adapter", required = true, paramLabel = "DIR", description = "PEFT adapter (adapter_config.json + adapter_model.safetensors).")
    Path adapter;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder for the merged model.")
    Path out;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (!Files.exists(model)) {
            throw new IllegalArgumentException("--model " + model + ": no such file or directory");
        }
        PeftAdapter a = PeftAdapter.load(adapter);
        try (ModelFiles base = ModelFiles.open(model)) {
            ModelMerger.merge(base, a, out);
        }
        spec.commandLine().getErr().println("wrote the merged model to " + out);
        return 0;
    }
}
