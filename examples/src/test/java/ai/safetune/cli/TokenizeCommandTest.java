package ai.safetune.cli;

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
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code safetune tokenize} in-process, against ../shared/reference/tokenizer_cases.jsonl. */
class TokenizeCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    static Path shared() {
        String p = System.getProperty("safetune.shared");
        return p != null ? Path.of(p) : Path.of("../shared");
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

    static List<JsonNode> referenceCases() throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(shared().resolve("reference/tokenizer_cases.jsonl"))) {
            out.add(JSON.readTree(line));
        }
        return out;
    }

    /** The reference cases as tokenize input: {"text"} or {"messages", "add_generation_prompt"}. */
    Path referenceInput() throws Exception {
        List<String> lines = new ArrayList<>();
        for (JsonNode c : referenceCases()) {
            ObjectNode in = JSON.createObjectNode();
            if (c.get("kind").asText().equals("text")) {
                in.set("text", c.get("text"));
            } else {
                in.set("messages", c.get("messages"));
                in.set("add_generation_prompt", c.get("add_generation_prompt"));
            }
            lines.add(JSON.writeValueAsString(in));
        }
        Path in = tmp.resolve("in.jsonl");
        Files.write(in, lines);
        return in;
    }

    void assertReproducesReference(Path model) throws Exception {
        Path in = referenceInput();
        Path out = tmp.resolve("out.jsonl");
        Run r = run("tokenize", "--model", model.toString(), "--in", in.toString(), "--out", out.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        List<String> outLines = Files.readAllLines(out);
        List<JsonNode> ref = referenceCases();
        assertThat(outLines).hasSize(ref.size());
        for (int i = 0; i < ref.size(); i++) {
            JsonNode c = ref.get(i);
            JsonNode o = JSON.readTree(outLines.get(i));
            assertThat(o.get("ids")).as("line %d", i + 1).isEqualTo(c.get("ids"));
            if (c.get("kind").asText().equals("text")) {
                assertThat(o.get("text")).isEqualTo(c.get("text"));
                assertThat(o.has("rendered")).isFalse();
            } else {
                assertThat(o.get("messages")).isEqualTo(c.get("messages"));
                assertThat(o.get("add_generation_prompt")).isEqualTo(c.get("add_generation_prompt"));
                assertThat(o.get("rendered")).isEqualTo(c.get("rendered"));
                assertThat(o.get("assistant_mask")).isEqualTo(c.get("assistant_mask"));
            }
        }
    }

    @Test
    void reproducesTheReferenceOnTheGgufModel() throws Exception {
        assertReproducesReference(shared().resolve("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    }

    @Test
    void reproducesTheReferenceOnTheHfDirectory() throws Exception {
        assertReproducesReference(shared().resolve("models/tiny-llama"));
    }

    @Test
    void keepsExtraInputFields() throws Exception {
        Path in = tmp.resolve("in.jsonl");
        Files.writeString(in, "{\"id\":7,\"text\":\"Hello world\",\"note\":\"x\"}\n\n{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}\n");
        Path out = tmp.resolve("out.jsonl");
        Run r = run("tokenize", "--model", shared().resolve("models/tiny-llama").toString(), "--in", in.toString(), "--out", out.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        List<String> lines = Files.readAllLines(out);
        assertThat(lines).hasSize(2);
        JsonNode first = JSON.readTree(lines.get(0));
        assertThat(first.get("id").asInt()).isEqualTo(7);
        assertThat(first.get("note").asText()).isEqualTo("x");
        assertThat(first.get("ids").toString()).isEqualTo("[19556,905]");
        JsonNode second = JSON.readTree(lines.get(1));
        // no add_generation_prompt: false
        assertThat(second.get("rendered").asText()).endsWith("<|im_start|>user\nHi<|im_end|>\n");
        assertThat(second.get("assistant_mask").size()).isEqualTo(second.get("ids").size());
    }

    @Test
    void badModelPathIsOneLineAndNonZero() throws Exception {
        Path in = tmp.resolve("in.jsonl");
        Files.writeString(in, "{\"text\":\"a\"}\n");
        Run r = run("tokenize", "--model", tmp.resolve("nope.gguf").toString(), "--in", in.toString(),
                "--out", tmp.resolve("o.jsonl").toString());
        assertThat(r.exit()).isNotZero();
        assertThat(r.err().strip()).doesNotContain("\n").contains("nope.gguf");
        assertThat(tmp.resolve("o.jsonl")).doesNotExist();
    }

    @Test
    void malformedLinesNameFileLineAndField() throws Exception {
        String model = shared().resolve("models/tiny-llama").toString();
        String[][] cases = {
            {"{\"text\":\"ok\"}\n{\"text\": oops}\n", "line 2", "not valid JSON"},
            {"{\"txt\":\"a\"}\n", "line 1", "\"text\" or a \"messages\""},
            {"{\"text\":5}\n", "line 1", "\"text\" must be a string"},
            {"{\"messages\":[{\"role\":\"wizard\",\"content\":\"a\"}]}\n", "messages[0].role", "wizard"},
            {"{\"messages\":[{\"role\":\"user\"}]}\n", "messages[0]", "\"content\""},
            {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"add_generation_prompt\":\"yes\"}\n", "line 1", "add_generation_prompt"},
            {"[1,2]\n", "line 1", "JSON object"},
        };
        for (String[] c : cases) {
            Path in = tmp.resolve("bad.jsonl");
            Files.writeString(in, c[0]);
            Path out = tmp.resolve("bad-out.jsonl");
            Run r = run("tokenize", "--model", model, "--in", in.toString(), "--out", out.toString());
            assertThat(r.exit()).as(c[0]).isNotZero();
            assertThat(r.err().strip()).as(c[0]).doesNotContain("\n").contains("bad.jsonl").contains(c[1]).contains(c[2]);
            assertThat(out).doesNotExist();
        }
    }

    @Test
    void missingInputFileIsNamed() {
        Run r = run("tokenize", "--model", shared().resolve("models/tiny-llama").toString(),
                "--in", tmp.resolve("missing.jsonl").toString(), "--out", tmp.resolve("o.jsonl").toString());
        assertThat(r.exit()).isNotZero();
        assertThat(r.err()).contains("missing.jsonl");
    }
}
