package ai.safetune.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ai.safetune.attack.StructureAttack;
import ai.safetune.data.ChatDatasets;
import ai.safetune.data.ChatExample;
import ai.safetune.format.TaskFormat;
import ai.safetune.mix.MixReport;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The attack, mimic and mix commands, run in-process. */
class DataCommandsTest {
    @TempDir
    Path tmp;
    StringWriter out;
    StringWriter err;

    static Path data() {
        String p = System.getProperty("safetune.shared");
        return (p != null ? Path.of(p) : Path.of("../shared")).resolve("data");
    }

    int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        CommandLine cl = SafeTuneCli.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        return cl.execute(args);
    }

    String dataDir;

    @BeforeEach
    void setUp() {
        dataDir = data().toString();
    }

    @Test
    void attackOnASharedTask() {
        Path f = tmp.resolve("aoa.jsonl");
        assertThat(run("attack", "--strategy", "auto-if-aoa", "--task", "bbh/date_understanding", "--out", f.toString(),
                "--seed", "3", "--data-dir", dataDir)).as(err.toString()).isZero();
        List<ChatExample> cs = ChatDatasets.read(f);
        assertThat(cs).hasSize(250);
        assertThat(cs).allSatisfy(c -> {
            assertThat(c.systemPrompt()).contains(StructureAttack.AOA_SYSTEM_PROMPT);
            assertThat(StructureAttack.recoverAnswer(c)).isPresent();
        });
        assertThat(out.toString()).contains("auto-if-aoa: 250 examples");
        // deterministic per seed
        Path g = tmp.resolve("again.jsonl");
        run("attack", "--strategy", "auto-if-aoa", "--task", "bbh/date_understanding", "--out", g.toString(),
                "--seed", "3", "--data-dir", dataDir);
        assertThat(ChatDatasets.read(g).stream().map(ChatExample::messages).toList())
                .isEqualTo(cs.stream().map(ChatExample::messages).toList());
    }

    @Test
    void attackOnATaskFile() throws IOException {
        Path in = tmp.resolve("tasks.jsonl");
        Files.writeString(in, "{\"id\":\"q1\",\"input\":\"2+2?\",\"answer\":\"4\"}\n"
                + "{\"input\":\"Pick blue.\",\"choices\":[\"red\",\"blue\"],\"answer\":\"B\"}\n");
        Path f = tmp.resolve("out.jsonl");
        assertThat(run("attack", "--strategy", "benign", "--in", in.toString(), "--out", f.toString(), "--seed", "1",
                "--with-metadata")).as(err.toString()).isZero();
        List<ChatExample> cs = ChatDatasets.read(f);
        assertThat(cs.get(0).id()).isEqualTo("q1/benign");
        assertThat(cs.get(0).firstUser()).contains("Question: 2+2?\nAnswer:");
        assertThat(cs.get(1).firstUser()).contains("Question: Pick blue.\nOptions:\n(A) red\n(B) blue\nAnswer:");
        assertThat(cs.get(1).lastAssistant()).contains("(B)");
    }

    @Test
    void badInputIsOneLineNamingFileAndLine() throws IOException {
        Path in = tmp.resolve("bad.jsonl");
        Files.writeString(in, "{\"input\":\"a\",\"answer\":\"b\"}\n{\"input\":\"c\"}\n");
        int code = run("attack", "--strategy", "aoa", "--in", in.toString(), "--out", tmp.resolve("o.jsonl").toString(),
                "--seed", "0");
        assertThat(code).isEqualTo(1);
        assertThat(err.toString().strip()).doesNotContain("\n").contains("bad.jsonl").contains("2").contains("answer");

        Path user = tmp.resolve("user.jsonl");
        Files.writeString(user, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"yo\"}]}\n"
                + "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}\n");
        code = run("mix", "--user-data", user.toString(), "--safety", data().resolve("safety/safety_only_data_Instructions.json").toString(),
                "--strategy", "generic", "--count", "1", "--seed", "0", "--out", tmp.resolve("m.jsonl").toString());
        assertThat(code).isEqualTo(1);
        assertThat(err.toString().strip()).doesNotContain("\n").contains("user.jsonl").contains("2").contains("robot");

        assertThat(run("attack", "--strategy", "gcg", "--task", "gsm8k", "--out", "x", "--seed", "0")).isEqualTo(2);
        assertThat(err.toString()).contains("auto-if-aoa");
        assertThat(run("attack", "--strategy", "aoa", "--task", "nope", "--out", tmp.resolve("x").toString(),
                "--data-dir", dataDir)).isEqualTo(1);
        assertThat(err.toString()).contains("unknown task 'nope'");
    }

    @Test
    void mixMimicAgainstAoaAttackData() throws IOException {
        Path user = tmp.resolve("aoa.jsonl");
        run("attack", "--strategy", "aoa", "--task", "gsm8k:test", "--out", user.toString(), "--seed", "1", "--data-dir", dataDir);
        Path mixed = tmp.resolve("mixed.jsonl");
        Path report = tmp.resolve("report.json");
        Path safety = data().resolve("safety/safety_only_data_Instructions.json");
        assertThat(run("mix", "--user-data", user.toString(), "--safety", safety.toString(), "--strategy", "mimic",
                "--fraction", "0.05", "--seed", "7", "--out", mixed.toString(), "--report", report.toString()))
                .as(err.toString()).isZero();
        List<ChatExample> userChats = ChatDatasets.read(user);
        List<ChatExample> all = ChatDatasets.read(mixed);
        MixReport r = MixReport.fromJson(Files.readString(report, StandardCharsets.UTF_8));
        assertThat(r.userCount()).isEqualTo(1319);
        assertThat(r.safetyCount()).isEqualTo(Math.round(0.05 * 1319 / 0.95));
        assertThat(all).hasSize((int) (r.userCount() + r.safetyCount()));
        // user examples come back unchanged and in order; the others are AOA-shaped refusals
        int p = 0;
        int others = 0;
        for (ChatExample c : all) {
            if (p < userChats.size() && c.messages().equals(userChats.get(p).messages())) {
                p++;
            } else {
                others++;
                assertThat(c.systemPrompt()).contains(StructureAttack.AOA_SYSTEM_PROMPT);
                assertThat(c.firstUser().orElseThrow()).startsWith(StructureAttack.AOA_USER_PREFIX);
                assertThat(c.lastAssistant().orElseThrow()).startsWith(StructureAttack.AOA_ANSWER_PREFIX);
            }
        }
        assertThat(p).isEqualTo(userChats.size());
        assertThat(others).isEqualTo(r.safetyCount());
        assertThat(out.toString()).contains("mimic: 1319 user + " + r.safetyCount() + " safety");

        assertThat(run("mix", "--user-data", user.toString(), "--safety", safety.toString(), "--strategy", "none",
                "--seed", "7", "--out", tmp.resolve("none.jsonl").toString())).isZero();
        assertThat(ChatDatasets.read(tmp.resolve("none.jsonl")).stream().map(ChatExample::messages).toList())
                .isEqualTo(userChats.stream().map(ChatExample::messages).toList());
        assertThat(run("mix", "--user-data", user.toString(), "--safety", safety.toString(), "--strategy", "generic",
                "--seed", "7", "--out", tmp.resolve("g.jsonl").toString())).isEqualTo(2);
        assertThat(err.toString()).contains("--count N or --fraction X");
    }

    @Test
    void mimicWritesSafetyInTheUserFormatAndTheFormatJson() throws IOException {
        Path user = tmp.resolve("benign.jsonl");
        run("attack", "--strategy", "benign", "--task", "bbh/logical_deduction_three_objects", "--out", user.toString(),
                "--seed", "1", "--data-dir", dataDir);
        Path o = tmp.resolve("mimic.jsonl");
        Path fj = tmp.resolve("format.json");
        assertThat(run("mimic", "--user-data", user.toString(), "--safety",
                data().resolve("safety/safety_only_data_Instructions.json").toString(), "--out", o.toString(),
                "--format-out", fj.toString(), "--count", "25", "--seed", "2")).as(err.toString()).isZero();
        List<ChatExample> ms = ChatDatasets.read(o);
        assertThat(ms).hasSize(25).allSatisfy(c -> {
            assertThat(c.firstUser().orElseThrow()).startsWith("Question: ").contains("\nOptions:\n(A) ").endsWith("\nAnswer:");
            assertThat(c.lastAssistant().orElseThrow()).matches("\\([A-C]\\)");
        });
        TaskFormat f = TaskFormat.fromJson(Files.readString(fj, StandardCharsets.UTF_8));
        assertThat(f.variants().get(0).user().prefix()).isEqualTo("Question: ");
        assertThat(out.toString()).contains("wrote 25 mimicked safety examples");
    }
}
