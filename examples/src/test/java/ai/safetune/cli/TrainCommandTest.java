package ai.safetune.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ai.safetune.model.LoraAdapter;
import ai.safetune.train.PeftAdapter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code safetune train} in-process: the reference cases end to end, truncation, NaN guard, determinism, bad input. */
class TrainCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    static Path shared() {
        String p = System.getProperty("safetune.shared");
        return p != null ? Path.of(p) : Path.of("../shared");
    }

    record Run(int exit, String out, String err) {
    }

    static Run run(String... args) {
        CommandLine cl = SafeTuneCli.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    /** case.json's conversations as chat JSONL (the reference batch, in file order). */
    static Path caseJsonl(Path caseDir, Path tmp) throws Exception {
        JsonNode c = JSON.readTree(caseDir.resolve("case.json").toFile());
        List<String> lines = new ArrayList<>();
        for (JsonNode conv : c.get("conversations")) {
            ObjectNode o = JSON.createObjectNode();
            o.set("messages", conv);
            lines.add(JSON.writeValueAsString(o));
        }
        Path f = tmp.resolve(caseDir.getFileName() + ".jsonl");
        Files.write(f, lines);
        return f;
    }

    static List<String> trainArgs(Path model, Path data, String... more) {
        List<String> a = new ArrayList<>(List.of("train", "--model", model.toString(), "--data", data.toString()));
        a.addAll(List.of(more));
        return a;
    }

    /** The reference case's settings through the CLI: metrics = case.json steps, saved adapter = adapter_after_steps. */
    void assertReproducesCase(Path model, Path caseDir) throws Exception {
        JsonNode c = JSON.readTree(caseDir.resolve("case.json").toFile());
        Path data = caseJsonl(caseDir, tmp);
        Path metrics = tmp.resolve("m.jsonl");
        Path save = tmp.resolve("out");
        JsonNode opt = c.get("optimizer");
        Run r = run(trainArgs(model, data, "--init-adapter", caseDir.resolve("adapter_init").toString(),
                "--lr", opt.get("lr").asText(), "--weight-decay", opt.get("weight_decay").asText(),
                "--max-grad-norm", opt.get("max_grad_norm").asText(), "--batch-size", String.valueOf(c.get("conversations").size()),
                "--steps", opt.get("steps").asText(), "--schedule", "constant", "--no-shuffle",
                "--metrics-out", metrics.toString(), "--save", save.toString()).toArray(String[]::new));
        assertThat(r.exit()).as(r.err()).isZero();
        List<String> lines = Files.readAllLines(metrics);
        JsonNode steps = c.get("steps");
        assertThat(lines).hasSize(steps.size());
        for (int i = 0; i < steps.size(); i++) {
            JsonNode m = JSON.readTree(lines.get(i));
            JsonNode ref = steps.get(i);
            assertThat(m.get("step").asInt()).isEqualTo(i);
            assertThat(relErr(m.get("loss").asDouble(), ref.get("loss").asDouble())).as("loss at step %d", i).isLessThanOrEqualTo(1e-3);
            assertThat(relErr(m.get("grad_norm").asDouble(), ref.get("grad_norm_before_clip").asDouble()))
                    .as("grad norm at step %d", i).isLessThanOrEqualTo(1e-3);
            assertThat(m.get("loss_tokens").asInt()).isEqualTo(c.get("n_loss_tokens").asInt());
        }
        PeftAdapter got = PeftAdapter.load(save);
        PeftAdapter want = PeftAdapter.load(caseDir.resolve("adapter_after_steps"));
        assertThat(got.config().r()).isEqualTo(want.config().r());
        assertThat(got.weights().modules().keySet()).isEqualTo(want.weights().modules().keySet());
        for (Map.Entry<String, LoraAdapter.Pair> e : want.weights().modules().entrySet()) {
            LoraAdapter.Pair g = got.weights().modules().get(e.getKey());
            assertThat(relDiff(g.a(), e.getValue().a())).as("%s lora_A", e.getKey()).isLessThanOrEqualTo(1e-2);
            assertThat(relDiff(g.b(), e.getValue().b())).as("%s lora_B", e.getKey()).isLessThanOrEqualTo(1e-2);
        }
    }

    static double relErr(double got, double want) {
        return Math.abs(got - want) / Math.abs(want);
    }

    /** ‖got − want‖ / ‖want‖. */
    static double relDiff(float[] got, float[] want) {
        assertThat(got).hasSameSizeAs(want);
        double d = 0;
        double n = 0;
        for (int i = 0; i < want.length; i++) {
            d += (got[i] - (double) want[i]) * (got[i] - (double) want[i]);
            n += want[i] * (double) want[i];
        }
        return Math.sqrt(d / n);
    }

    @Test
    void tinyReferenceCaseThroughTheCli() throws Exception {
        assertReproducesCase(shared().resolve("models/tiny-llama"), shared().resolve("reference/tiny_lora"));
    }

    @Test
    @Tag("slow")
    void smolLm2ReferenceCaseThroughTheCli() throws Exception {
        assertReproducesCase(shared().resolve("models/SmolLM2-135M-Instruct.Q4_1.gguf"), shared().resolve("reference/smollm2_lora"));
    }

    /** The same steps from the GGUF blocks expanded per tile (--keep-quantized) as from the base expanded once. */
    @Test
    void keepQuantizedTrainsTheSameFunction() throws Exception {
        Path gguf = shared().resolve("models/SmolLM2-135M-Instruct.Q4_1.gguf");
        Path data = caseJsonl(shared().resolve("reference/smollm2_lora"), tmp);
        double[][] losses = new double[2][];
        for (int i = 0; i < 2; i++) {
            Path metrics = tmp.resolve("m" + i + ".jsonl");
            List<String> a = trainArgs(gguf, data, "--lora-r", "4", "--lora-alpha", "8", "--target-modules", "q_proj,down_proj",
                    "--lr", "1e-3", "--batch-size", "1", "--steps", "2", "--max-seq-len", "24", "--no-shuffle", "--train-on-inputs",
                    "--metrics-out", metrics.toString(), "--save", tmp.resolve("out" + i).toString());
            if (i == 1) {
                a.add("--keep-quantized");
            }
            Run r = run(a.toArray(String[]::new));
            assertThat(r.exit()).as(r.err()).isZero();
            if (i == 1) {
                assertThat(r.err()).contains("base weights kept in their").contains("Q4_1").contains("blocks (--keep-quantized)");
            } else {
                assertThat(r.err()).doesNotContain("--keep-quantized");
            }
            ObjectMapper json = new ObjectMapper();
            List<String> lines = Files.readAllLines(metrics);
            losses[i] = new double[lines.size()];
            for (int s = 0; s < lines.size(); s++) {
                losses[i][s] = json.readTree(lines.get(s)).get("loss").asDouble();
            }
        }
        assertThat(losses[1]).hasSize(2);
        for (int s = 0; s < 2; s++) {
            assertThat(relErr(losses[1][s], losses[0][s])).as("step %d loss, blocks vs expanded", s).isLessThan(1e-5);
        }
    }

    Path tiny() {
        return shared().resolve("models/tiny-llama");
    }

    @Test
    void truncationIsReported() throws Exception {
        Path data = caseJsonl(shared().resolve("reference/tiny_lora"), tmp);
        Run r = run(trainArgs(tiny(), data, "--lora-r", "2", "--lora-alpha", "4", "--lr", "1e-3", "--batch-size", "2",
                "--steps", "1", "--max-seq-len", "40", "--save", tmp.resolve("out").toString()).toArray(String[]::new));
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.err()).containsPattern("warning: [12] of 2 examples were truncated to 40 tokens");
    }

    @Test
    void absurdLearningRateStopsNamingStepAndBatch() throws Exception {
        Path data = caseJsonl(shared().resolve("reference/tiny_lora"), tmp);
        Run r = run(trainArgs(tiny(), data, "--init-adapter", shared().resolve("reference/tiny_lora/adapter_init").toString(),
                "--lr", "1e30", "--max-grad-norm", "0", "--batch-size", "1", "--steps", "4", "--no-shuffle",
                "--save", tmp.resolve("out").toString()).toArray(String[]::new));
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err().strip()).doesNotContain("\n").matches("(?s).*error: step [1-3]: (loss|gradient norm) is .* on the batch of examples \\[.+\\].*");
        assertThat(tmp.resolve("out")).doesNotExist();
    }

    @Test
    void poisonedAdapterStopsAtTheFirstStep() throws Exception {
        PeftAdapter init = PeftAdapter.load(shared().resolve("reference/tiny_lora/adapter_init"));
        LoraAdapter.Pair first = init.weights().modules().values().iterator().next();
        first.a()[3] = Float.NaN; // the loaded arrays are this adapter's own
        Path poisoned = tmp.resolve("poisoned");
        init.save(poisoned, "tiny-llama");
        Path data = caseJsonl(shared().resolve("reference/tiny_lora"), tmp);
        Run r = run(trainArgs(tiny(), data, "--init-adapter", poisoned.toString(), "--lr", "1e-3", "--batch-size", "2",
                "--steps", "2", "--no-shuffle", "--save", tmp.resolve("out").toString()).toArray(String[]::new));
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).contains("error: step 0: loss is NaN on the batch of examples [");
    }

    byte[] trainFresh(String name, long seed, String... extra) throws Exception {
        Path data = caseJsonl(shared().resolve("reference/tiny_lora"), tmp);
        Path out = tmp.resolve(name);
        List<String> a = trainArgs(tiny(), data, "--lora-r", "4", "--lora-alpha", "8", "--target-modules", "q_proj,v_proj,down_proj",
                "--lr", "5e-3", "--batch-size", "1", "--grad-accum", "1", "--steps", "3", "--seed", String.valueOf(seed),
                "--schedule", "cosine", "--warmup-steps", "1", "--save", out.toString());
        a.addAll(List.of(extra));
        Run r = run(a.toArray(String[]::new));
        assertThat(r.exit()).as(r.err()).isZero();
        return Files.readAllBytes(out.resolve(PeftAdapter.WEIGHTS_FILE));
    }

    @Test
    void sameSeedSameAdapterOtherSeedOtherAdapter() throws Exception {
        byte[] a = trainFresh("a", 7);
        byte[] b = trainFresh("b", 7);
        byte[] c = trainFresh("c", 8);
        assertThat(b).isEqualTo(a);
        assertThat(c).isNotEqualTo(a);
    }

    Run badRun(String... more) throws Exception {
        Path data = caseJsonl(shared().resolve("reference/tiny_lora"), tmp);
        List<String> a = trainArgs(tiny(), data, "--lr", "1e-3", "--batch-size", "1", "--steps", "1",
                "--save", tmp.resolve("out").toString());
        a.addAll(List.of(more));
        return run(a.toArray(String[]::new));
    }

    static void assertOneLineError(Run r, String... fragments) {
        assertThat(r.exit()).isNotZero();
        String err = r.err().strip();
        assertThat(err).doesNotContain("\n").contains("error:");
        for (String f : fragments) {
            assertThat(err).contains(f);
        }
    }

    @Test
    void missingDataFile() throws Exception {
        Path missing = tmp.resolve("nope.jsonl");
        Run r = run("train", "--model", tiny().toString(), "--data", missing.toString(), "--lora-r", "2", "--lora-alpha", "4",
                "--lr", "1e-3", "--batch-size", "1", "--steps", "1", "--save", tmp.resolve("out").toString());
        assertOneLineError(r, missing.toString(), "no such file");
    }

    @Test
    void malformedLineNamesFileAndLine() throws Exception {
        Path data = tmp.resolve("bad.jsonl");
        Files.write(data, List.of("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"yo\"}]}",
                "{\"messages\": [ oops"));
        Run r = run("train", "--model", tiny().toString(), "--data", data.toString(), "--lora-r", "2", "--lora-alpha", "4",
                "--lr", "1e-3", "--batch-size", "1", "--steps", "1", "--save", tmp.resolve("out").toString());
        assertOneLineError(r, "bad.jsonl", "2");
    }

    @Test
    void unknownTargetModule() throws Exception {
        assertOneLineError(badRun("--lora-r", "2", "--lora-alpha", "4", "--target-modules", "q_proj,qkv_proj"), "qkv_proj");
    }

    @Test
    void checkpointDirNeedsCheckpointEvery() throws Exception {
        assertOneLineError(badRun("--lora-r", "2", "--lora-alpha", "4", "--checkpoint-dir", tmp.resolve("cp").toString()),
                "--checkpoint-every");
    }

    @Test
    void missingRankWithoutInitAdapter() throws Exception {
        assertOneLineError(badRun(), "--lora-r");
    }

    @Test
    void initAdapterFlagsThatDisagreeAreErrorsAndDropoutOverrides() throws Exception {
        String init = shared().resolve("reference/tiny_lora/adapter_init").toString();
        assertOneLineError(badRun("--init-adapter", init, "--target-modules", "q_proj,v_proj"), "--target-modules", "disagrees");
        Path data = caseJsonl(shared().resolve("reference/tiny_lora"), tmp);
        Path out = tmp.resolve("dropped");
        Run r = run(trainArgs(tiny(), data, "--init-adapter", init, "--lora-dropout", "0.25", "--lr", "1e-3",
                "--batch-size", "2", "--steps", "1", "--save", out.toString()).toArray(String[]::new));
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(PeftAdapter.load(out).config().dropout()).isEqualTo(0.25);
    }

    @Test
    void backendFlags() throws Exception {
        assertOneLineError(badRun("--lora-r", "2", "--lora-alpha", "4", "--backend", "tpu"), "--backend", "'tpu'");
        assertOneLineError(badRun("--lora-r", "2", "--lora-alpha", "4", "--cuda-precision", "fp8"), "--cuda-precision",
                "'fp8'", "bf16-tiled");
        assertOneLineError(badRun("--lora-r", "2", "--lora-alpha", "4", "--backend", "cpu", "--cuda-precision", "bf16"),
                "--cuda-precision", "--backend cpu");
        if (!new ai.safetune.cuda.CudaBackendProvider().availability().available()) {
            assertOneLineError(badRun("--lora-r", "2", "--lora-alpha", "4", "--backend", "cuda"), "'cuda'",
                    "not available");
        }
        // the CPU named explicitly trains; a precision with auto selection on a machine without a GPU is a note
        Path data = caseJsonl(shared().resolve("reference/tiny_lora"), tmp);
        Run r = run(trainArgs(tiny(), data, "--lora-r", "2", "--lora-alpha", "4", "--lr", "1e-3", "--batch-size", "2",
                "--steps", "1", "--backend", "cpu", "--save", tmp.resolve("cpu").toString()).toArray(String[]::new));
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(tmp.resolve("cpu").resolve(PeftAdapter.WEIGHTS_FILE)).exists();
        if (!new ai.safetune.cuda.CudaBackendProvider().availability().available()
                && System.getenv("SAFETUNE_BACKEND") == null) {
            Run n = run(trainArgs(tiny(), data, "--lora-r", "2", "--lora-alpha", "4", "--lr", "1e-3", "--batch-size", "2",
                    "--steps", "1", "--cuda-precision", "bf16", "--save", tmp.resolve("auto").toString())
                    .toArray(String[]::new));
            assertThat(n.exit()).as(n.err()).isZero();
            assertThat(n.err()).contains("note: --cuda-precision bf16 has no effect: training on the cpu backend");
        }
    }
}
