package ai.safetune.data;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TableReaderTest {
    @TempDir
    Path dir;

    private static final TaskMapping NEWS = TaskMapping.builder()
            .input("title", "text")
            .answer("label")
            .answerAliases(Map.of("1", "World", "2", "Sports"))
            .choices(List.of(new Choice("World", ""), new Choice("Sports", "")))
            .idPrefix("news")
            .metadata("title")
            .build();

    private Path write(String name, String content) throws Exception {
        return Files.writeString(dir.resolve(name), content);
    }

    @Test
    void mapsRowsThroughTheColumnMapping() throws Exception {
        Path f = write("n.csv", "label,title,text\n1,Summit,\"Leaders met, talked\"\n2,Cup final,\"A \"\"great\"\"\ngame\"\n");
        List<TaskExample> rows = TableReader.csv().readTasks(f, NEWS);
        assertThat(rows).hasSize(2);
        assertThat(rows.get(0).input()).isEqualTo("Summit\nLeaders met, talked");
        assertThat(rows.get(0).answer()).isEqualTo("World");
        assertThat(rows.get(0).id()).isEqualTo("news#2");
        assertThat(rows.get(0).metadata()).containsEntry("title", "Summit");
        assertThat(rows.get(1).input()).isEqualTo("Cup final\nA \"great\"\ngame");
        assertThat(rows.get(1).answer()).isEqualTo("Sports");
    }

    @Test
    void perRowChoiceColumnsIdAndSystem() throws Exception {
        TaskMapping mc = TaskMapping.builder().id("id").system("sys").input("question").answer("gold")
                .choiceColumn("A", "a").choiceColumn("B", "b").metadata("level").build();
        Path f = write("mc.tsv", "id\tsys\tquestion\ta\tb\tgold\tlevel\nq1\tBe brief.\t2+2?\tfour\tfive\tA\teasy\nq2\t\t3+3?\tsix\tseven\tB\thard\n");
        List<TaskExample> rows = TableReader.tsv().readTasks(f, mc);
        assertThat(rows.get(0).id()).isEqualTo("q1");
        assertThat(rows.get(0).systemPrompt()).contains("Be brief.");
        assertThat(rows.get(0).choices()).containsExactly(new Choice("A", "four"), new Choice("B", "five"));
        assertThat(rows.get(1).systemPrompt()).isEmpty();
        assertThat(rows.get(1).goldChoice()).map(Choice::text).contains("seven");
        Path bad = write("mc-bad.tsv", "id\tsys\tquestion\ta\tb\tgold\tlevel\nq1\t\t2+2?\tfour\tfive\tC\teasy\n");
        assertThatThrownBy(() -> TableReader.tsv().readTasks(bad, mc))
                .hasMessage(bad + ":2: field \"gold\": expected one of A, B, got \"C\"");
    }

    @Test
    void unknownLabelIsAnError() throws Exception {
        Path f = write("u.csv", "label,title,text\n1,a,b\n5,c,d\n");
        assertThatThrownBy(() -> TableReader.csv().readTasks(f, NEWS))
                .hasMessage(f + ":3: field \"label\": expected one of 1, 2 (or a label: World, Sports), got \"5\"");
    }

    @Test
    void missingColumnIsNamed() throws Exception {
        Path f = write("m.csv", "label,heading,text\n1,a,b\n");
        assertThatThrownBy(() -> TableReader.csv().readTasks(f, NEWS))
                .hasMessage(f + ":2: field \"title\": expected a value (the column/field is mapped), got nothing (missing)");
    }

    @Test
    void wrongNumberOfValuesIsAnError() throws Exception {
        Path f = write("w.csv", "label,title,text\n1,a,b\n2,c\n1,e,f,g\n");
        ReadResult<TaskExample> r = TableReader.csv().readTasks(f, NEWS, ReadOptions.lenient());
        assertThat(r.records()).hasSize(1);
        assertThat(r.errors()).extracting(DataFormatException::getMessage).containsExactly(
                f + ":3: expected 3 values (label, title, text), got 2 values",
                f + ":4: expected 3 values (label, title, text), got 4 values");
    }

    @Test
    void quotingErrorsNameTheLine() throws Exception {
        Path after = write("q1.csv", "label,title,text\n1,a,b\n2,\"c\"x,d\n");
        assertThatThrownBy(() -> TableReader.csv().readTasks(after, NEWS))
                .hasMessageStartingWith(after + ":3: expected well-formed CSV quoting, got a quoting error:")
                .hasMessageContaining("Expected column separator");
        // an unclosed quote swallows the rest of the file: report the row where it opened
        Path open = write("q2.csv", "label,title,text\n1,a,b\n2,\"c,d\n1,e,f\n1,g,h\n");
        ReadResult<TaskExample> r = TableReader.csv().readTasks(open, NEWS, ReadOptions.lenient());
        assertThat(r.records()).hasSize(1);
        assertThat(r.errors()).extracting(DataFormatException::getMessage).containsExactly(
                open + ":3: expected a closing quote for the value opened in the row starting on this line, got the end of the file");
    }

    @Test
    void lineNumbersCountMultiLineValues() throws Exception {
        Path f = write("ml.csv", "label,title,text\n1,a,\"one\ntwo\nthree\"\n7,b,c\n");
        assertThatThrownBy(() -> TableReader.csv().readTasks(f, NEWS)).hasMessageStartingWith(f + ":5: field \"label\"");
    }

    @Test
    void emptyFileAndHeaderOnlyAreErrors() throws Exception {
        Path empty = write("e.csv", "");
        assertThatThrownBy(() -> TableReader.csv().readTasks(empty, NEWS))
                .hasMessage(empty + ":1: expected a header row and at least one data row, got an empty file");
        Path header = write("h.csv", "label,title,text\n");
        assertThatThrownBy(() -> TableReader.csv().readTasks(header, NEWS))
                .hasMessage(header + ":1: expected at least one data row after the header, got only the header");
        assertThat(TableReader.csv().readTasks(empty, NEWS, ReadOptions.lenient()).errors()).singleElement()
                .satisfies(e -> assertThat(e.actual()).contains("an empty file"));
        Path dup = write("d.csv", "label,title,label\n1,a,b\n");
        assertThatThrownBy(() -> TableReader.csv().readTasks(dup, NEWS))
                .hasMessage(dup + ":1: expected a header row of distinct column names, got \"label\" twice");
    }

    @Test
    void bomAndCrlfAreAccepted() throws Exception {
        Path f = write("bom.csv", "\uFEFFlabel,title,text\r\n1,a,\"multi\r\nline\"\r\n2,c,d\r\n\r\n");
        List<TaskExample> rows = TableReader.csv().readTasks(f, NEWS);
        assertThat(rows).extracting(TaskExample::answer).containsExactly("World", "Sports");
        assertThat(rows.get(0).input()).isEqualTo("a\nmulti\nline");
        assertThat(rows.get(1).input()).isEqualTo("c\nd");
    }

    @Test
    void invalidUtf8AndLongLinesNameTheLine() throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write("label,title,text\n1,a,b\n2,".getBytes(UTF_8));
        b.write(new byte[] {(byte) 0xE2, (byte) 0x82});
        b.write(",d\n".getBytes(UTF_8));
        Path f = Files.write(dir.resolve("bad.csv"), b.toByteArray());
        assertThatThrownBy(() -> TableReader.csv().readTasks(f, NEWS))
                .hasMessage(f + ":3: expected valid UTF-8 text, got invalid byte 0xE2 at byte 3 of the line");
        Path big = write("big.csv", "label,title,text\n1,a," + "z".repeat(300) + "\n");
        assertThatThrownBy(() -> TableReader.csv().readTasks(big, NEWS, ReadOptions.builder().maxLineBytes(64).build()))
                .hasMessage(big + ":2: expected a line of at most 64 bytes (ReadOptions.maxLineBytes), got a line of 304 bytes");
    }

    @Test
    void innerBlankLinesAreErrorsTrailingOnesAreNot() throws Exception {
        Path inner = write("ib.csv", "label,title,text\n1,a,b\n\n2,c,d\n");
        assertThatThrownBy(() -> TableReader.csv().readTasks(inner, NEWS))
                .hasMessage(inner + ":3: expected a row (blank lines are allowed only at the end of the file), got a blank line");
        Path trailing = write("tb.csv", "label,title,text\n1,a,b\n\n\n");
        assertThat(TableReader.csv().readTasks(trailing, NEWS)).hasSize(1);
    }

    @Test
    void blankAnswerOrInputIsAnError() throws Exception {
        TaskMapping free = TaskMapping.builder().input("q").answer("a").build();
        Path f = write("f.csv", "q,a\nwhat?,\n");
        assertThatThrownBy(() -> TableReader.csv().readTasks(f, free))
                .hasMessage(f + ":2: field \"a\": expected a non-blank answer, got blank text");
        Path g = write("g.csv", "q,a\n  ,x\n");
        assertThatThrownBy(() -> TableReader.csv().readTasks(g, free))
                .hasMessage(g + ":2: field \"q\": expected non-blank input text, got blank text");
    }

    @Test
    void mappingArgumentChecks() {
        assertThatThrownBy(() -> TaskMapping.builder().answer("a").build()).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> TaskMapping.builder().input("q").build()).isInstanceOf(NullPointerException.class)
                .hasMessageContaining("answer");
        assertThatThrownBy(() -> TableReader.withSeparator('"')).isInstanceOf(IllegalArgumentException.class);
    }
}
