package ai.safetune.cli;

import ai.safetune.data.Message;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.TokenizerSource;
import ai.safetune.tokenizer.ChatEncoding;
import ai.safetune.tokenizer.ChatTemplate;
import ai.safetune.tokenizer.Tokenizer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code safetune tokenize --model PATH --in F.jsonl --out G.jsonl}: each input line is {@code {"text": ...}}
 * or {@code {"messages": [...], "add_generation_prompt": bool}}; each output line repeats the input and adds
 * {@code "ids"}, and for chats {@code "rendered"} and {@code "assistant_mask"}.
 */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = {"Tokenize texts and chats with a model's own tokenizer and chat template.",
            "Input lines: {\"text\": ...} or {\"messages\": [{\"role\",\"content\"}...], \"add_generation_prompt\": bool}.",
            "Output lines: the input plus \"ids\" (and for chats \"rendered\" and \"assistant_mask\")."})
public final class TokenizeCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--model", required = true, paramLabel = "PATH", description = "A .gguf file or a Hugging Face model directory.")
    Path model;

    @Option(names = "--in", required = true, paramLabel = "F.jsonl", description = "Input JSONL.")
    Path in;

    @Option(names = "--out", required = true, paramLabel = "G.jsonl", description = "Output JSONL (written whole or not at all).")
    Path out;

    @Override
    public Integer call() throws IOException {
        if (!Files.isRegularFile(in)) {
            throw new IllegalArgumentException("--in " + in + ": no such file");
        }
        TokenizerSource source;
        try (ModelFiles files = ModelFiles.open(model)) {
            source = files.tokenizerSource();
        }
        Tokenizer tokenizer = Tokenizer.from(source);
        AtomicOutput.write(out, tmp -> tokenize(source, tokenizer, tmp));
        return 0;
    }

    private void tokenize(TokenizerSource source, Tokenizer tokenizer, Path tmp) throws IOException {
        // the template is only needed (and only required to exist) when a chat line comes
        ChatTemplate template = null;
        int lineNo = 0;
        try (BufferedReader r = Files.newBufferedReader(in, StandardCharsets.UTF_8);
             BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            for (String line; (line = r.readLine()) != null; ) {
                lineNo++;
                if (line.isBlank()) {
                    continue;
                }
                String where = in + " line " + lineNo;
                ObjectNode obj = parse(line, where);
                if (obj.has("messages")) {
                    if (template == null) {
                        template = ChatTemplate.from(source, tokenizer);
                    }
                    tokenizeChat(obj, template, where);
                } else if (obj.has("text")) {
                    JsonNode text = obj.get("text");
                    if (!text.isTextual()) {
                        throw new IllegalArgumentException(where + ": field \"text\" must be a string, got " + text.getNodeType());
                    }
                    obj.set("ids", ids(tokenizer.encode(text.asText())));
                } else {
                    throw new IllegalArgumentException(where + ": expected a \"text\" or a \"messages\" field");
                }
                w.write(JSON.writeValueAsString(obj));
                w.write('\n');
            }
        }
    }

    private static ObjectNode parse(String line, String where) {
        JsonNode node;
        try {
            node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            String msg = e.getOriginalMessage();
            int cut = msg.indexOf(" (start marker at");
            throw new IllegalArgumentException(where + ": not valid JSON: " + (cut > 0 ? msg.substring(0, cut) : msg)
                    + " (column " + e.getLocation().getColumnNr() + ")");
        }
        if (!(node instanceof ObjectNode)) {
            throw new IllegalArgumentException(where + ": expected a JSON object, got " + node.getNodeType());
        }
        return (ObjectNode) node;
    }

    private static void tokenizeChat(ObjectNode obj, ChatTemplate template, String where) {
        List<Message> messages = ModelRuntime.messages(obj.get("messages"), where);
        JsonNode gen = obj.path("add_generation_prompt");
        if (!gen.isMissingNode() && !gen.isBoolean()) {
            throw new IllegalArgumentException(where + ": field \"add_generation_prompt\" must be true or false");
        }
        ChatEncoding enc;
        try {
            enc = template.renderWithMask(messages, gen.asBoolean(false));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
        obj.put("rendered", enc.rendered());
        obj.set("ids", ids(enc.ids()));
        obj.set("assistant_mask", ids(enc.assistantMask()));
    }

    private static ArrayNode ids(int[] values) {
        ArrayNode a = JSON.createArrayNode();
        for (int v : values) {
            a.add(v);
        }
        return a;
    }
}
