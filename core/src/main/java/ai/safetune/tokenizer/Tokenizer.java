package ai.safetune.tokenizer;

import ai.safetune.model.TokenizerSource;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * A byte-level BPE tokenizer (GPT-2 family: SmolLM2, StarCoder, GPT-2, ...) that reproduces Hugging Face
 * {@code tokenizers}: added/special tokens are matched in the text first (leftmost-longest), the rest is
 * split by the GPT-2 pre-tokenizer, mapped byte-to-unicode and merged by rank.
 *
 * <p>Built from a Hugging Face model directory ({@link #fromHfFiles}) or from GGUF metadata
 * ({@link #fromGgufMetadata}). Thread-safe; a bounded lock-free cache maps pieces to ids.
 */
public final class Tokenizer {
    /** One token matched in raw text before pre-tokenization (HF "added tokens", GGUF control/user tokens). */
    public record AddedToken(int id, String content, boolean special, boolean lstrip, boolean rstrip,
                             boolean singleWord) {
        public AddedToken {
            Objects.requireNonNull(content, "content");
            if (content.isEmpty()) {
                throw new IllegalArgumentException("added token " + id + " has empty content");
            }
        }
    }

    /** Slots of the direct-mapped piece cache: bounded memory, no locking, no eviction bookkeeping. */
    private static final int CACHE_SLOTS = 1 << 15;

    private final String source;
    private final String[] tokens;          // id -> vocabulary spelling (byte-mapped for BPE tokens)
    private final byte[][] tokenBytes;      // id -> raw bytes it decodes to
    private final Map<String, Integer> ids;
    private final int[] byteIds = new int[256];
    private final MergeTable merges;
    private final PreTokenizer preTokenizer;
    private final List<AddedToken> added;
    private final boolean[] special;
    private final Map<Character, AddedToken[]> addedByFirstChar = new HashMap<>();
    private final boolean[] startsAddedToken = new boolean[Character.MAX_VALUE + 1];
    private final int bosId, eosId, padId, unkId;
    private final boolean addBos, addEos;
    /** The BPE model's own unk token (HF model.unk_token), used for bytes missing from the vocabulary; -1: drop them. */
    private final int bpeUnkId;
    private final boolean fuseUnk;
    private final CacheEntry[] cache = new CacheEntry[CACHE_SLOTS];

    Tokenizer(String source, Map<String, Integer> vocab, List<String[]> mergePairs, List<AddedToken> addedTokens,
              boolean individualDigits, int bosId, int eosId, int padId, int unkId, boolean addBos, boolean addEos,
              int bpeUnkId, boolean fuseUnk) {
        this.source = source;
        int size = 0;
        for (int id : vocab.values()) {
            if (id < 0) {
                throw new TokenizerException(source + ": negative token id " + id);
            }
            size = Math.max(size, id + 1);
        }
        for (AddedToken t : addedTokens) {
            if (t.id() < 0) {
                throw new TokenizerException(source + ": added token '" + t.content() + "' has negative id " + t.id());
            }
            size = Math.max(size, t.id() + 1);
        }
        tokens = new String[size];
        tokenBytes = new byte[size][];
        ids = new HashMap<>(vocab.size() * 2);
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            tokens[e.getValue()] = e.getKey();
            ids.put(e.getKey(), e.getValue());
            byte[] raw = ByteLevel.decode(e.getKey());
            tokenBytes[e.getValue()] = raw != null ? raw : e.getKey().getBytes(StandardCharsets.UTF_8);
        }
        special = new boolean[size];
        List<AddedToken> addedCopy = new ArrayList<>(addedTokens);
        for (AddedToken t : addedCopy) {
            // added tokens are not byte-mapped: they decode to their own text
            tokens[t.id()] = t.content();
            tokenBytes[t.id()] = t.content().getBytes(StandardCharsets.UTF_8);
            ids.putIfAbsent(t.content(), t.id());
            special[t.id()] = t.special();
        }
        this.added = Collections.unmodifiableList(addedCopy);
        Map<Character, List<AddedToken>> byFirst = new HashMap<>();
        for (AddedToken t : addedCopy) {
            byFirst.computeIfAbsent(t.content().charAt(0), k -> new ArrayList<>()).add(t);
        }
        byFirst.forEach((c, list) -> {
            list.sort(Comparator.comparingInt((AddedToken t) -> t.content().length()).reversed());
            addedByFirstChar.put(c, list.toArray(new AddedToken[0]));
            startsAddedToken[c] = true;
        });
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.valueOf((char) ByteLevel.BYTE_TO_CHAR[b]));
            byteIds[b] = id == null ? -1 : id;
        }
        merges = new MergeTable(mergePairs.size());
        int rank = 0;
        for (String[] pair : mergePairs) {
            Integer left = vocab.get(pair[0]);
            Integer right = vocab.get(pair[1]);
            Integer merged = vocab.get(pair[0] + pair[1]);
            if (left == null || right == null || merged == null) {
                throw new TokenizerException(source + ": merge " + rank + " '" + pair[0] + " " + pair[1]
                        + "' uses a token missing from the vocabulary");
            }
            merges.put(left, right, rank, merged);
            rank++;
        }
        this.preTokenizer = new PreTokenizer(individualDigits);
        this.bosId = checkId(bosId, size, "bos");
        this.eosId = checkId(eosId, size, "eos");
        this.padId = checkId(padId, size, "pad");
        this.unkId = checkId(unkId, size, "unk");
        if (addBos && bosId < 0) {
            throw new TokenizerException(source + ": add_bos_token is set but there is no bos token");
        }
        if (addEos && eosId < 0) {
            throw new TokenizerException(source + ": add_eos_token is set but there is no eos token");
        }
        this.addBos = addBos;
        this.addEos = addEos;
        this.bpeUnkId = checkId(bpeUnkId, size, "BPE unk");
        this.fuseUnk = fuseUnk;
    }

    private int checkId(int id, int size, String what) {
        if (id >= size) {
            throw new TokenizerException(source + ": " + what + " token id " + id + " is outside the vocabulary (size " + size + ")");
        }
        return id < 0 ? -1 : id;
    }

    // ---------------------------------------------------------------- factories

    /** The tokenizer of a model opened with {@link ai.safetune.model.ModelFiles}: GGUF metadata or HF files. */
    public static Tokenizer from(TokenizerSource source) {
        Objects.requireNonNull(source, "source");
        if (source instanceof TokenizerSource.Gguf) {
            return fromGgufMetadata(((TokenizerSource.Gguf) source).metadata());
        }
        return fromHfFiles(((TokenizerSource.HfFiles) source).directory());
    }

    /** Reads {@code tokenizer.json} (and {@code tokenizer_config.json} when present) from a model directory. */
    public static Tokenizer fromHfFiles(Path dir) {
        return HfTokenizerLoader.load(dir);
    }

    /**
     * Builds the tokenizer from GGUF metadata ({@code tokenizer.ggml.*} keys): tokens, merges, token
     * types (control and user-defined tokens are matched in text), bos/eos/pad/unk ids, add_bos/add_eos
     * flags and the pre-tokenizer name. Only byte-level BPE ({@code tokenizer.ggml.model = gpt2}) is supported.
     */
    public static Tokenizer fromGgufMetadata(Map<String, ?> metadata) {
        return GgufTokenizerLoader.load(metadata);
    }

    // ---------------------------------------------------------------- encoding

    /** Encodes like Hugging Face's {@code tokenizer(text)}: special tokens in the text are matched; BOS/EOS per the model's flags. */
    public int[] encode(String text) {
        return encode(text, true, true);
    }

    /**
     * @param addSpecialTokens   add BOS/EOS where the model's flags ask for them
     * @param parseSpecialTokens match special-token strings in the text as special tokens (HF's default);
     *                           false encodes them as plain text
     */
    public int[] encode(String text, boolean addSpecialTokens, boolean parseSpecialTokens) {
        Objects.requireNonNull(text, "text");
        IntList out = new IntList(Math.max(8, text.length() / 3));
        if (addSpecialTokens && addBos) {
            out.add(bosId);
        }
        encodeInto(text, parseSpecialTokens, out, null, null);
        if (addSpecialTokens && addEos) {
            out.add(eosId);
        }
        return out.toArray();
    }

    /** Encodes without BOS/EOS, matching special tokens in the text, and reports where each token came from. */
    public Encoding encodeWithOffsets(String text) {
        Objects.requireNonNull(text, "text");
        IntList out = new IntList(Math.max(8, text.length() / 3));
        IntList starts = new IntList(out.data.length);
        IntList ends = new IntList(out.data.length);
        encodeInto(text, true, out, starts, ends);
        return new Encoding(out.toArray(), starts.toArray(), ends.toArray());
    }

    private void encodeInto(String text, boolean parseSpecial, IntList out, IntList starts, IntList ends) {
        int n = text.length();
        int segStart = 0;
        int i = 0;
        while (i < n) {
            char c = text.charAt(i);
            AddedToken hit = null;
            if (startsAddedToken[c]) {
                AddedToken[] candidates = addedByFirstChar.get(c);
                for (AddedToken t : candidates) {
                    if ((parseSpecial || !t.special()) && text.startsWith(t.content(), i)
                            && (!t.singleWord() || isWordBoundary(text, i, i + t.content().length()))) {
                        hit = t;
                        break;
                    }
                }
            }
            if (hit == null) {
                i++;
                continue;
            }
            int matchStart = i;
            int matchEnd = i + hit.content().length();
            if (hit.lstrip()) {
                while (matchStart > segStart && Character.isWhitespace(text.charAt(matchStart - 1))) {
                    matchStart--;
                }
            }
            if (hit.rstrip()) {
                while (matchEnd < n && Character.isWhitespace(text.charAt(matchEnd))) {
                    matchEnd++;
                }
            }
            encodeOrdinary(text, segStart, matchStart, out, starts, ends);
            out.add(hit.id());
            if (starts != null) {
                starts.add(matchStart);
                ends.add(matchEnd);
            }
            segStart = matchEnd;
            i = matchEnd;
        }
        encodeOrdinary(text, segStart, n, out, starts, ends);
    }

    private static boolean isWordBoundary(String text, int start, int end) {
        boolean before = start == 0 || !isWordChar(text.codePointBefore(start));
        boolean after = end >= text.length() || !isWordChar(text.codePointAt(end));
        return before && after;
    }

    private static boolean isWordChar(int cp) {
        return Character.isLetterOrDigit(cp) || cp == '_';
    }

    private void encodeOrdinary(String text, int from, int to, IntList out, IntList starts, IntList ends) {
        if (from >= to) {
            return;
        }
        preTokenizer.split(text, from, to, (s, e) -> {
            int[] pieceIds = encodePiece(text, s, e);
            out.addAll(pieceIds);
            if (starts != null) {
                addOffsets(text, s, e, pieceIds, starts, ends);
            }
        });
    }

    /** Token spans inside one piece: walk the piece's UTF-8 bytes alongside the tokens' byte lengths. */
    private void addOffsets(String text, int s, int e, int[] pieceIds, IntList starts, IntList ends) {
        // byteStart[k] = UTF-16 index of the code point that contains byte k of the piece
        int pieceBytes = 0;
        for (int id : pieceIds) {
            pieceBytes += tokenBytes[id].length;
        }
        int utf8 = 0;
        for (int c = s; c < e; ) {
            int cp = text.codePointAt(c);
            utf8 += utf8Length(cp);
            c += Character.charCount(cp);
        }
        if (utf8 != pieceBytes) {
            // some byte had no token (dropped or unk): the tokens do not tile the bytes, give each the piece
            for (int k = 0; k < pieceIds.length; k++) {
                starts.add(s);
                ends.add(e);
            }
            return;
        }
        int[] charOfByte = new int[pieceBytes + 1];
        int b = 0;
        for (int c = s; c < e; ) {
            int cp = text.codePointAt(c);
            int len = utf8Length(cp);
            for (int k = 0; k < len && b < pieceBytes; k++) {
                charOfByte[b++] = c;
            }
            c += Character.charCount(cp);
        }
        charOfByte[pieceBytes] = e;
        int pos = 0;
        for (int id : pieceIds) {
            int next = pos + tokenBytes[id].length;
            starts.add(charOfByte[pos]);
            // end: the first code point boundary at or after the token's last byte
            int endChar = next >= pieceBytes ? e : charOfByte[next];
            if (endChar == charOfByte[next - 1] && next < pieceBytes) {
                // the token ends inside a code point: let it cover the whole code point
                endChar = endChar + Character.charCount(text.codePointAt(endChar));
            }
            ends.add(endChar);
            pos = next;
        }
    }

    private static int utf8Length(int cp) {
        return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }

    private int[] encodePiece(String text, int s, int e) {
        int h = 0;
        for (int k = s; k < e; k++) {
            h = 31 * h + text.charAt(k);
        }
        int slot = (h ^ (h >>> 16)) & (CACHE_SLOTS - 1);
        CacheEntry entry = cache[slot];
        int len = e - s;
        if (entry != null && entry.hash == h && entry.piece.length() == len && entry.piece.regionMatches(0, text, s, len)) {
            return entry.ids;
        }
        String piece = text.substring(s, e);
        int[] ids = bpe(piece);
        // racy but safe: entries are immutable (final fields), a lost update only costs a recomputation
        cache[slot] = new CacheEntry(piece, h, ids);
        return ids;
    }

    /** One cached piece; final fields make it safe to publish through the racy array. */
    private static final class CacheEntry {
        final String piece;
        final int hash;
        final int[] ids;

        CacheEntry(String piece, int hash, int[] ids) {
            this.piece = piece;
            this.hash = hash;
            this.ids = ids;
        }
    }

    private int[] bpe(String piece) {
        byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
        int[] syms = new int[bytes.length];
        int n = 0;
        for (byte b : bytes) {
            int id = byteIds[b & 0xFF];
            if (id < 0) {
                // a byte the vocabulary lacks (SmolLM2 has no token for 0x1D, 0xC0, 0xF5.., ...): HF's BPE
                // emits the model's unk token, fused with a preceding unk if fuse_unk, else drops the byte
                if (bpeUnkId < 0 || (fuseUnk && n > 0 && syms[n - 1] == bpeUnkId)) {
                    continue;
                }
                id = bpeUnkId;
            }
            syms[n++] = id;
        }
        // repeatedly merge the lowest-ranked adjacent pair, leftmost first (HF's priority order)
        while (n > 1) {
            long best = Long.MAX_VALUE;
            int bestAt = -1;
            for (int k = 0; k + 1 < n; k++) {
                long m = merges.get(syms[k], syms[k + 1]);
                if (m >= 0 && m < best) {
                    best = m;
                    bestAt = k;
                }
            }
            if (bestAt < 0) {
                break;
            }
            syms[bestAt] = (int) best;
            System.arraycopy(syms, bestAt + 2, syms, bestAt + 1, n - bestAt - 2);
            n--;
        }
        return n == syms.length ? syms : Arrays.copyOf(syms, n);
    }

    /** Empties the piece &rarr; ids cache (for benchmarks of the uncached path; results are unaffected). */
    public void clearCache() {
        Arrays.fill(cache, null);
    }

    // ---------------------------------------------------------------- decoding

    /** Decodes ids back to text, special tokens included (HF {@code decode(ids)}). */
    public String decode(int[] ids) {
        return decode(ids, false);
    }

    /** Decodes ids back to text; invalid UTF-8 (a code point cut between tokens) becomes U+FFFD. */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream(ids.length * 4);
        for (int id : ids) {
            checkToken(id);
            if (skipSpecialTokens && special[id]) {
                continue;
            }
            byte[] b = tokenBytes[id];
            buf.write(b, 0, b.length);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    /** The raw bytes one token stands for (a token may hold part of a UTF-8 character). */
    public byte[] tokenBytes(int id) {
        checkToken(id);
        return tokenBytes[id].clone();
    }

    private void checkToken(int id) {
        if (id < 0 || id >= tokens.length || tokens[id] == null) {
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary of " + source
                    + " (size " + tokens.length + ")");
        }
    }

    // ---------------------------------------------------------------- vocabulary

    /** Number of ids (highest id + 1), added tokens included. */
    public int vocabSize() {
        return tokens.length;
    }

    /** The vocabulary spelling of a token (byte-mapped, e.g. "Ġthe"; added tokens as written). */
    public String token(int id) {
        checkToken(id);
        return tokens[id];
    }

    /** The id of a vocabulary spelling or added token. */
    public OptionalInt tokenId(String token) {
        Integer id = ids.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    public boolean isSpecial(int id) {
        checkToken(id);
        return special[id];
    }

    public List<AddedToken> addedTokens() {
        return added;
    }

    /** Where this tokenizer was read from (for messages). */
    public String source() {
        return source;
    }

    /** -1 when the model has none. */
    public int bosId() {
        return bosId;
    }

    /** -1 when the model has none. */
    public int eosId() {
        return eosId;
    }

    /** -1 when the model has none. */
    public int padId() {
        return padId;
    }

    /** -1 when the model has none. */
    public int unkId() {
        return unkId;
    }

    public boolean addBos() {
        return addBos;
    }

    public boolean addEos() {
        return addEos;
    }

    /** Whether digits are split off one by one before the GPT-2 pattern. */
    public boolean splitsDigits() {
        return preTokenizer.individualDigits();
    }

    /**
     * The special-token strings chat templates see ({@code bos_token}, {@code eos_token},
     * {@code pad_token}, {@code unk_token}), for those the model has.
     */
    public Map<String, String> specialTokenStrings() {
        Map<String, String> m = new LinkedHashMap<>();
        if (bosId >= 0) {
            m.put("bos_token", tokens[bosId]);
        }
        if (eosId >= 0) {
            m.put("eos_token", tokens[eosId]);
        }
        if (padId >= 0) {
            m.put("pad_token", tokens[padId]);
        }
        if (unkId >= 0) {
            m.put("unk_token", tokens[unkId]);
        }
        return m;
    }

    @Override
    public String toString() {
        return "Tokenizer[" + source + ", " + tokens.length + " tokens, " + added.size() + " added]";
    }

    /** A growable int array (avoids boxing in the encode loop). */
    static final class IntList {
        int[] data;
        int size;

        IntList(int capacity) {
            data = new int[Math.max(4, capacity)];
        }

        void add(int v) {
            if (size == data.length) {
                data = Arrays.copyOf(data, data.length * 2);
            }
            data[size++] = v;
        }

        void addAll(int[] vs) {
            if (size + vs.length > data.length) {
                data = Arrays.copyOf(data, Math.max(data.length * 2, size + vs.length));
            }
            System.arraycopy(vs, 0, data, size, vs.length);
            size += vs.length;
        }

        int[] toArray() {
            return Arrays.copyOf(data, size);
        }
    }
}
