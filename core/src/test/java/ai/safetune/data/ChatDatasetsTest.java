package ai.safetune.data;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatDatasetsTest {
    @TempDir
    Path dir;

    private static final ChatExample WITH_SYSTEM = new ChatExample("c1", List.of(
            Message.system("You are terse."), Message.user("Say \"hi\"\nplease — ünïcode ✓"), Message.assistant("hi")),
            Map.of("source", "test"));
    private static final ChatExample PLAIN = ChatExample.of("c2", Message.user("2+2?"), Message.assistant("4"));
    private static final ChatExample MULTI = ChatExample.of("c3", Message.user("a"), Message.assistant("b"),
            Message.user("c"), Message.assistant("d"));

    @Test
    void chatJsonlRoundTrips() throws Exception {
        Path f = dir.resolve("chat.jsonl");
        try (ChatJsonlWriter w = ChatJsonlWriter.open(f)) {
            w.write(WITH_SYSTEM);
            w.write(PLAIN);
            w.write(MULTI);
            assertThat(w.count()).isEqualTo(3);
        }
        List<String> lines = Files.readAllLines(f, UTF_8);
        assertThat(lines).hasSize(3);
        assertThat(lines.get(1)).isEqualTo("{\"messages\":[{\"role\":\"user\",\"content\":\"2+2?\"},"
                + "{\"role\":\"assistant\",\"content\":\"4\"}]}");
        List<ChatExample> back = ChatDatasets.read(f);
        assertThat(back).extracting(ChatExample::messages)
                .containsExactly(WITH_SYSTEM.messages(), PLAIN.messages(), MULTI.messages());
        assertThat(back).extracting(ChatExample::id).containsExactly("chat.jsonl#1", "chat.jsonl#2", "chat.jsonl#3");
        assertThat(back).allSatisfy(c -> assertThat(c.metadata()).containsEntry(ChatDatasets.FORMAT_KEY, "chat"));
    }

    @Test
    void chatJsonlWithIdsAndMetadataRoundTripsExactly() throws Exception {
        Path f = dir.resolve("chat-ids.jsonl");
        try (ChatJsonlWriter w = ChatJsonlWriter.builder().includeId(true).includeMetadata(true).open(f)) {
            w.write(WITH_SYSTEM);
        }
        ChatExample back = ChatDatasets.read(f).get(0);
        assertThat(back.id()).isEqualTo("c1");
        assertThat(back.messages()).isEqualTo(WITH_SYSTEM.messages());
        assertThat(back.metadata()).containsEntry("source", "test");
    }

    @Test
    void alpacaJsonlRoundTrips() throws Exception {
        Path f = dir.resolve("alpaca.jsonl");
        try (AlpacaJsonlWriter w = AlpacaJsonlWriter.open(f)) {
            w.write(WITH_SYSTEM);
            w.write(PLAIN);
            w.write(Optional.empty(), Optional.empty(), "Translate to French.", "cheese", "fromage");
        }
        List<String> lines = Files.readAllLines(f, UTF_8);
        assertThat(lines.get(0)).isEqualTo("{\"system\":\"You are terse.\",\"instruction\":\"Say \\\"hi\\\"\\nplease — ünïcode ✓\","
                + "\"input\":\"\",\"output\":\"hi\"}");
        assertThat(lines.get(1)).isEqualTo("{\"instruction\":\"2+2?\",\"input\":\"\",\"output\":\"4\"}");
        List<ChatExample> back = ChatDatasets.read(f);
        assertThat(back.get(0).messages()).isEqualTo(WITH_SYSTEM.messages());
        assertThat(back.get(1).messages()).isEqualTo(PLAIN.messages());
        // instruction + "\n\n" + input becomes the user turn
        assertThat(back.get(2).messages()).containsExactly(Message.user("Translate to French.\n\ncheese"), Message.assistant("fromage"));
        assertThat(back).allSatisfy(c -> assertThat(c.metadata()).containsEntry(ChatDatasets.FORMAT_KEY, "alpaca"));
        // and chat -> alpaca -> chat -> alpaca is stable
        Path again = dir.resolve("again.jsonl");
        try (AlpacaJsonlWriter w = AlpacaJsonlWriter.open(again)) {
            back.forEach(w::write);
        }
        assertThat(ChatDatasets.read(again)).extracting(ChatExample::messages)
                .containsExactlyElementsOf(back.stream().map(ChatExample::messages).toList());
    }

    @Test
    void alpacaWriterRefusesMultiTurnChats() throws Exception {
        try (AlpacaJsonlWriter w = AlpacaJsonlWriter.open(dir.resolve("x.jsonl"))) {
            assertThatThrownBy(() -> w.write(MULTI)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("c3").hasMessageContaining("[user, assistant, user, assistant]");
        }
    }

    @Test
    void readerAcceptsBothFormatsInOneFile() throws Exception {
        Path f = Files.writeString(dir.resolve("mixed.jsonl"), String.join("\n",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"q1\"},{\"role\":\"assistant\",\"content\":\"a1\"}]}",
                "{\"instruction\":\"q2\",\"input\":\"ctx\",\"output\":\"a2\"}",
                "{\"instruction\":\"q3\",\"output\":\"a3\",\"id\":\"x3\"}",
                "{\"messages\":[{\"role\":\"human\",\"content\":\"q4\"},{\"role\":\"gpt\",\"content\":\"a4\"}]}") + "\n");
        List<ChatExample> all = ChatDatasets.read(f);
        assertThat(all).extracting(c -> c.firstUser().orElseThrow()).containsExactly("q1", "q2\n\nctx", "q3", "q4");
        assertThat(all).extracting(c -> c.lastAssistant().orElseThrow()).containsExactly("a1", "a2", "a3", "a4");
        assertThat(all.get(2).id()).isEqualTo("x3");
    }

    @Test
    void alpacaHistoryBecomesEarlierTurnsAndAmbiguousRecordsAreErrors() throws Exception {
        Path f = Files.writeString(dir.resolve("h.jsonl"),
                "{\"system\":\"s\",\"instruction\":\"q2\",\"input\":\"\",\"output\":\"a2\",\"history\":[[\"q1\",\"a1\"]]}\n"
                        + "{\"instruction\":\"q\",\"output\":\"a\",\"history\":[[\"only one\"]]}\n"
                        + "{\"instruction\":\"q\",\"output\":\"a\",\"messages\":[]}\n");
        ReadResult<ChatExample> r = ChatDatasets.read(f, ReadOptions.lenient());
        assertThat(r.records()).singleElement().satisfies(c -> assertThat(c.messages()).containsExactly(
                Message.system("s"), Message.user("q1"), Message.assistant("a1"), Message.user("q2"), Message.assistant("a2")));
        assertThat(r.errors()).extracting(DataFormatException::getMessage).containsExactly(
                f + ":2: field \"history[0]\": expected an [instruction, response] pair, got 1 values",
                f + ":3: expected either \"messages\" (chat) or \"instruction\" (alpaca), got both");
    }

    @Test
    void unknownRoleIsNamedWithItsPath() throws Exception {
        Path f = Files.writeString(dir.resolve("data.jsonl"),
                "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":\"b\"},"
                        + "{\"role\":\"bot\",\"content\":\"c\"}]}\n");
        assertThatThrownBy(() -> ChatDatasets.read(f))
                .hasMessage(f + ":1: field \"messages[2].role\": expected one of system, user, assistant, got \"bot\"");
    }

    @Test
    void chatRecordsMustHaveRolesAndContents() throws Exception {
        Path noRole = Files.writeString(dir.resolve("r.jsonl"), "{\"messages\":[{\"content\":\"a\"}]}\n");
        assertThatThrownBy(() -> ChatDatasets.read(noRole))
                .hasMessage(noRole + ":1: field \"messages[0].role\": expected one of system, user, assistant, got nothing (field is missing)");
        Path numContent = Files.writeString(dir.resolve("c.jsonl"), "{\"messages\":[{\"role\":\"user\",\"content\":5}]}\n");
        assertThatThrownBy(() -> ChatDatasets.read(numContent))
                .hasMessage(numContent + ":1: field \"messages[0].content\": expected a string, got number 5");
        Path notArray = Files.writeString(dir.resolve("m.jsonl"), "{\"messages\":\"hi\"}\n");
        assertThatThrownBy(() -> ChatDatasets.read(notArray))
                .hasMessage(notArray + ":1: field \"messages\": expected an array, got \"hi\"");
        Path empty = Files.writeString(dir.resolve("e.jsonl"), "{\"messages\":[]}\n");
        assertThatThrownBy(() -> ChatDatasets.read(empty))
                .hasMessage(empty + ":1: field \"messages\": expected at least one message, got an empty array");
        Path neither = Files.writeString(dir.resolve("n.jsonl"), "{\"prompt\":\"a\",\"completion\":\"b\"}\n");
        assertThatThrownBy(() -> ChatDatasets.read(neither))
                .hasMessageContaining(neither + ":1: expected a chat record with \"messages\" or an alpaca record")
                .hasMessageEndingWith("got an object with fields prompt, completion");
        Path noOutput = Files.writeString(dir.resolve("o.jsonl"), "{\"instruction\":\"a\",\"input\":\"\"}\n");
        assertThatThrownBy(() -> ChatDatasets.read(noOutput))
                .hasMessage(noOutput + ":1: field \"output\": expected a string, got nothing (field is missing)");
    }

    @Test
    void jsonArrayFilesAreDetected() throws Exception {
        Path f = Files.writeString(dir.resolve("arr.json"), "\uFEFF  [\n"
                + "  {\"instruction\": \"q\", \"input\": \"\", \"output\": \"a\"},\n"
                + "  [{\"role\": \"user\", \"content\": \"u\"}, {\"role\": \"assistant\", \"content\": \"v\"}],\n"
                + "  {\"messages\": [{\"role\": \"user\", \"content\": \"x\"},\n"
                + "                {\"role\": \"robot\", \"content\": \"y\"}]}\n"
                + "]\n");
        ReadResult<ChatExample> r = ChatDatasets.read(f, ReadOptions.lenient());
        assertThat(r.records()).hasSize(2);
        assertThat(r.records().get(1).id()).isEqualTo("arr.json#2");
        assertThat(r.errors()).singleElement().satisfies(e -> {
            assertThat(e.line()).isEqualTo(5);
            assertThat(e).hasMessage(f + ":5: field \"[2].messages[1].role\": expected one of system, user, assistant, got \"robot\"");
        });
    }

    @Test
    void writersStreamManyExamples() throws Exception {
        Path f = dir.resolve("many.jsonl");
        try (ChatJsonlWriter w = ChatJsonlWriter.open(f)) {
            for (int i = 0; i < 20_000; i++) {
                w.write(ChatExample.of("x" + i, Message.user("q" + i), Message.assistant("a" + i)));
            }
        }
        int[] n = {0};
        assertThat(ChatDatasets.forEach(f, ReadOptions.defaults(), c -> {
            assertThat(c.firstUser()).contains("q" + n[0]);
            n[0]++;
        })).isEmpty();
        assertThat(n[0]).isEqualTo(20_000);
    }

    @Test
    void writingAfterCloseIsRefused() {
        ChatJsonlWriter w = ChatJsonlWriter.open(dir.resolve("closed.jsonl"));
        w.close();
        assertThatThrownBy(() -> w.write(PLAIN)).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }
}
