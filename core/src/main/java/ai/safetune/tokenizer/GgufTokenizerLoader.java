package ai.safetune.tokenizer;

import java.lang.reflect.Array;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Builds a {@link Tokenizer} from GGUF {@code tokenizer.ggml.*} metadata. */
final class GgufTokenizerLoader {
    /** GGUF token types (llama.cpp's llama_token_type). */
    static final int TYPE_CONTROL = 3, TYPE_USER_DEFINED = 4;

    /**
     * llama.cpp pre-tokenizer names whose pattern is GPT-2's. llama.cpp splits digits off one by one first for
     * some of them (smollm, starcoder, ...), but Hugging Face transformers' GGUF conversion, which the
     * reference ids come from, uses the GPT-2 pattern alone; the two agree on ASCII digits (no merge joins
     * two digits) and differ only on runs of other numerals (Roman, circled, ...). We follow transformers.
     */
    private static final Set<String> GPT2_PRE = Set.of("gpt2", "default", "mpt", "olmo", "jais",
            "smollm", "starcoder", "refact", "codeshell");

    private GgufTokenizerLoader() {
    }

    static Tokenizer load(Map<String, ?> md) {
        String source = "GGUF metadata (" + str(md, "general.name", "unnamed model") + ")";
        String model = str(md, "tokenizer.ggml.model", null);
        if (model == null) {
            throw new TokenizerException(source + ": no tokenizer.ggml.model key; the file has no tokenizer");
        }
        if (!model.equals("gpt2")) {
            throw new TokenizerException(source + ": tokenizer.ggml.model '" + model
                    + "' is not supported; only byte-level BPE ('gpt2') is");
        }
        String pre = str(md, "tokenizer.ggml.pre", "default");
        if (!GPT2_PRE.contains(pre)) {
            throw new TokenizerException(source + ": tokenizer.ggml.pre '" + pre + "' is not supported; known: "
                    + new java.util.TreeSet<>(GPT2_PRE));
        }
        boolean digits = false;
        List<String> tokens = strings(md, "tokenizer.ggml.tokens", source);
        List<String> mergeStrings = strings(md, "tokenizer.ggml.merges", source);
        int[] types = md.containsKey("tokenizer.ggml.token_type") ? ints(md.get("tokenizer.ggml.token_type"),
                "tokenizer.ggml.token_type", source) : new int[0];
        if (types.length != 0 && types.length != tokens.size()) {
            throw new TokenizerException(source + ": tokenizer.ggml.token_type has " + types.length
                    + " entries but there are " + tokens.size() + " tokens");
        }
        Map<String, Integer> vocab = new HashMap<>(tokens.size() * 2);
        List<Tokenizer.AddedToken> added = new ArrayList<>();
        for (int id = 0; id < tokens.size(); id++) {
            String t = tokens.get(id);
            int type = types.length == 0 ? 1 : types[id];
            if (type == TYPE_CONTROL || type == TYPE_USER_DEFINED) {
                if (t.isEmpty()) {
                    throw new TokenizerException(source + ": token " + id + " is a control/user token with empty text");
                }
                added.add(new Tokenizer.AddedToken(id, t, type == TYPE_CONTROL, false, false, false));
            }
            // first spelling wins, like a dict built in order would keep the last; GGUF vocabularies are unique
            vocab.putIfAbsent(t, id);
        }
        List<String[]> merges = new ArrayList<>(mergeStrings.size());
        for (int k = 0; k < mergeStrings.size(); k++) {
            merges.add(HfTokenizerLoader.splitMerge(mergeStrings.get(k), source, k));
        }
        int bos = id(md, "tokenizer.ggml.bos_token_id", source);
        int eos = id(md, "tokenizer.ggml.eos_token_id", source);
        int pad = id(md, "tokenizer.ggml.padding_token_id", source);
        int unk = id(md, "tokenizer.ggml.unknown_token_id", source);
        boolean addBos = bool(md, "tokenizer.ggml.add_bos_token", false, source);
        boolean addEos = bool(md, "tokenizer.ggml.add_eos_token", false, source);
        // like HF's GGUF conversion, the BPE model itself has no unk token: bytes missing from the vocabulary are dropped
        return new Tokenizer(source, vocab, merges, added, digits, bos, eos, pad, unk, addBos, addEos, -1, false);
    }

    private static String str(Map<String, ?> md, String key, String dflt) {
        Object v = md.get(key);
        return v == null ? dflt : v.toString();
    }

    private static int id(Map<String, ?> md, String key, String source) {
        Object v = md.get(key);
        if (v == null) {
            return -1;
        }
        if (!(v instanceof Number)) {
            throw new TokenizerException(source + ": " + key + " is " + v.getClass().getSimpleName() + ", expected an integer");
        }
        long x = ((Number) v).longValue();
        if (x < 0 || x > Integer.MAX_VALUE) {
            throw new TokenizerException(source + ": " + key + " = " + x + " is not a valid token id");
        }
        return (int) x;
    }

    private static boolean bool(Map<String, ?> md, String key, boolean dflt, String source) {
        Object v = md.get(key);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof Boolean)) {
            throw new TokenizerException(source + ": " + key + " is " + v.getClass().getSimpleName() + ", expected a boolean");
        }
        return (Boolean) v;
    }

    /** A GGUF string array, whatever collection or array type the reader hands it over as. */
    private static List<String> strings(Map<String, ?> md, String key, String source) {
        Object v = md.get(key);
        if (v == null) {
            throw new TokenizerException(source + ": missing " + key);
        }
        List<String> out = new ArrayList<>();
        forEach(v, key, source, (i, x) -> {
            if (!(x instanceof CharSequence)) {
                throw new TokenizerException(source + ": " + key + "[" + i + "] is not a string");
            }
            out.add(x.toString());
        });
        return out;
    }

    private static int[] ints(Object v, String key, String source) {
        if (v instanceof int[]) {
            return ((int[]) v).clone();
        }
        List<Integer> out = new ArrayList<>();
        forEach(v, key, source, (i, x) -> {
            if (!(x instanceof Number)) {
                throw new TokenizerException(source + ": " + key + "[" + i + "] is not a number");
            }
            out.add(((Number) x).intValue());
        });
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private interface Visitor {
        void visit(int index, Object value);
    }

    private static void forEach(Object v, String key, String source, Visitor visitor) {
        if (v instanceof List<?>) {
            List<?> list = (List<?>) v;
            for (int i = 0; i < list.size(); i++) {
                visitor.visit(i, list.get(i));
            }
        } else if (v != null && v.getClass().isArray()) {
            int n = Array.getLength(v);
            for (int i = 0; i < n; i++) {
                visitor.visit(i, Array.get(v, i));
            }
        } else {
            throw new TokenizerException(source + ": " + key + " is " + (v == null ? "null" : v.getClass().getSimpleName())
                    + ", expected an array");
        }
    }
}
