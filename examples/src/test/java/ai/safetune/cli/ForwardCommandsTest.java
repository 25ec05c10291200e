package ai.safetune.cli;

import ai.safetune.model.safetensors.SafetensorsFile;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code safetune logits} and {@code safetune generate} in-process against ../shared/reference. */
class ForwardCommandsTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    static Path shared() {
        String p = System.getProperty("safetune.shared");
        return p != null ? Path.of(p) : Path.of("../../shared");
    }

    static Path tiny() {
        return shared().resolve("models/tiny-llama");
    }

    static Path smol() {
        return shared().resolve("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    }

    record Run(int exit, String err) {
    }

    static Run run(String... args) {
        CommandLine cl = SafeTuneCli.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Run(exit, err.toString());
    }

    private Path write(String name, List<String> lines) throws Exception {
        Path p = tmp.resolve(name);
        Files.write(p, lines);
        return p;
    }

    private static List<JsonNode> read(Path p) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String l : Files.readAllLines(p)) {
            out.add(JSON.readTree(l));
        }
        return out;
    }

    @Test
    void logitsOfTinyModelMatchReferenceForIdsTextAndMessages() throws Exception {
        JsonNode ref = JSON.readTree(shared().resolve("reference/tiny_logits.json").toFile());
        List<String> lines = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = ref.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            names.add(e.getKey());
            JsonNode prompt = e.getValue().get("prompt");
            ObjectNode in = JSON.createObjectNode();
            // chats as messages, the plain prompt as text, and each once more as raw ids
            if (prompt.has("chat")) {
                in.set("messages", prompt.get("chat"));
            } else {
                in.set("text", prompt.get("text"));
            }
            lines.add(JSON.writeValueAsString(in));
        }
        for (String n : names) {
            lines.add(JSON.writeValueAsString(JSON.createObjectNode().set("ids", ref.get(n).get("ids"))));
        }
        Path in = write("in.jsonl", lines);
        Path out = tmp.resolve("out.jsonl");
        Run r = run("logits", "--model", tiny().toString(), "--in", in.toString(), "--top-k", "8", "--full-last",
                "--out", out.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        List<JsonNode> got = read(out);
        assertThat(got).hasSize(2 * names.size());
        try (SafetensorsFile st = SafetensorsFile.open(shared().resolve("reference/tiny_logits.safetensors"))) {
            for (int i = 0; i < got.size(); i++) {
                String name = names.get(i % names.size());
                JsonNode g = got.get(i);
                assertThat(JSON.convertValue(g.get("ids"), int[].class))
                        .isEqualTo(JSON.convertValue(ref.get(name).get("ids"), int[].class));
                int[] topIds = st.readInts(name + ".topk_ids");
                float[] topLogits = st.readFloats(name + ".topk_logits");
                float[] lse = st.readFloats(name + ".logsumexp");
                float[] last = st.readFloats(name + ".last_logits");
                int t = lse.length;
                assertThat(g.get("topk_ids")).hasSize(t);
                for (int p = 0; p < t; p++) {
                    assertThat(g.get("topk_ids").get(p)).hasSize(8);
                    assertThat(g.get("topk_ids").get(p).get(0).asInt()).as("%s position %d", name, p)
                            .isEqualTo(topIds[p * 8]);
                    for (int j = 0; j < 8; j++) {
                        assertThat(g.get("topk_logits").get(p).get(j).asDouble())
                                .isCloseTo(topLogits[p * 8 + j], org.assertj.core.data.Offset.offset(1e-4));
                    }
                    assertThat(g.get("logsumexp").get(p).asDouble()).isCloseTo(lse[p], org.assertj.core.data.Offset.offset(1e-3));
                }
                assertThat(g.get("last_logits")).hasSize(last.length);
                for (int j = 0; j < last.length; j += 97) {
                    assertThat(g.get("last_logits").get(j).asDouble()).isCloseTo(last[j], org.assertj.core.data.Offset.offset(1e-4));
                }
            }
        }
    }

    @Test
    void adapterChangesLogitsAndBadAdapterFails() throws Exception {
        Path in = write("in.jsonl", List.of("{\"ids\":[1, 9690, 198, 2683]}"));
        Path base = tmp.resolve("base.jsonl");
        Path lora = tmp.resolve("lora.jsonl");
        assertThat(run("logits", "--model", tiny().toString(), "--in", in.toString(), "--top-k", "3", "--out",
                base.toString()).exit()).isZero();
        Run r = run("logits", "--model", tiny().toString(), "--adapter",
                shared().resolve("reference/tiny_lora/adapter_after_steps").toString(), "--in", in.toString(), "--top-k", "3",
                "--out", lora.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(read(lora).get(0).get("logsumexp")).isNotEqualTo(read(base).get(0).get("logsumexp"));
        Run bad = run("logits", "--model", tiny().toString(), "--adapter", tmp.resolve("missing").toString(), "--in",
                in.toString(), "--top-k", "3", "--out", lora.toString());
        assertThat(bad.exit()).isNotZero();
        assertThat(bad.err()).contains("missing").contains("not a directory");
    }

    @Test
    void backendFlagNamesWhereTheForwardRuns() throws Exception {
        Path in = write("in.jsonl", List.of("{\"ids\":[1, 9690, 198, 2683]}"));
        Path auto = tmp.resolve("auto.jsonl");
        Path cpu = tmp.resolve("cpu.jsonl");
        assertThat(run("logits", "--model", tiny().toString(), "--in", in.toString(), "--top-k", "3", "--out",
                auto.toString()).exit()).isZero();
        Run r = run("logits", "--model", tiny().toString(), "--backend", "cpu", "--in", in.toString(), "--top-k", "3",
                "--out", cpu.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        if (!new ai.safetune.cuda.CudaBackendProvider().availability().available()) {
            assertThat(read(cpu)).isEqualTo(read(auto));  // auto is the CPU here
            Run cuda = run("logits", "--model", tiny().toString(), "--backend", "cuda", "--in", in.toString(), "--top-k",
                    "3", "--out", tmp.resolve("cuda.jsonl").toString());
            assertThat(cuda.exit()).isNotZero();
            assertThat(cuda.err()).contains("'cuda'").contains("not available");
        }
        Run bad = run("generate", "--model", tiny().toString(), "--backend", "tpu", "--in", in.toString(),
                "--max-new-tokens", "2", "--greedy", "--out", tmp.resolve("g.jsonl").toString());
        assertThat(bad.exit()).isNotZero();
        assertThat(bad.err()).contains("--backend must be auto, cpu or cuda, got 'tpu'");
        Run onnx = run("generate", "--model", tiny().toString(), "--backend", "cpu", "--engine", "onnx", "--in",
                in.toString(), "--max-new-tokens", "2", "--greedy", "--out", tmp.resolve("g.jsonl").toString());
        assertThat(onnx.exit()).isNotZero();
        assertThat(onnx.err()).contains("--backend applies to --engine java only");
    }

    @Test
    void greedyGenerationReproducesReference() throws Exception {
        List<String> refLines = Files.readAllLines(shared().resolve("reference/smollm2_greedy.jsonl"));
        // two short cases (8 and 4 tokens, every top-2 margin >= 0.01) in one batch
        List<JsonNode> cases = List.of(JSON.readTree(refLines.get(0)), JSON.readTree(refLines.get(4)));
        List<String> lines = new ArrayList<>();
        for (JsonNode c : cases) {
            lines.add(JSON.writeValueAsString(JSON.createObjectNode().set("messages", c.get("messages"))));
        }
        Path in = write("in.jsonl", lines);
        Path out = tmp.resolve("out.jsonl");
        Run r = run("generate", "--model", smol().toString(), "--in", in.toString(), "--max-new-tokens", "32", "--greedy",
                "--out", out.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        List<JsonNode> got = read(out);
        for (int i = 0; i < cases.size(); i++) {
            assertThat(got.get(i).get("generated_ids")).isEqualTo(cases.get(i).get("generated_ids"));
            assertThat(got.get(i).get("text").asText()).isEqualTo(cases.get(i).get("generated_text").asText());
            assertThat(got.get(i).get("messages")).isEqualTo(cases.get(i).get("messages"));
        }
    }

    @Test
    void sampledGenerationIsReproducibleWithASeed() throws Exception {
        Path in = write("in.jsonl", List.of("{\"text\":\"Once upon a time\"}",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"));
        Path a = tmp.resolve("a.jsonl");
        Path b = tmp.resolve("b.jsonl");
        for (Path out : List.of(a, b)) {
            Run r = run("generate", "--model", tiny().toString(), "--in", in.toString(), "--max-new-tokens", "6",
                    "--temperature", "0.8", "--top-p", "0.9", "--seed", "5", "--batch-size", "1", "--out", out.toString());
            assertThat(r.exit()).as(r.err()).isZero();
        }
        assertThat(Files.readAllLines(a)).isEqualTo(Files.readAllLines(b));
        assertThat(read(a).get(0).get("prompt_text").asText()).isEqualTo("Once upon a time");
        for (JsonNode g : read(a)) {
            assertThat(g.get("generated_ids").size()).isBetween(1, 6);
            assertThat(g.get("text").isTextual()).isTrue();
        }
    }

    @Test
    void errorsAreOneLineNamingWhatAndWhere() throws Exception {
        Path good = write("good.jsonl", List.of("{\"text\":\"hi\"}"));
        Path out = tmp.resolve("out.jsonl");

        Run noModel = run("logits", "--model", tmp.resolve("nope.gguf").toString(), "--in", good.toString(), "--top-k", "2",
                "--out", out.toString());
        assertThat(noModel.exit()).isNotZero();
        assertThat(noModel.err()).contains("nope.gguf").hasLineCount(1);

        Path badLine = write("bad.jsonl", List.of("{\"text\":\"ok\"}", "{\"text\": 3}"));
        Run malformed = run("logits", "--model", tiny().toString(), "--in", badLine.toString(), "--top-k", "2",
                "--out", out.toString());
        assertThat(malformed.exit()).isNotZero();
        assertThat(malformed.err()).contains("bad.jsonl line 2").contains("\"text\"").hasLineCount(1);
        assertThat(out).doesNotExist();

        Path badJson = write("badjson.jsonl", List.of("{\"messages\": [{\"role\": \"user\"}]}", "{oops"));
        Run gen = run("generate", "--model", tiny().toString(), "--in", badJson.toString(), "--max-new-tokens", "2",
                "--greedy", "--out", out.toString());
        assertThat(gen.exit()).isNotZero();
        assertThat(gen.err()).contains("badjson.jsonl line 1").contains("messages[0]").hasLineCount(1);

        Path badIds = write("ids.jsonl", List.of("{\"ids\":[1, 999999]}"));
        Run ids = run("logits", "--model", tiny().toString(), "--in", badIds.toString(), "--top-k", "2", "--out", out.toString());
        assertThat(ids.err()).contains("ids.jsonl line 1").contains("999999");

        Path arch = tmp.resolve("gpt2");
        Files.createDirectories(arch);
        Files.writeString(arch.resolve("config.json"), "{\"model_type\": \"gpt2\", \"architectures\": [\"GPT2LMHeadModel\"]}");
        Run unknown = run("generate", "--model", arch.toString(), "--in", good.toString(), "--max-new-tokens", "2",
                "--greedy", "--out", out.toString());
        assertThat(unknown.exit()).isNotZero();
        assertThat(unknown.err()).contains("gpt2").hasLineCount(1);

        Run both = run("generate", "--model", tiny().toString(), "--in", good.toString(), "--max-new-tokens", "2",
                "--greedy", "--temperature", "0.7", "--out", out.toString());
        assertThat(both.exit()).isNotZero();
        assertThat(both.err()).contains("--greedy cannot be combined");
        Run neither = run("generate", "--model", tiny().toString(), "--in", good.toString(), "--max-new-tokens", "2",
                "--out", out.toString());
        assertThat(neither.err()).contains("give --greedy");
    }
}
