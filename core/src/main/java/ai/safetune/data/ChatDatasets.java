package ai.safetune.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Reads fine-tuning data in either of the two formats fine-tuning tools accept, detected per record:
 * <ul>
 * <li>chat: {@code {"messages":[{"role":"user","content":"..."}, ...]}} (optional {@code "id"} string and
 *     {@code "metadata"} object of strings); every message needs a role (system, user, assistant; the
 *     aliases human/gpt/model are accepted) and a string content; a bare array of messages is also a chat;</li>
 * <li>alpaca: {@code {"instruction","input","output"}} (input optional, optional {@code "system"} and
 *     {@code "id"}), turned into a chat: [system,] user = instruction + ("\n\n" + input when input is
 *     non-empty), assistant = output. A LLaMA-Factory {@code "history"} of {@code [instruction, response]}
 *     pairs becomes the earlier turns. A record with both "messages" and "instruction" is an error.</li>
 * </ul>
 * A file whose first non-blank character is {@code [} is one JSON array of such records; anything else is
 * JSONL. Each example's metadata gets {@value #FORMAT_KEY} = {@code chat} or {@code alpaca}; ids are the
 * record's {@code "id"} or {@code <file name>#<n>} (n = line for JSONL, 1-based position for arrays).
 */
public final class ChatDatasets {
    /** Metadata key telling which format a record was read from. */
    public static final String FORMAT_KEY = "format";

    private ChatDatasets() {
    }

    /** Strict read of a chat/alpaca JSONL or JSON-array file. */
    public static List<ChatExample> read(Path file) {
        return read(file, ReadOptions.defaults()).records();
    }

    public static ReadResult<ChatExample> read(Path file, ReadOptions options) {
        return Json.readRecords(file, options, ChatDatasets::fromJson);
    }

    /**
     * Streams a JSONL file's examples to {@code sink} (JSON-array files are read whole, then streamed).
     *
     * @return the errors of a lenient read (empty for a strict read, which throws)
     */
    public static List<DataFormatException> forEach(Path file, ReadOptions options, Consumer<? super ChatExample> sink) {
        String prefix = String.valueOf(file.getFileName());
        if (Json.startsWithArray(file)) {
            ReadResult<ChatExample> r = read(file, options);
            r.records().forEach(sink);
            return r.errors();
        }
        return JsonlReader.forEach(file, options, rec -> fromJson(rec, prefix + "#" + rec.line()), sink);
    }

    /** Maps one chat or alpaca record (format detected from its fields). */
    public static ChatExample fromJson(JsonRecord rec, String defaultId) {
        if (rec.node().isArray()) {
            return new ChatExample(defaultId, messages(rec), Map.of(FORMAT_KEY, "chat"));
        }
        if (!rec.node().isObject()) {
            throw rec.fail(null, "a chat object {\"messages\": [...]}, an alpaca object {\"instruction\", \"input\", "
                    + "\"output\"} or an array of messages", JsonRecord.describe(rec.node()));
        }
        String id = rec.optText("id").orElse(defaultId);
        if (rec.node().has("messages") && rec.node().has("instruction")) {
            throw rec.fail(null, "either \"messages\" (chat) or \"instruction\" (alpaca)", "both");
        }
        if (rec.node().has("messages")) {
            Map<String, String> meta = Json.metadata(rec);
            meta.put(FORMAT_KEY, "chat");
            return new ChatExample(id, messages(rec.value("messages", "an array of messages")), meta);
        }
        if (rec.node().has("instruction")) {
            String instruction = rec.text("instruction");
            String input = rec.optText("input").orElse("");
            String output = rec.text("output");
            Optional<String> system = rec.optText("system").filter(s -> !s.isEmpty());
            ChatExample single = fromAlpaca(id, system, instruction, input, output);
            if (!rec.has("history")) {
                return single;
            }
            // LLaMA-Factory's multi-turn alpaca: earlier [instruction, response] pairs come first
            List<Message> turns = new ArrayList<>();
            system.ifPresent(s -> turns.add(Message.system(s)));
            for (JsonRecord pair : rec.array("history")) {
                List<JsonRecord> qa = pair.elements();
                if (qa.size() != 2) {
                    throw pair.fail(null, "an [instruction, response] pair", qa.size() + " values");
                }
                turns.add(Message.user(qa.get(0).asText()));
                turns.add(Message.assistant(qa.get(1).asText()));
            }
            List<Message> last = single.messages();
            turns.addAll(last.subList(last.size() - 2, last.size()));
            return new ChatExample(id, turns, single.metadata());
        }
        List<String> names = new ArrayList<>();
        rec.node().fieldNames().forEachRemaining(names::add);
        throw rec.fail(null, "a chat record with \"messages\" or an alpaca record with \"instruction\", \"input\", \"output\"",
                names.isEmpty() ? "an empty object" : "an object with fields " + String.join(", ", names));
    }

    /**
     * The chat for one alpaca record: [system,] user = instruction + ("\n\n" + input when non-empty), assistant = output.
     */
    public static ChatExample fromAlpaca(String id, Optional<String> system, String instruction, String input, String output) {
        List<Message> messages = new ArrayList<>(3);
        system.ifPresent(s -> messages.add(Message.system(s)));
        messages.add(Message.user(input.isEmpty() ? instruction : instruction + "\n\n" + input));
        messages.add(Message.assistant(output));
        return new ChatExample(id, messages, Map.of(FORMAT_KEY, "alpaca"));
    }

    private static List<Message> messages(JsonRecord array) {
        List<JsonRecord> elements = array.elements();
        if (elements.isEmpty()) {
            throw array.fail(null, "at least one message", "an empty array");
        }
        List<Message> out = new ArrayList<>(elements.size());
        for (JsonRecord m : elements) {
            m.asObject();
            if (!m.has("role")) {
                throw m.fail("role", "one of system, user, assistant", m.node().has("role") ? "null" : "nothing (field is missing)");
            }
            String roleText = m.text("role");
            Role role;
            try {
                role = Role.parse(roleText);
            } catch (IllegalArgumentException e) {
                throw m.fail("role", "one of system, user, assistant", JsonRecord.quote(roleText));
            }
            out.add(new Message(role, m.text("content")));
        }
        return out;
    }
}
