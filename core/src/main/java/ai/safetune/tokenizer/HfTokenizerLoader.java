package ai.safetune.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/** Reads a Hugging Face {@code tokenizer.json} (+ {@code tokenizer_config.json}) into a {@link Tokenizer}. */
final class HfTokenizerLoader {
    private static final ObjectMapper JSON = new ObjectMapper();

    private HfTokenizerLoader() {
    }

    static Tokenizer load(Path dir) {
        Path file = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) {
            throw new TokenizerException(dir + ": no tokenizer.json in this directory");
        }
        JsonNode root = readJson(file);
        JsonNode config = null;
        Path configFile = dir.resolve("tokenizer_config.json");
        if (Files.isRegularFile(configFile)) {
            config = readJson(configFile);
        }
        return build(root, config, file.toString());
    }

    static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new TokenizerException(file + ": cannot read JSON: " + e.getMessage(), e);
        }
    }

    static Tokenizer build(JsonNode root, JsonNode config, String source) {
        JsonNode model = root.path("model");
        String type = model.path("type").asText("");
        if (!type.equals("BPE")) {
            throw new TokenizerException(source + ": model.type '" + type + "' is not supported; only byte-level BPE is");
        }
        if (!root.path("normalizer").isNull() && !root.path("normalizer").isMissingNode()) {
            throw new TokenizerException(source + ": a normalizer (" + root.path("normalizer").path("type").asText()
                    + ") is not supported; byte-level BPE models have none");
        }
        if (model.path("byte_fallback").asBoolean(false)) {
            throw new TokenizerException(source + ": byte_fallback BPE (SentencePiece-style) is not supported");
        }
        boolean digits = parsePreTokenizer(root.path("pre_tokenizer"), source);

        Map<String, Integer> vocab = new HashMap<>();
        JsonNode v = model.path("vocab");
        if (!v.isObject()) {
            throw new TokenizerException(source + ": model.vocab is missing or not an object");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().canConvertToInt()) {
                throw new TokenizerException(source + ": model.vocab['" + e.getKey() + "'] is not an integer id");
            }
            vocab.put(e.getKey(), e.getValue().intValue());
        }
        List<String[]> merges = new ArrayList<>();
        int k = 0;
        for (JsonNode m : model.path("merges")) {
            String[] pair;
            if (m.isTextual()) {            // older files: "a b"
                pair = splitMerge(m.asText(), source, k);
            } else if (m.isArray() && m.size() == 2) {   // newer files: ["a", "b"]
                pair = new String[] {m.get(0).asText(), m.get(1).asText()};
            } else {
                throw new TokenizerException(source + ": model.merges[" + k + "] is neither \"a b\" nor [\"a\", \"b\"]");
            }
            merges.add(pair);
            k++;
        }

        List<Tokenizer.AddedToken> added = new ArrayList<>();
        k = 0;
        for (JsonNode t : root.path("added_tokens")) {
            if (!t.path("id").canConvertToInt() || !t.path("content").isTextual()) {
                throw new TokenizerException(source + ": added_tokens[" + k + "] needs an integer id and a string content");
            }
            added.add(new Tokenizer.AddedToken(t.get("id").intValue(), t.get("content").asText(),
                    t.path("special").asBoolean(false), t.path("lstrip").asBoolean(false),
                    t.path("rstrip").asBoolean(false), t.path("single_word").asBoolean(false)));
            k++;
        }
        Map<String, Integer> byContent = new HashMap<>(vocab);
        for (Tokenizer.AddedToken t : added) {
            byContent.put(t.content(), t.id());
        }

        int bos = specialId(config, "bos_token", byContent, source);
        int eos = specialId(config, "eos_token", byContent, source);
        int pad = specialId(config, "pad_token", byContent, source);
        int unk = specialId(config, "unk_token", byContent, source);
        int bpeUnk = -1;
        if (model.path("unk_token").isTextual()) {
            String name = model.get("unk_token").asText();
            Integer id = byContent.get(name);
            if (id == null) {
                throw new TokenizerException(source + ": model.unk_token '" + name + "' is not in the vocabulary");
            }
            bpeUnk = id;
            if (unk < 0) {
                unk = id;
            }
        }
        // BOS/EOS come from the post-processor; tokenizer_config's add_*_token overrides it when given
        boolean[] post = postProcessorFlags(root.path("post_processor"), bos, eos, byContent, source);
        boolean addBos = post[0];
        boolean addEos = post[1];
        if (config != null && config.path("add_bos_token").isBoolean()) {
            addBos = config.get("add_bos_token").asBoolean();
        }
        if (config != null && config.path("add_eos_token").isBoolean()) {
            addEos = config.get("add_eos_token").asBoolean();
        }
        return new Tokenizer(source, vocab, merges, added, digits, bos, eos, pad, unk, addBos, addEos,
                bpeUnk, model.path("fuse_unk").asBoolean(false));
    }

    static String[] splitMerge(String merge, String source, int index) {
        int space = merge.indexOf(' ', 1);
        if (space <= 0 || space == merge.length() - 1) {
            throw new TokenizerException(source + ": merge " + index + " '" + merge + "' is not two tokens separated by a space");
        }
        return new String[] {merge.substring(0, space), merge.substring(space + 1)};
    }

    /**
     * Accepts the pre-tokenizers byte-level BPE models use: ByteLevel (with its GPT-2 pattern), optionally
     * in a Sequence after Digits(individual_digits=true). Returns whether digits are split individually.
     */
    private static boolean parsePreTokenizer(JsonNode pre, String source) {
        List<JsonNode> steps = new ArrayList<>();
        if (pre.path("type").asText("").equals("Sequence")) {
            pre.path("pretokenizers").forEach(steps::add);
        } else {
            steps.add(pre);
        }
        boolean digits = false;
        boolean byteLevel = false;
        for (JsonNode step : steps) {
            String type = step.path("type").asText("");
            switch (type) {
                case "ByteLevel":
                    if (!step.path("use_regex").asBoolean(true)) {
                        throw new TokenizerException(source + ": ByteLevel pre-tokenizer without its regex is not supported");
                    }
                    if (step.path("add_prefix_space").asBoolean(false)) {
                        throw new TokenizerException(source + ": ByteLevel add_prefix_space=true is not supported");
                    }
                    byteLevel = true;
                    break;
                case "Digits":
                    if (!step.path("individual_digits").asBoolean(false)) {
                        throw new TokenizerException(source + ": Digits pre-tokenizer without individual_digits is not supported");
                    }
                    if (byteLevel) {
                        throw new TokenizerException(source + ": Digits after ByteLevel is not supported");
                    }
                    digits = true;
                    break;
                default:
                    throw new TokenizerException(source + ": pre_tokenizer '" + (type.isEmpty() ? pre.toString() : type)
                            + "' is not supported; expected ByteLevel, optionally after Digits(individual_digits)");
            }
        }
        if (!byteLevel) {
            throw new TokenizerException(source + ": pre_tokenizer has no ByteLevel step; only byte-level BPE is supported");
        }
        return digits;
    }

    /** tokenizer_config gives special tokens as "text" or {"content": "text", ...}. */
    private static int specialId(JsonNode config, String key, Map<String, Integer> byContent, String source) {
        if (config == null) {
            return -1;
        }
        JsonNode n = config.path(key);
        String text = n.isTextual() ? n.asText() : n.path("content").isTextual() ? n.get("content").asText() : null;
        if (text == null) {
            return -1;
        }
        Integer id = byContent.get(text);
        if (id == null) {
            throw new TokenizerException(source + ": tokenizer_config " + key + " '" + text + "' is not a token of the vocabulary");
        }
        return id;
    }

    /** {add BOS, add EOS} from a TemplateProcessing post-processor's single-sequence template. */
    private static boolean[] postProcessorFlags(JsonNode post, int bos, int eos, Map<String, Integer> byContent, String source) {
        boolean[] flags = new boolean[2];
        if (post.isMissingNode() || post.isNull()) {
            return flags;
        }
        String type = post.path("type").asText("");
        if (type.equals("ByteLevel")) {
            return flags;               // offsets only, adds nothing
        }
        if (!type.equals("TemplateProcessing")) {
            throw new TokenizerException(source + ": post_processor '" + type + "' is not supported (expected TemplateProcessing or ByteLevel)");
        }
        boolean seenSequence = false;
        for (JsonNode piece : post.path("single")) {
            if (piece.has("Sequence")) {
                seenSequence = true;
            } else if (piece.has("SpecialToken")) {
                String name = piece.get("SpecialToken").path("id").asText();
                Integer id = byContent.get(name);
                if (id == null || (id != bos && id != eos)) {
                    throw new TokenizerException(source + ": post_processor adds '" + name
                            + "', which is neither the bos nor the eos token; not supported");
                }
                if (!seenSequence && id == bos) {
                    flags[0] = true;
                } else if (seenSequence && id == eos) {
                    flags[1] = true;
                } else {
                    throw new TokenizerException(source + ": post_processor places '" + name + "' where it is not supported");
                }
            }
        }
        return flags;
    }
}
