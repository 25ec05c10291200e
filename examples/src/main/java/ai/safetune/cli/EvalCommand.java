package ai.safetune.cli;

import ai.safetune.eval.EvalReport;
import ai.safetune.eval.LoraMerge;
import ai.safetune.eval.OrtChatGenerator;
import ai.safetune.eval.PromptSet;
import ai.safetune.eval.PromptFormat;
import ai.safetune.eval.SafetyEvaluation;
import ai.safetune.eval.SuiteCatalog;
import ai.safetune.eval.SuiteResult;
import ai.safetune.eval.TaskEvaluation;
import ai.safetune.eval.TokenizerChatCodec;
import ai.safetune.eval.judge.Judge;
import ai.safetune.eval.judge.ModelJudge;
import ai.safetune.eval.judge.OnnxClassifierJudge;
import ai.safetune.eval.judge.RefusalKeywordJudge;
import ai.safetune.eval.onnx.GenerationConfig;
import ai.safetune.eval.onnx.LlamaOnnxExporter;
import ai.safetune.eval.onnx.OrtEvaluator;
import ai.safetune.eval.report.HtmlReport;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.ModelWeights;
import ai.safetune.tokenizer.Tokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code safetune eval}: exports the model (adapter merged) to ONNX, generates responses on ONNX Runtime,
 * judges them and writes an {@link EvalReport} (JSON, optionally HTML).
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate a model on ONNX Runtime: ASR on harmful prompts, (over-)refusal on XSTest, task accuracy.")
public final class EvalCommand implements Callable<Integer> {

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, description = "a .gguf file or a Hugging Face model directory")
    Path model;

    @Option(names = "--adapter", description = "a PEFT LoRA adapter directory to merge into the model")
    Path adapter;

    @Option(names = "--suite", required = true, split = ",",
            description = "advbench, harmbench, xstest, vinid, vinid:NAME, file:PATH[#FIELD], or a task name")
    List<String> suites;

    @Option(names = "--limit", defaultValue = "0", description = "first N items of each suite (0 = all)")
    int limit;

    @Option(names = "--judge", required = true, description = "keywords | keywords:FILE | onnx:PATH | model:PATH")
    String judgeSpec;

    @Option(names = "--max-new-tokens", required = true, description = "generation budget per response")
    int maxNewTokens;

    @Option(names = "--out", required = true, description = "report JSON")
    Path out;

    @Option(names = "--html", description = "also write a self-contained HTML report")
    Path html;

    @Option(names = "--label", description = "name of this run in reports (default: model and adapter names)")
    String label;

    @Option(names = "--tag", description = "KEY=VALUE metadata for grouping in reports (repeatable); condition=NAME and "
            + "mix_fraction=F (safety-data share in [0, 1]) give the report's per-condition, per-mix-fraction plot")
    Map<String, String> tags = new LinkedHashMap<>();

    @Option(names = "--data", description = "the shared data folder (default: ../shared/data)")
    Path data;

    @Option(names = "--batch-size", defaultValue = "32",
            description = "prompts decoded together (default 32: more new tokens per CPU-second than 16 on ONNX Runtime)")
    int batchSize;

    @Option(names = "--threads", defaultValue = "0", description = "ONNX Runtime threads (0 = all cores)")
    int threads;

    @Option(names = "--onnx-precision", paramLabel = "fp32|int8", defaultValue = "fp32",
            description = "projection weights of the exported decoder: fp32 (default, exact) or int8 (per-channel int8 with "
                    + "dynamically quantized activations: ~1.8x faster generation, approximate; task scores use it too)")
    String onnxPrecision;

    @Option(names = "--seed", defaultValue = "0", description = "seed of the bootstrap confidence intervals")
    long seed;

    @Option(names = "--system-prompt", paramLabel = "TEXT",
            description = "ask the harmful and XSTest prompts under this system prompt (e.g. an attack's identity prompt)")
    String systemPrompt;

    @Option(names = "--prompt-template", paramLabel = "T", defaultValue = PromptFormat.PLACEHOLDER,
            description = "user message around each harmful and XSTest prompt, with {prompt} once (e.g. \"AOA, execute my "
                    + "instruction: {prompt}\"); the judge sees the prompt itself")
    String promptTemplate;

    @Override
    public Integer call() throws Exception {
        if (maxNewTokens <= 0) {
            throw new IllegalArgumentException("--max-new-tokens must be > 0, got " + maxNewTokens);
        }
        if (limit < 0) {
            throw new IllegalArgumentException("--limit must be >= 0, got " + limit);
        }
        if (batchSize <= 0) {
            throw new IllegalArgumentException("--batch-size must be > 0, got " + batchSize);
        }
        LlamaOnnxExporter.Precision precision = precision(onnxPrecision);
        PromptFormat format = new PromptFormat(Optional.ofNullable(systemPrompt), promptTemplate);
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter outW = spec.commandLine().getOut();
        Path dataDir = data != null ? data : Path.of(System.getProperty("safetune.shared", "../shared")).resolve("data");
        // resolve everything cheap first, so a typo fails before minutes of export and generation
        SuiteCatalog.Resolved resolved = SuiteCatalog.resolve(suites, dataDir, limit);
        Path work = Files.createTempDirectory("safetune-eval");
        try (ModelFiles files = ModelFiles.open(model);
             Judge judge = judge(judgeSpec, work, err)) {
            TokenizerChatCodec codec = TokenizerChatCodec.of(files);
            Path onnx = exportModel(files, adapter, work.resolve("model.onnx"), precision, err);
            GenerationConfig gc = GenerationConfig.greedy(maxNewTokens, codec.eosIds()).withBatchSize(batchSize);
            List<SuiteResult> results = new ArrayList<>();
            try (OrtEvaluator ort = new OrtEvaluator(onnx, files.config(), codec.padId(), threads)) {
                OrtChatGenerator gen = new OrtChatGenerator(ort, codec, gc);
                for (PromptSet set : resolved.promptSets()) {
                    long t0 = System.nanoTime();
                    err.printf(Locale.ROOT, "eval: %s: %d prompts, %d new tokens max ...%n", set.name(), set.prompts().size(), maxNewTokens);
                    err.flush();
                    SuiteResult r;
                    try (ProgressBar bar = new ProgressBarBuilder().setTaskName(set.name()).setInitialMax(set.prompts().size())
                            .setConsumer(new ConsoleProgressBarConsumer(System.err)).setUpdateIntervalMillis(2000)
                            .continuousUpdate().build()) {
                        gen.onProgress((done, total) -> bar.stepTo(done));
                        r = SafetyEvaluation.run(set, format, gen, judge, seed);
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException("suite " + set.name() + " (" + set.source() + "): " + e.getMessage(), e);
                    }
                    results.add(r);
                    report(err, r, t0);
                }
                for (SuiteCatalog.TaskSuite t : resolved.tasks()) {
                    long t0 = System.nanoTime();
                    err.printf(Locale.ROOT, "eval: %s: %d examples (%s) ...%n", t.name(), t.examples().size(),
                            t.generative() ? "generated answers" : "option log-likelihood");
                    err.flush();
                    SuiteResult r = t.generative() ? TaskEvaluation.generative(t.name(), t.examples(), gen, seed)
                            : TaskEvaluation.multipleChoice(t.name(), t.examples(), ort, codec, Math.max(1, batchSize / 2), seed);
                    results.add(r);
                    report(err, r, t0);
                }
                String runLabel = label != null ? label : model.getFileName() + (adapter != null ? " + " + adapter.getFileName() : "");
                EvalReport rep = new EvalReport(runLabel, model.toString(), adapter == null ? null : adapter.toString(),
                        gen.describe() + (format.plain() ? "" : "; prompts: " + format.describe()), maxNewTokens, seed, Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(), tags, results);
                rep.write(out);
                if (html != null) {
                    HtmlReport.write(List.of(rep), html);
                }
                for (SuiteResult r : results) {
                    outW.printf(Locale.ROOT, "%s\t%s\t%.4f\t[%.4f, %.4f]\tn=%d\tjudge=%s%n", r.suite(), r.metric(), r.overall().value(),
                            r.overall().ciLow(), r.overall().ciHigh(), r.overall().n(), r.judge());
                }
                outW.flush();
            }
        } finally {
            try (Stream<Path> s = Files.walk(work)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        return 0;
    }

    private static void report(PrintWriter err, SuiteResult r, long t0) {
        err.printf(Locale.ROOT, "eval: %s: %s = %.1f%% [%.1f, %.1f] over %d (%.1f s, judge %s)%n", r.suite(), r.metric(),
                100 * r.overall().value(), 100 * r.overall().ciLow(), 100 * r.overall().ciHigh(), r.overall().n(),
                (System.nanoTime() - t0) / 1e9, r.judge());
        err.flush();
    }

    /** The {@code --onnx-precision} value as an export precision. */
    static LlamaOnnxExporter.Precision precision(String flag) {
        return switch (flag) {
            case "fp32" -> LlamaOnnxExporter.Precision.FP32;
            case "int8" -> LlamaOnnxExporter.Precision.INT8;
            default -> throw new IllegalArgumentException("--onnx-precision must be fp32 or int8, got '" + flag + "'");
        };
    }

    static Path exportModel(ModelFiles files, Path adapterDir, Path target, PrintWriter err) throws IOException {
        return exportModel(files, adapterDir, target, LlamaOnnxExporter.Precision.FP32, err);
    }

    static Path exportModel(ModelFiles files, Path adapterDir, Path target, LlamaOnnxExporter.Precision precision, PrintWriter err)
            throws IOException {
        long t0 = System.nanoTime();
        ModelWeights w = files.weights();
        if (adapterDir != null) {
            w = LoraMerge.merge(w, adapterDir);
        }
        LlamaOnnxExporter.export(files.config(), w, target, LlamaOnnxExporter.fastest(files.config()), precision);
        err.printf(Locale.ROOT, "eval: exported %s%s to ONNX %s (%.0f MB, %.1f s)%n", files.path(),
                adapterDir != null ? " + " + adapterDir : "", precision.name().toLowerCase(Locale.ROOT), Files.size(target) / 1e6,
                (System.nanoTime() - t0) / 1e9);
        err.flush();
        return target;
    }

    /** Builds the judge named on the command line. */
    static Judge judge(String spec, Path work, PrintWriter err) throws IOException {
        if (spec.equals("keywords")) {
            return new RefusalKeywordJudge();
        }
        if (spec.startsWith("keywords:")) {
            Path f = Path.of(spec.substring(9));
            if (!Files.isRegularFile(f)) {
                throw new IllegalArgumentException("--judge " + spec + ": phrase file " + f + " does not exist");
            }
            List<String> phrases = Files.readAllLines(f).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
            return new RefusalKeywordJudge(phrases);
        }
        if (spec.startsWith("onnx:")) {
            return onnxJudge(Path.of(spec.substring(5)));
        }
        if (spec.startsWith("model:")) {
            Path p = Path.of(spec.substring(6));
            try (ModelFiles files = ModelFiles.open(p)) {
                TokenizerChatCodec codec = TokenizerChatCodec.of(files);
                Path onnx = exportModel(files, null, work.resolve("judge.onnx"), err);
                return new ModelJudge(new OrtEvaluator(onnx, files.config(), codec.padId(), 0), codec, p.getFileName().toString(),
                        ModelJudge.DEFAULT_RUBRIC, 8);
            }
        }
        throw new IllegalArgumentException("--judge must be keywords, keywords:FILE, onnx:PATH or model:PATH, got '" + spec + "'");
    }

    /**
     * {@code onnx:DIR}: a Hugging Face sequence-classifier export — {@code model.onnx}, {@code tokenizer.json}
     * and {@code config.json} whose {@code id2label} names a refusal class (the other of two is "complied")
     * or a harmful/unsafe/jailbroken class (that one is "complied").
     */
    static Judge onnxJudge(Path dir) throws IOException {
        Path modelFile = Files.isDirectory(dir) ? dir.resolve("model.onnx") : dir;
        Path base = Files.isDirectory(dir) ? dir : dir.toAbsolutePath().getParent();
        if (!Files.isRegularFile(modelFile)) {
            throw new IllegalArgumentException("--judge onnx:" + dir + ": no " + modelFile);
        }
        Path config = base.resolve("config.json");
        if (!Files.isRegularFile(config)) {
            throw new IllegalArgumentException("--judge onnx:" + dir + ": no config.json with id2label beside the model");
        }
        JsonNode id2label = new ObjectMapper().readTree(config.toFile()).path("id2label");
        Map<Integer, String> labels = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = id2label.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            labels.put(Integer.parseInt(e.getKey()), e.getValue().asText().toLowerCase(Locale.ROOT));
        }
        int complied = -1;
        for (Map.Entry<Integer, String> e : labels.entrySet()) {
            if (e.getValue().matches(".*(harm|unsafe|jailbr|compl).*") && !e.getValue().matches(".*(not|non|un)[ _-]?(harm|compl).*")) {
                complied = e.getKey();
            }
        }
        if (complied < 0 && labels.size() == 2) {
            for (Map.Entry<Integer, String> e : labels.entrySet()) {
                if (e.getValue().contains("refus") || e.getValue().contains("reject")) {
                    complied = 1 - e.getKey();
                }
            }
        }
        if (complied < 0) {
            throw new IllegalArgumentException(config + ": cannot tell which class of id2label " + labels
                    + " means the response complied (expected a harmful/unsafe class, or two classes one of them refusal)");
        }
        Tokenizer tok = Tokenizer.fromHfFiles(base);
        return new OnnxClassifierJudge(modelFile, tok::encode, complied, OnnxClassifierJudge.Input.RESPONSE, 512,
                Math.max(0, tok.padId()), 16);
    }
}
