package ai.safetune.cli;

import ai.safetune.attack.StructureAttack;
import ai.safetune.data.ChatExample;
import ai.safetune.data.ChatJsonlWriter;
import ai.safetune.data.SharedDatasets;
import ai.safetune.data.TaskExample;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code audit}, {@code inspect} and {@code demo}, run in-process. */
class DataSideCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    record Run(int exit, String out, String err) {}

    static Run run(String... args) {
        CommandLine cl = SafeTuneCli.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    static Path data() {
        String p = System.getProperty("safetune.shared");
        return (p != null ? Path.of(p) : Path.of("../../shared")).resolve("data");
    }

    private static List<TaskExample> task(String name, int n) {
        return SharedDatasets.task(data(), name).subList(0, n);
    }

    private Path chatFile(String name, List<ChatExample> chats) {
        Path f = tmp.resolve(name);
        try (ChatJsonlWriter w = ChatJsonlWriter.open(f)) {
            chats.forEach(w::write);
        }
        return f;
    }

    @Test
    void auditJsonFlagsAnAttackedDataset() throws IOException {
        Path f = chatFile("aoa.jsonl", StructureAttack.of(StructureAttack.Strategy.AOA, 1).apply(task("sst2", 80)));
        Run r = run("audit", "--in", f.toString(), "--json");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out().strip().lines()).hasSize(1);
        JsonNode j = JSON.readTree(r.out());
        assertThat(j.get("verdict").asText()).isEqualTo("flagged");
        assertThat(j.get("score").isNumber()).isTrue();
        assertThat(j.get("score").asDouble()).isBetween(0.5, 1.0);
        assertThat(j.get("findings").isArray()).isTrue();
        assertThat(j.get("findings").size()).isPositive();
        assertThat(j.get("examples").asInt()).isEqualTo(80);
    }

    @Test
    void auditOfPlainAlpacaDataIsCleanAndHumanReadable() throws IOException {
        Path f = tmp.resolve("plain.jsonl");
        List<String> lines = new ArrayList<>();
        for (TaskExample ex : task("boolq", 60)) {
            lines.add(JSON.writeValueAsString(java.util.Map.of("instruction", ex.input(), "input", "", "output", ex.answer())));
        }
        Files.write(f, lines);
        Run json = run("audit", "--in", f.toString(), "--json");
        assertThat(JSON.readTree(json.out()).get("verdict").asText()).isEqualTo("clean");
        Run text = run("audit", "--in", f.toString());
        assertThat(text.exit()).isZero();
        assertThat(text.out()).contains("CLEAN").contains("60 examples");
    }

    @Test
    void auditNamesFileAndLineOnBadInput() throws IOException {
        Path f = tmp.resolve("broken.jsonl");
        Files.writeString(f, "{\"instruction\":\"a\",\"input\":\"\",\"output\":\"b\"}\n"
                + "{\"instruction\":\"a\",\"input\":\"\",\"output\":\"b\"}\n{\"messages\": [ oops\n");
        Run r = run("audit", "--in", f.toString(), "--json");
        assertThat(r.exit()).isNotZero();
        assertThat(r.out()).isEmpty();
        assertThat(r.err().strip().lines()).hasSize(1);
        assertThat(r.err()).contains("broken.jsonl").contains("3");
        Run missing = run("audit", "--in", tmp.resolve("nope.jsonl").toString());
        assertThat(missing.exit()).isNotZero();
        assertThat(missing.err()).contains("nope.jsonl");
    }

    @Test
    void inspectReportsFormatCountsAndConstantParts() {
        Path f = chatFile("aoa.jsonl", StructureAttack.of(StructureAttack.Strategy.AOA, 1).apply(task("trec", 30)));
        Run r = run("inspect", "--in", f.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("examples: 30").contains("format: chat")
                .contains("messages per role: system 30, user 30, assistant 30")
                .containsPattern("most common system prompt: 30 examples \\(100%\\)")
                .containsPattern("constant assistant prefix: 30 examples \\(100%\\)")
                .contains("user words");
        Path plain = chatFile("plain.jsonl", StructureAttack.of(StructureAttack.Strategy.BENIGN, 1).apply(task("trec", 30)));
        Run p = run("inspect", "--in", plain.toString());
        assertThat(p.out()).contains("most common system prompt: none").contains("constant assistant prefix: none");
    }

    @Test
    void inspectRejectsBadInputWithFileAndLine() throws IOException {
        Path f = tmp.resolve("bad.jsonl");
        Files.writeString(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}\n");
        Run r = run("inspect", "--in", f.toString());
        assertThat(r.exit()).isNotZero();
        assertThat(r.err()).contains("bad.jsonl").contains("2").contains("wizard");
    }

    @Test
    void demoPrintsTheTableAndJudgesEveryRenderingAsExpected() {
        Run r = run("demo", "--data-dir", data().toString(), "--sample", "100");
        assertThat(r.exit()).as(r.err()).isZero();
        for (String t : DemoCommand.TASKS) {
            assertThat(r.out()).contains(t);
        }
        assertThat(r.out()).contains("real AOA identity-shift chats").contains("safety data as plain chats")
                .contains("0 misjudged");
    }

    @Test
    void demoExplainsAMissingDataDirectory() {
        Run r = run("demo", "--data-dir", tmp.resolve("missing").toString());
        assertThat(r.exit()).isNotZero();
        assertThat(r.err()).contains("missing").contains("--data-dir");
    }
}
