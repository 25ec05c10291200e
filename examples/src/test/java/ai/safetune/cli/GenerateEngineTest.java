package ai.safetune.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code safetune generate --engine java|onnx}: both engines decode the same tokens, and ONNX reproduces the reference. */
class GenerateEngineTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    private static Path shared() {
        String p = System.getProperty("safetune.shared");
        return p != null ? Path.of(p) : Path.of("../../shared");
    }

    private static String run(String... args) {
        CommandLine cl = SafeTuneCli.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        assertThat(exit).as(err.toString()).isZero();
        return err.toString();
    }

    private static List<JsonNode> read(Path p) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String l : Files.readAllLines(p)) {
            out.add(JSON.readTree(l));
        }
        return out;
    }

    @Test
    void tinyModelGreedyIsTheSameOnBothEngines() throws Exception {
        Path in = tmp.resolve("in.jsonl");
        Files.write(in, List.of("{\"text\":\"Once upon a time\"}", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France? Answer briefly.\"}]}"));
        Path java = tmp.resolve("java.jsonl");
        Path onnx = tmp.resolve("onnx.jsonl");
        Path tiny = shared().resolve("models/tiny-llama");
        run("generate", "--model", tiny.toString(), "--in", in.toString(), "--max-new-tokens", "12", "--greedy",
                "--batch-size", "2", "--out", java.toString());
        run("generate", "--model", tiny.toString(), "--in", in.toString(), "--max-new-tokens", "12", "--greedy",
                "--batch-size", "2", "--engine", "onnx", "--out", onnx.toString());
        List<JsonNode> a = read(java);
        List<JsonNode> b = read(onnx);
        assertThat(b).hasSize(3);
        for (int i = 0; i < 3; i++) {
            assertThat(b.get(i).get("generated_ids").size()).isPositive();
            assertThat(b.get(i).get("generated_ids")).as("line %d", i).isEqualTo(a.get(i).get("generated_ids"));
            assertThat(b.get(i).get("text")).isEqualTo(a.get(i).get("text"));
        }
        assertThat(b.get(0).get("prompt_text").asText()).isEqualTo("Once upon a time");
    }

    @Test
    void onnxEngineReproducesSmolLm2GreedyReference() throws Exception {
        List<JsonNode> cases = new ArrayList<>();
        List<String> lines = new ArrayList<>();
        for (String l : Files.readAllLines(shared().resolve("reference/smollm2_greedy.jsonl"))) {
            JsonNode c = JSON.readTree(l);
            cases.add(c);
            lines.add(JSON.writeValueAsString(JSON.createObjectNode().set("messages", c.get("messages"))));
        }
        Path in = tmp.resolve("in.jsonl");
        Files.write(in, lines);
        Path out = tmp.resolve("out.jsonl");
        run("generate", "--model", shared().resolve("models/SmolLM2-135M-Instruct.Q4_1.gguf").toString(), "--in", in.toString(),
                "--max-new-tokens", "32", "--greedy", "--batch-size", "6", "--engine", "onnx", "--out", out.toString());
        List<JsonNode> got = read(out);
        assertThat(got).hasSize(cases.size());
        int compared = 0;
        for (int i = 0; i < cases.size(); i++) {
            JsonNode ref = cases.get(i).get("generated_ids");
            JsonNode margins = cases.get(i).get("top2_margins");
            JsonNode ids = got.get(i).get("generated_ids");
            // token-for-token up to (and including) the first step whose top-2 margin is below 0.01
            int upTo = ref.size();
            for (int s = 0; s < margins.size(); s++) {
                if (margins.get(s).asDouble() < 0.01) {
                    upTo = s;
                    break;
                }
            }
            for (int s = 0; s < upTo; s++) {
                assertThat(ids.get(s)).as("prompt %d step %d", i, s).isEqualTo(ref.get(s));
                compared++;
            }
            if (upTo == ref.size()) {
                assertThat(ids.size()).as("prompt %d length", i).isEqualTo(ref.size());
                assertThat(got.get(i).get("text").asText()).isEqualTo(cases.get(i).get("generated_text").asText());
            }
        }
        assertThat(compared).isGreaterThan(200);
    }

    @Test
    void int8OnnxEngineGeneratesEveryLine() throws Exception {
        Path in = tmp.resolve("in.jsonl");
        Files.write(in, List.of("{\"text\":\"Once upon a time\"}", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"));
        Path out = tmp.resolve("q.jsonl");
        // (that the int8 graph is what runs is LlamaOnnxExportTest's and EvalCommandTest's to check)
        run("generate", "--model", shared().resolve("models/tiny-llama").toString(), "--in", in.toString(),
                "--max-new-tokens", "5", "--greedy", "--engine", "onnx", "--onnx-precision", "int8", "--out", out.toString());
        assertThat(read(out)).hasSize(2).allSatisfy(l -> assertThat(l.get("generated_ids").size()).isPositive());
    }

    @Test
    void badEngineAndDequantizeWithOnnxFail() throws Exception {
        Path in = tmp.resolve("in.jsonl");
        Files.write(in, List.of("{\"text\":\"Hi\"}"));
        Path tiny = shared().resolve("models/tiny-llama");
        Map<List<String>, String> cases = new java.util.LinkedHashMap<>();
        cases.put(List.of("--engine", "tensorrt"), "--engine must be java or onnx");
        cases.put(List.of("--engine", "onnx", "--dequantize"), "--dequantize applies to --engine java only");
        cases.put(List.of("--onnx-precision", "int8"), "--onnx-precision applies to --engine onnx only");
        cases.put(List.of("--engine", "onnx", "--onnx-precision", "fp16"), "--onnx-precision must be fp32 or int8, got 'fp16'");
        for (Map.Entry<List<String>, String> c : cases.entrySet()) {
            List<String> args = new ArrayList<>(List.of("generate", "--model", tiny.toString(), "--in", in.toString(),
                    "--max-new-tokens", "2", "--greedy", "--out", tmp.resolve("o.jsonl").toString()));
            args.addAll(c.getKey());
            CommandLine cl = SafeTuneCli.commandLine();
            StringWriter err = new StringWriter();
            cl.setErr(new PrintWriter(err, true));
            assertThat(cl.execute(args.toArray(String[]::new))).as(c.getKey().toString()).isEqualTo(1);
            assertThat(err.toString()).contains(c.getValue());
            assertThat(tmp.resolve("o.jsonl")).doesNotExist();
        }
    }
}
