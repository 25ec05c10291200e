package ai.safetune.data;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JsonArrayReaderTest {
    @TempDir
    Path dir;

    private static final RecordMapper<String> Q = rec -> rec.asObject().text("q");

    private Path write(String name, String content) throws Exception {
        return Files.writeString(dir.resolve(name), content);
    }

    @Test
    void readsPrettyPrintedArraysWithCrlfAndBom() throws Exception {
        Path f = write("a.json", "\uFEFF[\r\n  {\"q\": \"a\"},\r\n  {\r\n    \"q\": \"b\"\r\n  }\r\n]\r\n");
        assertThat(JsonArrayReader.read(f, Q)).containsExactly("a", "b");
    }

    @Test
    void errorsNameTheLineOfTheOffendingField() throws Exception {
        Path f = write("b.json", "[\n  {\"q\": \"a\"},\n  {\n    \"x\": 1,\n    \"q\": 2\n  }\n]\n");
        assertThatThrownBy(() -> JsonArrayReader.read(f, Q))
                .hasMessage(f + ":5: field \"[1].q\": expected a string, got number 2");
        Path missing = write("c.json", "[\n  {\"q\": \"a\"},\n  {\n    \"x\": 1\n  }\n]\n");
        assertThatThrownBy(() -> JsonArrayReader.read(missing, Q))
                .hasMessage(missing + ":3: field \"[1].q\": expected a string, got nothing (field is missing)");
    }

    @Test
    void syntaxErrorNamesItsLineAndEndsEvenALenientRead() throws Exception {
        Path f = write("s.json", "[\n  {\"q\": \"a\"},\n  {\"q\": \"b\" \"r\": 1},\n  {\"q\": \"c\"}\n]\n");
        assertThatThrownBy(() -> JsonArrayReader.read(f, Q))
                .hasMessageStartingWith(f + ":3: expected well-formed JSON, got a syntax error at column");
        ReadResult<String> lenient = JsonArrayReader.read(f, ReadOptions.lenient(), Q);
        assertThat(lenient.records()).isEmpty();
        assertThat(lenient.errors()).singleElement().satisfies(e -> assertThat(e.line()).isEqualTo(3));
        Path truncated = write("t.json", "[\n  {\"q\": \"a\"},\n  {\"q\": \"b\"\n");
        assertThatThrownBy(() -> JsonArrayReader.read(truncated, Q))
                .hasMessageContaining("expected well-formed JSON").hasMessageContaining("end-of-input");
    }

    @Test
    void emptyInputsAreErrors() throws Exception {
        Path empty = write("e.json", "  \n");
        assertThatThrownBy(() -> JsonArrayReader.read(empty, Q)).hasMessage(empty + ":1: expected a JSON document, got an empty file");
        Path emptyArray = write("ea.json", "[ ]\n");
        assertThatThrownBy(() -> JsonArrayReader.read(emptyArray, Q)).hasMessage(emptyArray + ":1: expected at least one record, got an empty array");
        Path object = write("o.json", "{\"q\": \"a\"}\n");
        assertThatThrownBy(() -> JsonArrayReader.read(object, Q)).hasMessage(object + ":1: expected a JSON array of records, got an object");
        Path twoDocs = write("two.json", "[{\"q\": \"a\"}]\n[{\"q\": \"b\"}]\n");
        assertThatThrownBy(() -> JsonArrayReader.read(twoDocs, Q))
                .hasMessage(twoDocs + ":2: expected the end of the file after the JSON document, got more content");
    }

    @Test
    void encodingAndLineSizeAreCheckedAsForJsonl() throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write("[\n {\"q\": \"a\"},\n {\"q\": \"".getBytes(UTF_8));
        b.write(0xFF);
        b.write("\"}\n]\n".getBytes(UTF_8));
        Path f = Files.write(dir.resolve("u.json"), b.toByteArray());
        assertThatThrownBy(() -> JsonArrayReader.read(f, Q))
                .hasMessage(f + ":3: expected valid UTF-8 text, got invalid byte 0xFF at byte 9 of the line");
        Path big = write("big.json", "[\n {\"q\": \"" + "y".repeat(500) + "\"}\n]\n");
        assertThatThrownBy(() -> JsonArrayReader.read(big, ReadOptions.builder().maxLineBytes(256).build(), Q))
                .hasMessageStartingWith(big + ":2: expected a line of at most 256 bytes");
        // lenient: every bad line is reported, none of the document is trusted
        Path two = write("two-bad.json", "[\n {\"q\": \"" + "y".repeat(500) + "\"},\n {\"q\": \"ok\"},\n {\"q\": \""
                + "w".repeat(500) + "\"}\n]\n");
        ReadResult<String> r = JsonArrayReader.read(two, ReadOptions.builder().lenient().maxLineBytes(256).build(), Q);
        assertThat(r.records()).isEmpty();
        assertThat(r.errors()).extracting(DataFormatException::line).containsExactly(2, 4);
    }

    @Test
    void lenientReadCollectsElementErrors() throws Exception {
        Path f = write("l.json", "[\n {\"q\": \"a\"},\n {\"q\": 1},\n \"str\",\n {\"q\": \"d\"}\n]\n");
        ReadResult<String> r = JsonArrayReader.read(f, ReadOptions.lenient(), Q);
        assertThat(r.records()).containsExactly("a", "d");
        assertThat(r.errors()).extracting(DataFormatException::getMessage).containsExactly(
                f + ":3: field \"[1].q\": expected a string, got number 1",
                f + ":4: field \"[2]\": expected an object, got \"str\"");
    }

    @Test
    void documentsShapedAsObjectsKeepElementLines() throws Exception {
        Path f = write("doc.json", "{\n  \"instructions\": [\n    \"one\",\n    7\n  ]\n}\n");
        JsonRecord doc = JsonArrayReader.readDocument(f, ReadOptions.defaults());
        assertThat(doc.array("instructions").get(0).asText()).isEqualTo("one");
        assertThatThrownBy(() -> doc.array("instructions").get(1).asText())
                .hasMessage(f + ":4: field \"instructions[1]\": expected a string, got number 7");
        assertThatThrownBy(() -> doc.texts("tags"))
                .hasMessage(f + ":1: field \"tags\": expected an array, got nothing (field is missing)");
    }
}
