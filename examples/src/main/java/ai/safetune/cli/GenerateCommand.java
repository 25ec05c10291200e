package ai.safetune.cli;

import ai.safetune.generate.Generation;
import ai.safetune.generate.GenerationOptions;
import ai.safetune.generate.Generator;
import ai.safetune.tokenizer.Tokenizer;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code safetune generate --model PATH [--adapter DIR] --in F.jsonl --max-new-tokens N (--greedy | --temperature T
 * --top-p P --seed S) --out G.jsonl}: per input line ({@code {"messages"}} rendered with the generation prompt, or
 * {@code {"text"}}) the input plus {@code "generated_ids"} (ending with the EOS token when generation stopped on
 * it) and {@code "text"} (their decoding; a {@code {"text"}} prompt moves to {@code "prompt_text"}). Prompts run in
 * batches; a progress bar goes to stderr.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Generate continuations, greedy or sampled, with a KV cache and batched prompts.",
            "Input lines: {\"messages\": [...]} (rendered with the generation prompt) or {\"text\": ...}."})
public final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions = new ModelOptions();

    @Option(names = "--in", required = true, paramLabel = "F.jsonl", description = "Input JSONL.")
    Path in;

    @Option(names = "--max-new-tokens", required = true, paramLabel = "N", description = "Most tokens generated per prompt.")
    int maxNewTokens;

    @Option(names = "--greedy", description = "Take the most likely token at every step.")
    boolean greedy;

    @Option(names = "--temperature", paramLabel = "T", description = "Sample with this temperature (> 0).")
    Double temperature;

    @Option(names = "--top-p", paramLabel = "P", description = "Nucleus sampling mass in (0, 1] (default 1).")
    Double topP;

    @Option(names = "--top-k", paramLabel = "K", description = "Sample among the K most likely tokens (default: all).")
    Integer topK;

    @Option(names = "--seed", paramLabel = "S", description = "Sampling seed (default 0); prompt i uses seed S+i.")
    Long seed;

    @Option(names = "--stop", paramLabel = "STRING", description = "Also stop once the generated text contains this (repeatable).")
    List<String> stop = new ArrayList<>();

    @Option(names = "--batch-size", paramLabel = "B", defaultValue = "8", description = "Prompts per batch (default 8).")
    int batchSize;

    @Option(names = "--out", required = true, paramLabel = "G.jsonl", description = "Output JSONL (written whole or not at all).")
    Path out;

    @Override
    public Integer call() throws IOException {
        GenerationOptions base = options();
        if (batchSize <= 0) {
            throw new IllegalArgumentException("--batch-size must be > 0, got " + batchSize);
        }
        modelOptions.validate();
        ModelRuntime.requireInput(in);
        AtomicOutput.write(out, tmp -> generate(base, tmp));
        return 0;
    }

    private void generate(GenerationOptions base, Path tmp) throws IOException {
        try (ModelRuntime rt = modelOptions.open()) {
            // every line is read and tokenized first, so a malformed line fails before any generation
            List<ObjectNode> lines = new ArrayList<>();
            List<int[]> prompts = new ArrayList<>();
            try (BufferedReader r = Files.newBufferedReader(in, StandardCharsets.UTF_8)) {
                int lineNo = 0;
                for (String line; (line = r.readLine()) != null; ) {
                    lineNo++;
                    if (line.isBlank()) {
                        continue;
                    }
                    String where = in + " line " + lineNo;
                    ObjectNode obj = ModelRuntime.parse(line, where);
                    if (!obj.has("messages") && !obj.has("text")) {
                        throw new IllegalArgumentException(where + ": expected a \"messages\" or \"text\" field");
                    }
                    prompts.add(rt.ids(obj, where, false));
                    lines.add(obj);
                }
            }
            Tokenizer tok = rt.tokenizer();
            GenerationOptions opts = withStops(base, tok);
            int pad = tok.padId() >= 0 ? tok.padId() : Math.max(tok.eosId(), 0);
            Generator gen = new Generator(rt.model(), pad, ids -> tok.decode(ids, false));
            try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8);
                 ProgressBar pb = new ProgressBarBuilder().setTaskName("generate").setUnit(" tok", 1)
                         .setInitialMax((long) prompts.size() * opts.maxNewTokens()).setStyle(ProgressBarStyle.ASCII)
                         .setConsumer(new ConsoleProgressBarConsumer(System.err)).setUpdateIntervalMillis(500).build()) {
                for (int start = 0; start < prompts.size(); start += batchSize) {
                    int end = Math.min(prompts.size(), start + batchSize);
                    long done = (long) start * opts.maxNewTokens();
                    int rows = end - start;
                    List<Generation> results = gen.generate(prompts.subList(start, end), opts.withSeed(opts.seed() + start),
                            running -> pb.stepBy(running));
                    pb.stepTo(done + (long) rows * opts.maxNewTokens());
                    for (int i = 0; i < rows; i++) {
                        ObjectNode obj = lines.get(start + i);
                        int[] ids = results.get(i).generatedIds();
                        ArrayNode a = obj.putArray("generated_ids");
                        for (int id : ids) {
                            a.add(id);
                        }
                        if (obj.has("text")) {
                            // the contract's output "text" is the generation; keep the prompt beside it
                            obj.set("prompt_text", obj.get("text"));
                        }
                        obj.put("text", tok.decode(ids, false));
                        w.write(ModelRuntime.JSON.writeValueAsString(obj));
                        w.write('\n');
                    }
                }
            }
        }
    }

    private GenerationOptions options() {
        if (maxNewTokens <= 0) {
            throw new IllegalArgumentException("--max-new-tokens must be > 0, got " + maxNewTokens);
        }
        GenerationOptions.Builder b = GenerationOptions.builder().maxNewTokens(maxNewTokens).stopStrings(stop);
        if (greedy) {
            if (temperature != null || topP != null || topK != null || seed != null) {
                throw new IllegalArgumentException("--greedy cannot be combined with --temperature, --top-p, --top-k or --seed");
            }
            return b.greedy().build();
        }
        if (temperature == null) {
            throw new IllegalArgumentException("give --greedy, or --temperature T (with optional --top-p P --top-k K --seed S)");
        }
        if (!(temperature > 0)) {
            throw new IllegalArgumentException("--temperature must be > 0, got " + temperature);
        }
        if (topP != null && !(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
        }
        if (topK != null && topK < 0) {
            throw new IllegalArgumentException("--top-k must be >= 0, got " + topK);
        }
        return b.temperature(temperature).topP(topP == null ? 1.0 : topP).topK(topK == null ? 0 : topK)
                .seed(seed == null ? 0 : seed).build();
    }

    private static GenerationOptions withStops(GenerationOptions o, Tokenizer tok) {
        Set<Integer> stops = tok.eosId() >= 0 ? Set.of(tok.eosId()) : Set.of();
        return new GenerationOptions(o.maxNewTokens(), o.greedy(), o.temperature(), o.topP(), o.topK(), o.seed(),
                stops, o.stopStrings());
    }
}
