package ai.safetune.cli;

import ai.safetune.backend.Backend;
import ai.safetune.backend.BackendOptions;
import ai.safetune.backend.Backends;
import ai.safetune.data.Message;
import ai.safetune.data.Role;
import ai.safetune.model.LlamaModel;
import ai.safetune.model.ModelFiles;
import ai.safetune.train.PeftAdapter;
import ai.safetune.tokenizer.ChatTemplate;
import ai.safetune.tokenizer.Tokenizer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What the {@code logits} and {@code generate} commands share: the model files, a backend, the forward pass
 * (with an optional PEFT adapter), the tokenizer and chat template (built on first use), and turning an input
 * line into token ids ({@code tokenize} reuses the message parsing).
 */
final class ModelRuntime implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();

    private final ModelFiles files;
    private final Path adapter;
    private final BackendOptions backendOptions;
    private final boolean dequantize;
    private Backend backend;
    private LlamaModel model;
    private Tokenizer tokenizer;
    private ChatTemplate template;

    ModelRuntime(Path modelPath, Path adapter, BackendOptions backendOptions, boolean dequantize) {
        this.files = ModelFiles.open(modelPath);
        this.adapter = adapter;
        this.backendOptions = backendOptions;
        this.dequantize = dequantize;
    }

    /** The model files (config, weights, tokenizer source). */
    ModelFiles files() {
        return files;
    }

    /** The Java forward pass, loaded on first use (the ONNX engine never needs it). */
    LlamaModel model() {
        if (model == null) {
            Backend b = Backends.select(backendOptions);
            try {
                LlamaModel m = LlamaModel.load(files.config(), files.weights(), b, dequantize);
                if (adapter != null) {
                    m.setAdapter(PeftAdapter.load(adapter).weights());
                }
                this.model = m;
                this.backend = b;
            } catch (RuntimeException e) {
                b.close();
                throw e;
            }
        }
        return model;
    }

    Tokenizer tokenizer() {
        if (tokenizer == null) {
            tokenizer = Tokenizer.from(files.tokenizerSource());
        }
        return tokenizer;
    }

    ChatTemplate template() {
        if (template == null) {
            template = ChatTemplate.from(files.tokenizerSource(), tokenizer());
        }
        return template;
    }

    static void requireInput(Path in) {
        if (!Files.isRegularFile(in)) {
            throw new IllegalArgumentException("--in " + in + ": no such file");
        }
    }

    static ObjectNode parse(String line, String where) {
        JsonNode node;
        try {
            node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(where + ": not valid JSON: " + e.getOriginalMessage());
        }
        if (!(node instanceof ObjectNode)) {
            throw new IllegalArgumentException(where + ": expected a JSON object, got " + node.getNodeType());
        }
        return (ObjectNode) node;
    }

    /**
     * Token ids of an input line: {@code "ids"} (when allowed) as given, {@code "text"} encoded as is, or
     * {@code "messages"} rendered with the chat template and the generation prompt.
     */
    int[] ids(ObjectNode obj, String where, boolean allowIds) {
        int vocab = files.config().vocabSize();
        int[] ids;
        if (allowIds && obj.has("ids")) {
            JsonNode a = obj.get("ids");
            if (!a.isArray() || a.isEmpty()) {
                throw new IllegalArgumentException(where + ": field \"ids\" must be a non-empty array of token ids");
            }
            ids = new int[a.size()];
            for (int i = 0; i < ids.length; i++) {
                JsonNode v = a.get(i);
                if (!v.canConvertToInt() || !v.isIntegralNumber()) {
                    throw new IllegalArgumentException(where + ": ids[" + i + "] is not an integer: " + v);
                }
                ids[i] = v.asInt();
            }
        } else if (obj.has("messages")) {
            List<Message> messages = messages(obj.get("messages"), where);
            try {
                ids = template().renderWithMask(messages, true).ids();
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
            }
        } else if (obj.has("text")) {
            JsonNode text = obj.get("text");
            if (!text.isTextual()) {
                throw new IllegalArgumentException(where + ": field \"text\" must be a string, got " + text.getNodeType());
            }
            ids = tokenizer().encode(text.asText());
        } else {
            throw new IllegalArgumentException(where + ": expected " + (allowIds ? "an \"ids\", " : "a ")
                    + "\"text\" or \"messages\" field");
        }
        if (ids.length == 0) {
            throw new IllegalArgumentException(where + ": the input encodes to no tokens");
        }
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new IllegalArgumentException(where + ": token id " + ids[i] + " at index " + i
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        return ids;
    }

    /** The {@code "messages"} array of an input line as messages; {@code where} names the line in errors. */
    static List<Message> messages(JsonNode msgs, String where) {
        if (!msgs.isArray() || msgs.isEmpty()) {
            throw new IllegalArgumentException(where + ": field \"messages\" must be a non-empty array");
        }
        List<Message> out = new ArrayList<>();
        for (int i = 0; i < msgs.size(); i++) {
            JsonNode m = msgs.get(i);
            String field = where + ": messages[" + i + "]";
            if (!m.path("role").isTextual() || !m.path("content").isTextual()) {
                throw new IllegalArgumentException(field + " needs string fields \"role\" and \"content\"");
            }
            Role role;
            try {
                role = Role.parse(m.get("role").asText());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(field + ".role: " + e.getMessage());
            }
            out.add(new Message(role, m.get("content").asText()));
        }
        return out;
    }

    @Override
    public void close() {
        if (model != null) {
            model.close();
        }
        if (backend != null) {
            backend.close();
        }
        files.close();
    }
}
