package ai.safetune.data;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JsonlReaderTest {
    @TempDir
    Path dir;

    /** Maps {"q": string, "n": int} lines. */
    private static final RecordMapper<String> QN = rec -> rec.text("q") + "=" + rec.integer("n");

    private Path write(String name, String content) throws Exception {
        return Files.write(dir.resolve(name), content.getBytes(UTF_8));
    }

    private Path write(String name, byte[] content) throws Exception {
        return Files.write(dir.resolve(name), content);
    }

    private String name(Path p) {
        return p.toString();
    }

    @Test
    void readsWellFormedLines() throws Exception {
        Path f = write("ok.jsonl", "{\"q\":\"a\",\"n\":1}\n{\"q\":\"b\",\"n\":2}\n");
        assertThat(JsonlReader.read(f, QN)).containsExactly("a=1", "b=2");
    }

    @Test
    void malformedJsonNamesLineAndColumn() throws Exception {
        Path f = write("bad.jsonl", "{\"q\":\"a\",\"n\":1}\n{\"q\":\"b\",\"n\":2\n");
        assertThatThrownBy(() -> JsonlReader.read(f, QN))
                .isInstanceOf(DataFormatException.class)
                .hasMessageStartingWith(name(f) + ":2: expected well-formed JSON, got a syntax error at column")
                .satisfies(e -> assertThat(((DataFormatException) e).line()).isEqualTo(2));
    }

    @Test
    void trailingGarbageAndDuplicateKeysAreMalformed() throws Exception {
        Path trailing = write("t.jsonl", "{\"q\":\"a\",\"n\":1} {\"q\":\"b\",\"n\":2}\n");
        assertThatThrownBy(() -> JsonlReader.read(trailing, QN)).hasMessageStartingWith(name(trailing) + ":1: expected well-formed JSON");
        Path dup = write("d.jsonl", "{\"q\":\"a\",\"n\":1,\"q\":\"b\"}\n");
        assertThatThrownBy(() -> JsonlReader.read(dup, QN)).hasMessageContaining(":1: expected well-formed JSON")
                .hasMessageContaining("Duplicate field 'q'");
    }

    @Test
    void nonObjectLineIsAnError() throws Exception {
        Path f = write("arr.jsonl", "[1,2]\n");
        assertThatThrownBy(() -> JsonlReader.read(f, QN)).hasMessage(name(f) + ":1: expected a JSON object, got an array");
    }

    @Test
    void missingFieldIsNamed() throws Exception {
        Path f = write("m.jsonl", "{\"q\":\"a\",\"n\":1}\n{\"q\":\"a\",\"n\":1}\n{\"n\":3}\n");
        assertThatThrownBy(() -> JsonlReader.read(f, QN))
                .hasMessage(name(f) + ":3: field \"q\": expected a string, got nothing (field is missing)");
    }

    @Test
    void wronglyTypedFieldIsNamed() throws Exception {
        Path f = write("w.jsonl", "{\"q\":\"a\",\"n\":\"1\"}\n");
        assertThatThrownBy(() -> JsonlReader.read(f, QN))
                .hasMessage(name(f) + ":1: field \"n\": expected an integer, got \"1\"");
        Path g = write("w2.jsonl", "{\"q\":[\"a\"],\"n\":1}\n");
        assertThatThrownBy(() -> JsonlReader.read(g, QN))
                .hasMessage(name(g) + ":1: field \"q\": expected a string, got an array");
        Path h = write("w3.jsonl", "{\"q\":null,\"n\":1}\n");
        assertThatThrownBy(() -> JsonlReader.read(h, QN))
                .hasMessage(name(h) + ":1: field \"q\": expected a string, got null");
    }

    @Test
    void unknownLabelNamesTheAcceptedLabels() throws Exception {
        TaskMapping mapping = TaskMapping.builder().input("text").answer("label")
                .choices(List.of(new Choice("neg", ""), new Choice("pos", ""))).build();
        Path f = write("l.jsonl", "{\"text\":\"fine\",\"label\":\"pos\"}\n{\"text\":\"meh\",\"label\":\"neutral\"}\n");
        assertThatThrownBy(() -> JsonlReader.read(f, mapping::map))
                .hasMessage(name(f) + ":2: field \"label\": expected one of neg, pos, got \"neutral\"");
        Path ok = write("ok.jsonl", "{\"text\":\"fine\",\"label\":\"pos\"}\n");
        assertThat(JsonlReader.read(ok, mapping::map)).singleElement()
                .satisfies(e -> assertThat(e.goldChoice()).map(Choice::label).contains("pos"));
    }

    @Test
    void valueTypeArgumentChecksBecomeErrorsOnTheLine() throws Exception {
        Path f = write("c.jsonl", "{\"l\":\"A\"}\n{\"l\":\" \"}\n");
        assertThatThrownBy(() -> JsonlReader.read(f, rec -> new Choice(rec.text("l"), "")))
                .isInstanceOf(DataFormatException.class)
                .hasMessage(name(f) + ":2: expected a valid record, got one that is not: choice label must not be blank");
    }

    @Test
    void emptyFileIsAnError() throws Exception {
        Path f = write("empty.jsonl", "");
        assertThatThrownBy(() -> JsonlReader.read(f, QN))
                .hasMessage(name(f) + ":1: expected at least one JSON line, got an empty file");
        Path blanks = write("blanks.jsonl", "\n  \n\n");
        assertThatThrownBy(() -> JsonlReader.read(blanks, QN)).hasMessageContaining("got an empty file");
    }

    @Test
    void utf8ByteOrderMarkIsStripped() throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF});
        b.write("{\"q\":\"é\",\"n\":1}\n".getBytes(UTF_8));
        Path f = write("bom.jsonl", b.toByteArray());
        assertThat(JsonlReader.read(f, QN)).containsExactly("é=1");
    }

    @Test
    void utf16ByteOrderMarkIsRefused() throws Exception {
        Path f = write("u16.jsonl", "\uFEFF{\"q\":\"a\",\"n\":1}\n".getBytes(StandardCharsets.UTF_16LE));
        assertThatThrownBy(() -> JsonlReader.read(f, QN))
                .hasMessage(name(f) + ":1: expected UTF-8 text, got a UTF-16LE byte order mark (re-save the file as UTF-8)");
        ReadResult<String> lenient = JsonlReader.read(f, ReadOptions.lenient(), QN);
        assertThat(lenient.records()).isEmpty();
        assertThat(lenient.errors()).singleElement().satisfies(e -> assertThat(e.expected()).isEqualTo("UTF-8 text"));
    }

    @Test
    void crlfLineEndingsAreAccepted() throws Exception {
        Path f = write("crlf.jsonl", "{\"q\":\"a\",\"n\":1}\r\n{\"q\":\"b\\r\",\"n\":2}\r\n\r\n");
        assertThat(JsonlReader.read(f, QN)).containsExactly("a=1", "b\r=2");
    }

    @Test
    void invalidUtf8NamesTheLine() throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write("{\"q\":\"a\",\"n\":1}\n{\"q\":\"".getBytes(UTF_8));
        b.write(new byte[] {(byte) 0xC3, (byte) 0x28});
        b.write("\",\"n\":2}\n".getBytes(UTF_8));
        Path f = write("bad-utf8.jsonl", b.toByteArray());
        assertThatThrownBy(() -> JsonlReader.read(f, QN))
                .hasMessage(name(f) + ":2: expected valid UTF-8 text, got invalid byte 0xC3 at byte 7 of the line");
    }

    @Test
    void otherCharsetsAreDecodedWhenAsked() throws Exception {
        Path f = write("latin1.jsonl", "{\"q\":\"caf\u00e9\",\"n\":1}\n".getBytes(StandardCharsets.ISO_8859_1));
        assertThatThrownBy(() -> JsonlReader.read(f, QN)).hasMessageContaining("expected valid UTF-8 text");
        ReadOptions latin1 = ReadOptions.builder().charset(StandardCharsets.ISO_8859_1).build();
        assertThat(JsonlReader.read(f, latin1, QN).records()).containsExactly("caf\u00e9=1");
    }

    @Test
    void lineOverTheSizeLimitIsAnErrorAndTheNextLineStillReads() throws Exception {
        String big = "{\"q\":\"" + "x".repeat(200) + "\",\"n\":1}";
        Path f = write("big.jsonl", "{\"q\":\"a\",\"n\":1}\n" + big + "\n{\"q\":\"c\",\"n\":3}\n");
        ReadOptions small = ReadOptions.builder().maxLineBytes(100).build();
        assertThatThrownBy(() -> JsonlReader.read(f, small, QN))
                .hasMessage(name(f) + ":2: expected a line of at most 100 bytes (ReadOptions.maxLineBytes), got a line of "
                        + big.length() + " bytes");
        ReadResult<String> r = JsonlReader.read(f, small.toBuilder().lenient().build(), QN);
        assertThat(r.records()).containsExactly("a=1", "c=3");
        assertThat(r.errors()).singleElement().satisfies(e -> assertThat(e.line()).isEqualTo(2));
        // the default limit is 1 MiB
        assertThat(JsonlReader.read(f, QN)).hasSize(3);
        assertThat(ReadOptions.defaults().maxLineBytes()).isEqualTo(1 << 20);
    }

    @Test
    void theLimitCountsContentNotTheLineEnding() throws Exception {
        String line = "{\"q\":\"" + "x".repeat(20) + "\",\"n\":1}"; // 34 bytes
        Path f = write("exact.jsonl", line + "\r\n" + line + "\n" + line);
        assertThat(JsonlReader.read(f, ReadOptions.builder().maxLineBytes(line.length()).build(), QN).recordsOrThrow()).hasSize(3);
        assertThatThrownBy(() -> JsonlReader.read(f, ReadOptions.builder().maxLineBytes(line.length() - 1).build(), QN))
                .hasMessageContaining(":1: expected a line of at most 33 bytes");
    }

    @Test
    void hugeLineIsNotBuffered() throws Exception {
        // 8 MiB on one line with a 1 KiB limit: reported, and read without holding it
        Path f = dir.resolve("huge.jsonl");
        byte[] line = new byte[8 << 20];
        java.util.Arrays.fill(line, (byte) 'x');
        Files.write(f, line);
        assertThatThrownBy(() -> JsonlReader.read(f, ReadOptions.builder().maxLineBytes(1024).build(), QN))
                .hasMessageContaining(":1: expected a line of at most 1024 bytes").hasMessageContaining((8 << 20) + " bytes");
    }

    @Test
    void trailingBlankLinesAreAcceptedButInnerOnesAreErrors() throws Exception {
        Path trailing = write("tb.jsonl", "{\"q\":\"a\",\"n\":1}\n\n   \n");
        assertThat(JsonlReader.read(trailing, QN)).containsExactly("a=1");
        Path inner = write("ib.jsonl", "{\"q\":\"a\",\"n\":1}\n\n{\"q\":\"b\",\"n\":2}\n");
        assertThatThrownBy(() -> JsonlReader.read(inner, QN))
                .hasMessage(name(inner) + ":2: expected a JSON object (blank lines are allowed only at the end of the file), "
                        + "got a blank line");
    }

    @Test
    void lenientReadCollectsEveryErrorAndKeepsTheGoodRecords() throws Exception {
        Path f = write("mixed.jsonl", String.join("\n",
                "{\"q\":\"a\",\"n\":1}",
                "{\"q\":\"b\",\"n\":",
                "{\"q\":\"c\",\"n\":3}",
                "{\"n\":4}",
                "",
                "{\"q\":\"f\",\"n\":\"x\"}",
                "{\"q\":\"g\",\"n\":7}") + "\n");
        ReadResult<String> r = JsonlReader.read(f, ReadOptions.lenient(), QN);
        assertThat(r.records()).containsExactly("a=1", "c=3", "g=7");
        assertThat(r.errors()).extracting(DataFormatException::line).containsExactly(2, 4, 5, 6);
        assertThat(r.errors().get(1).field()).contains("q");
        assertThatThrownBy(r::recordsOrThrow)
                .isInstanceOf(DataFormatException.class)
                .hasMessageStartingWith("4 errors in " + name(f))
                .hasMessageContaining(name(f) + ":6: field \"n\": expected an integer, got \"x\"")
                .satisfies(e -> assertThat(((DataFormatException) e).errors()).hasSize(4));
    }

    @Test
    void streamingVisitsRecordsInOrder() throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 5000; i++) {
            sb.append("{\"q\":\"x").append(i).append("\",\"n\":").append(i).append("}\n");
        }
        Path f = write("many.jsonl", sb.toString());
        List<String> seen = new java.util.ArrayList<>();
        assertThat(JsonlReader.forEach(f, ReadOptions.defaults(), QN, seen::add)).isEmpty();
        assertThat(seen).hasSize(5000).startsWith("x0=0").endsWith("x4999=4999");
    }

    @Test
    void errorCarriesItsParts() {
        DataFormatException e = new DataFormatException("data.jsonl", 17, "messages[2].role",
                "one of system, user, assistant", "\"bot\"");
        assertThat(e).hasMessage("data.jsonl:17: field \"messages[2].role\": expected one of system, user, assistant, got \"bot\"");
        assertThat(e.file()).isEqualTo("data.jsonl");
        assertThat(e.line()).isEqualTo(17);
        assertThat(e.field()).contains("messages[2].role");
        assertThat(e.expected()).isEqualTo("one of system, user, assistant");
        assertThat(e.actual()).contains("\"bot\"");
        assertThatThrownBy(() -> new DataFormatException("f", 0, null, "x", null)).isInstanceOf(IllegalArgumentException.class);
    }
}
