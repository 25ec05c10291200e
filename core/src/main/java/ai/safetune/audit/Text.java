package ai.safetune.audit;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Tokenizing and prefix statistics shared by the audit and the dataset profile. */
final class Text {
    private Text() {}

    private static final Pattern WORD = Pattern.compile("[\\p{L}\\p{N}]+");
    private static final Pattern SPACE = Pattern.compile("\\s+");
    /** End of a leading sentence: terminal punctuation then space, or a line break. */
    private static final Pattern SENTENCE_END = Pattern.compile("[.!?:;](?=\\s)|\\n");

    /** Lower-case letter/digit runs: the unit for lengths and vocabulary. */
    static List<String> words(String text) {
        List<String> out = new ArrayList<>();
        Matcher m = WORD.matcher(text.toLowerCase(Locale.ROOT));
        while (m.find()) {
            out.add(m.group());
        }
        return out;
    }

    static int wordCount(String text) {
        int n = 0;
        Matcher m = WORD.matcher(text);
        while (m.find()) {
            n++;
        }
        return n;
    }

    /** Whitespace tokens, lower-cased, at most {@code max}: prefixes are compared on these. */
    static List<String> leadingTokens(String text, int max) {
        String t = text.strip().toLowerCase(Locale.ROOT);
        if (t.isEmpty()) {
            return List.of();
        }
        String[] parts = SPACE.split(t, max + 1);
        List<String> out = new ArrayList<>(Math.min(parts.length, max));
        for (int i = 0; i < parts.length && i < max; i++) {
            out.add(parts[i]);
        }
        return out;
    }

    /**
     * The leading sentence of {@code text}, normalized, when more text follows it; null when the
     * text is a single sentence (then it is the answer itself, not a lead-in).
     */
    static String leadSentence(String text) {
        String t = text.strip();
        Matcher m = SENTENCE_END.matcher(t);
        if (!m.find()) {
            return null;
        }
        String rest = t.substring(m.end()).strip();
        if (wordCount(rest) == 0) {
            return null;
        }
        return Lexicon.normalize(t.substring(0, m.end()).strip());
    }

    /** A prefix shared by a share of the texts, in whitespace tokens. */
    record SharedPrefix(String text, int tokens, int words, int count) {
        static final SharedPrefix NONE = new SharedPrefix("", 0, 0, 0);
    }

    /**
     * The longest token prefix that at least {@code minCount} texts share and continue past (a text
     * that is entirely the prefix does not count: "yes" as a whole answer is a label, not a prefix).
     * The token lists must hold at least {@code maxTokens + 1} tokens where the text has them, so
     * "continues past" is exact. Uses rolling hashes, so each text costs O(maxTokens).
     */
    static SharedPrefix longestSharedPrefix(List<List<String>> tokenLists, int minCount, int maxTokens) {
        SharedPrefix best = SharedPrefix.NONE;
        long[] hashes = new long[tokenLists.size()];
        for (int len = 1; len <= maxTokens; len++) {
            Map<Long, Integer> counts = new HashMap<>();
            Map<Long, Integer> firstIndex = new HashMap<>();
            for (int i = 0; i < tokenLists.size(); i++) {
                List<String> toks = tokenLists.get(i);
                if (toks.size() < len) {
                    continue;
                }
                hashes[i] = hashes[i] * 1_000_003L + toks.get(len - 1).hashCode() * 0x9E3779B97F4A7C15L + len;
                if (toks.size() > len) {
                    counts.merge(hashes[i], 1, Integer::sum);
                    firstIndex.putIfAbsent(hashes[i], i);
                }
            }
            Map.Entry<Long, Integer> top = null;
            for (Map.Entry<Long, Integer> e : counts.entrySet()) {
                if (top == null || e.getValue() > top.getValue()) {
                    top = e;
                }
            }
            if (top == null || top.getValue() < minCount) {
                break;
            }
            List<String> toks = tokenLists.get(firstIndex.get(top.getKey()));
            String text = String.join(" ", toks.subList(0, len));
            best = new SharedPrefix(text, len, wordCount(text), top.getValue());
        }
        return best;
    }

    static double median(int[] values) {
        if (values.length == 0) {
            return 0;
        }
        int[] v = values.clone();
        java.util.Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
    }
}
