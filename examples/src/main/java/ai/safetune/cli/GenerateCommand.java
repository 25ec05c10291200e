package ai.safetune.cli;

import ai.safetune.eval.onnx.GenerationConfig;
import ai.safetune.eval.onnx.LlamaOnnxExporter;
import ai.safetune.eval.onnx.OrtEvaluator;
import ai.safetune.generate.Generation;
import ai.safetune.generate.GenerationOptions;
import ai.safetune.generate.Generator;
import ai.safetune.model.ModelFiles;
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
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * {@code safetune generate --model PATH [--adapter DIR] --in F.jsonl --max-new-tokens N (--greedy | --temperature T
 * --top-p P --seed S) --out G.jsonl}: per input line ({@code {"messages"}} rendered with the generation prompt, or
 * {@code {"text"}}) the input plus {@code "generated_ids"} (ending with the EOS token when generation stopped on
 * it) and {@code "text"} (their decoding; a {@code {"text"}} prompt moves to {@code "prompt_text"}). Prompts run in
 * batches; a progress bar goes to stderr.
 *
 * <p>{@code --engine onnx} exports the model (adapter merged) to a temporary ONNX graph and decodes on ONNX Runtime
 * ({@link OrtEvaluator}); greedy output matches the Java engine's, sampled output is reproducible per seed but
 * draws from a different random stream than the Java engine.
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

    @Option(names = "--onnx-precision", paramLabel = "fp32|int8", defaultValue = "fp32",
            description = "with --engine onnx: projection weights of the exported decoder, fp32 (default, exact) or int8 "
                    + "(dynamically quantized activations: faster, approximate)")
    String onnxPrecision;

    @Option(names = "--engine", paramLabel = "java|onnx", defaultValue = "java",
            description = "Forward pass: java (default, this library's CPU/GPU backend) or onnx (ONNX Runtime on an exported graph).")
    String engine;

    @Option(names = "--out", required = true, paramLabel = "G.jsonl", description = "Output JSONL (written whole or not at all).")
    Path out;

    @Override
    public Integer call() throws IOException {
        GenerationOptions base = options();
        if (batchSize <= 0) {
            throw new IllegalArgumentException("--batch-size must be > 0, got " + batchSize);
        }
        modelOptions.validate();
        if (!engine.equals("java") && !engine.equals("onnx")) {
            throw new IllegalArgumentException("--engine must be java or onnx, got '" + engine + "'");
        }
        if (engine.equals("onnx") && modelOptions.dequantize) {
            throw new IllegalArgumentException("--dequantize applies to --engine java only (the ONNX export expands to fp32 itself)");
        }
        if (engine.equals("onnx") && modelOptions.backendOptions().backend() != null) {
            throw new IllegalArgumentException("--backend applies to --engine java only (ONNX Runtime runs on the CPU)");
        }
        LlamaOnnxExporter.Precision precision = EvalCommand.precision(onnxPrecision);
        if (engine.equals("java") && precision != LlamaOnnxExporter.Precision.FP32) {
            throw new IllegalArgumentException("--onnx-precision applies to --engine onnx only");
        }
        ModelRuntime.requireInput(in);
        AtomicOutput.write(out, tmp -> generate(base, tmp));
        return 0;
    }

    private void generate(GenerationOptions base, Path tmp) throws IOException {
        try (ModelRuntime rt = modelOptions.open()) {
            if (engine.equals("java")) {
                rt.model(); // a bad model or adapter fails before the input is read
            }
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
            if (engine.equals("onnx")) {
                generateOnnx(rt, lines, prompts, opts, pad, tmp);
                return;
            }
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
                        writeLine(w, lines.get(start + i), results.get(i).generatedIds(), tok);
                    }
                }
            }
        }
    }

    private void generateOnnx(ModelRuntime rt, List<ObjectNode> lines, List<int[]> prompts, GenerationOptions opts, int pad,
                              Path tmp) throws IOException {
        Tokenizer tok = rt.tokenizer();
        ModelFiles files = rt.files();
        GenerationConfig gc = new GenerationConfig(opts.maxNewTokens(), opts.greedy(), opts.greedy() ? 1.0 : opts.temperature(),
                opts.topP(), opts.topK(), opts.seed(), opts.stopTokenIds(), opts.stopStrings(), batchSize,
                GenerationConfig.Padding.LEFT);
        Path work = Files.createTempDirectory("safetune-generate");
        try {
            PrintWriter err = new PrintWriter(System.err, true);
            Path onnx = EvalCommand.exportModel(files, modelOptions.adapter, work.resolve("model.onnx"), EvalCommand.precision(onnxPrecision), err);
            List<ai.safetune.eval.onnx.Generation> results;
            try (OrtEvaluator ort = new OrtEvaluator(onnx, files.config(), pad, modelOptions.threads);
                 ProgressBar pb = new ProgressBarBuilder().setTaskName("generate").setUnit(" prompts", 1)
                         .setInitialMax(prompts.size()).setStyle(ProgressBarStyle.ASCII)
                         .setConsumer(new ConsoleProgressBarConsumer(System.err)).setUpdateIntervalMillis(500).build()) {
                results = ort.generate(prompts, gc, ids -> tok.decode(ids, false), pb::stepTo);
            }
            try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                for (int i = 0; i < lines.size(); i++) {
                    writeLine(w, lines.get(i), results.get(i).generatedIds(), tok);
                }
            }
        } finally {
            try (Stream<Path> s = Files.walk(work)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static void writeLine(BufferedWriter w, ObjectNode obj, int[] ids, Tokenizer tok) throws IOException {
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
