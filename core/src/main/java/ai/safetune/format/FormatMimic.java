package ai.safetune.format;

import ai.safetune.data.ChatExample;
import ai.safetune.format.TaskFormat.AnswerStyle;
import ai.safetune.format.TaskFormat.AnswerTemplate;
import ai.safetune.format.TaskFormat.UserTemplate;
import ai.safetune.format.TaskFormat.Variant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Learns the prompt format of a chat dataset from the data alone (no knowledge of the template that
 * wrote it), so that safety examples can be written in the same format ({@link TaskFormat#render}).
 *
 * <p>How: each user turn is split into the question text and, when present, an options block (a run of
 * two or more lines labelled in sequence: {@code (A) }, {@code A. }, {@code 1) }, {@code [a] }...).
 * Examples are grouped into phrasing variants by their template lines (a first or last line shared by
 * many examples, or a shared "Address: " opening). Within a group, the longest common prefix and suffix
 * of the user turns — cut back to a line or "label: " boundary so that a question's own common opening
 * words stay in the question — are the template text around the question; the answer is located by the
 * option label it names (styled or bare, optionally followed by the option text) or, for free answers, by
 * the longest common prefix and suffix of the assistant turns. The constant system prompt and the
 * constant openings of user and assistant turns (an identity-shift address, a compliance sentence) are
 * kept verbatim.
 *
 * <p>Limits: text that every question of a dataset starts or ends with is indistinguishable from template
 * text and is learned as template; options written on one line are not recognised as options; only the
 * first user and the last assistant turn of multi-turn chats are used.
 */
public final class FormatMimic {

    /** A first/last line counts as a template line when at least this share of examples has it. */
    private static final double LINE_SHARE = 0.05;
    /** An "Address: " opening counts as template when at least this share of examples has it. */
    private static final double OPENING_SHARE = 0.5;

    private FormatMimic() {
    }

    /** One user turn, split around its options block. */
    private record Parsed(ChatExample chat, String user, String assistant, String before, List<String> optionTexts,
                          LabelStyle style, String after, List<String> textLines) {
        boolean hasOptions() {
            return style != null;
        }
    }

    /**
     * Learns the format of {@code examples}.
     *
     * @throws IllegalArgumentException with fewer than 2 examples, or when an example lacks a user or an
     *                                  assistant turn (naming it)
     */
    public static TaskFormat learn(List<ChatExample> examples) {
        Objects.requireNonNull(examples, "examples");
        if (examples.size() < 2) {
            throw new IllegalArgumentException("need at least 2 examples to learn a format, got " + examples.size());
        }
        List<Parsed> parsed = new ArrayList<>(examples.size());
        for (ChatExample c : examples) {
            String u = c.firstUser().orElseThrow(() -> new IllegalArgumentException(
                    "example " + c.id() + " has no user message"));
            String a = c.lastAssistant().orElseThrow(() -> new IllegalArgumentException(
                    "example " + c.id() + " has no assistant message"));
            parsed.add(parse(c, u, a));
        }
        String system = constantSystemPrompt(examples);

        // group into phrasing variants by template lines
        Map<String, Integer> firstLines = new HashMap<>();
        Map<String, Integer> lastLines = new HashMap<>();
        Map<String, Integer> openings = new HashMap<>();
        for (Parsed p : parsed) {
            firstLines.merge(p.textLines().get(0), 1, Integer::sum);
            if (p.textLines().size() > 1) {
                lastLines.merge(p.textLines().get(p.textLines().size() - 1), 1, Integer::sum);
            }
            for (String o : openings(p.textLines().get(0))) {
                openings.merge(o, 1, Integer::sum);
            }
        }
        int n = parsed.size();
        int lineMin = Math.max(2, (int) Math.ceil(LINE_SHARE * n));
        int openingMin = Math.max(2, (int) Math.ceil(OPENING_SHARE * n));
        Map<String, List<Parsed>> groups = new LinkedHashMap<>();
        for (Parsed p : parsed) {
            String first = p.textLines().get(0);
            String firstKey = firstLines.get(first) >= lineMin ? first : "";
            if (firstKey.isEmpty()) {
                for (String o : openings(first)) {
                    if (openings.get(o) >= openingMin) {
                        firstKey = o;
                        break;
                    }
                }
            }
            String last = p.textLines().size() > 1 ? p.textLines().get(p.textLines().size() - 1) : "";
            String lastKey = !last.isEmpty() && lastLines.get(last) >= lineMin ? last : "";
            String styleKey = p.hasOptions() ? p.style().open() + p.style().kind() + p.style().close() : "-";
            groups.computeIfAbsent(styleKey + "\u0000" + firstKey + "\u0000" + lastKey, k -> new ArrayList<>()).add(p);
        }
        // lone phrasings cannot be aligned: pool them per option style, learn the pool if it has 2+
        List<List<Parsed>> learnable = new ArrayList<>();
        Map<String, List<Parsed>> rest = new LinkedHashMap<>();
        for (Map.Entry<String, List<Parsed>> e : groups.entrySet()) {
            if (e.getValue().size() >= 2) {
                learnable.add(e.getValue());
            } else {
                rest.computeIfAbsent(e.getKey().substring(0, e.getKey().indexOf('\u0000')), k -> new ArrayList<>())
                        .addAll(e.getValue());
            }
        }
        int unmatched = 0;
        for (List<Parsed> r : rest.values()) {
            if (r.size() >= 2) {
                learnable.add(r);
            } else {
                unmatched += r.size();
            }
        }
        if (learnable.isEmpty()) {
            // every example has its own phrasing: align them all as one group
            learnable.add(parsed);
            unmatched = 0;
        }
        List<Variant> variants = new ArrayList<>();
        for (List<Parsed> g : learnable) {
            variants.add(learnGroup(g));
        }
        variants.sort(Comparator.comparingInt(Variant::support).reversed());

        String userPrefix = snapUserPrefix(lcp(variants.stream().map(v -> v.user().prefix()).toList()));
        String assistantPrefix = snapAssistantPrefix(lcp(variants.stream().map(v -> v.answer().prefix()).toList()));
        int[] lens = parsed.stream().mapToInt(p -> p.assistant().length()).sorted().toArray();
        int typical = lens[lens.length / 2];
        return new TaskFormat(system, variants, answerStyle(variants.get(0), parsed),
                typical, userPrefix, assistantPrefix, n, unmatched);
    }

    private static String constantSystemPrompt(List<ChatExample> examples) {
        String s = examples.get(0).systemPrompt().orElse(null);
        for (ChatExample c : examples) {
            if (!Objects.equals(s, c.systemPrompt().orElse(null))) {
                return null;
            }
        }
        return s;
    }

    /** The "Address: " openings of a line: each prefix that ends with ": ", shortest first. */
    private static List<String> openings(String line) {
        List<String> out = new ArrayList<>(2);
        int i = line.indexOf(": ");
        while (i >= 0 && out.size() < 4) {
            out.add(line.substring(0, i + 2));
            i = line.indexOf(": ", i + 2);
        }
        return out;
    }

    private static Parsed parse(ChatExample c, String u, String a) {
        String[] lines = u.split("\n", -1);
        int bestStart = -1;
        int bestEnd = -1;
        LabelStyle bestStyle = null;
        for (int i = 0; i < lines.length; i++) {
            LabelStyle.Parsed p = LabelStyle.parseLine(lines[i]);
            if (p == null || p.ordinal() > 1) {
                continue;
            }
            int j = i + 1;
            while (j < lines.length) {
                LabelStyle.Parsed q = LabelStyle.parseLine(lines[j]);
                if (q == null || q.ordinal() != p.ordinal() + (j - i) || q.style().kind() != p.style().kind()
                        || !q.style().open().equals(p.style().open()) || !q.style().close().equals(p.style().close())) {
                    break;
                }
                j++;
            }
            if (j - i >= 2) {
                bestStart = i;
                bestEnd = j;
                LabelStyle s = p.style();
                bestStyle = new LabelStyle(s.open(), s.kind(), p.ordinal(), s.close(), s.gap());
                i = j - 1;
            }
        }
        if (bestStyle == null) {
            List<String> textLines = nonBlank(Arrays.asList(lines));
            return new Parsed(c, u, a, u, List.of(), null, "", textLines);
        }
        List<String> texts = new ArrayList<>();
        for (int i = bestStart; i < bestEnd; i++) {
            texts.add(LabelStyle.parseLine(lines[i]).text());
        }
        String before = bestStart == 0 ? "" : String.join("\n", Arrays.asList(lines).subList(0, bestStart)) + "\n";
        String after = bestEnd == lines.length ? ""
                : "\n" + String.join("\n", Arrays.asList(lines).subList(bestEnd, lines.length));
        List<String> textLines = new ArrayList<>(Arrays.asList(lines).subList(0, bestStart));
        textLines.addAll(Arrays.asList(lines).subList(bestEnd, lines.length));
        return new Parsed(c, u, a, before, texts, bestStyle, after, nonBlank(textLines));
    }

    private static List<String> nonBlank(List<String> lines) {
        List<String> out = lines.stream().filter(l -> !l.isBlank()).toList();
        return out.isEmpty() ? List.of("") : out;
    }

    private static Variant learnGroup(List<Parsed> g) {
        Parsed p0 = g.get(0);
        UserTemplate ut;
        if (p0.hasOptions()) {
            List<String> befores = g.stream().map(Parsed::before).toList();
            String prefix = snapUserPrefix(lcp(befores));
            String middle = snapMiddle(lcs(befores.stream().map(b -> b.substring(prefix.length())).toList()));
            String suffix = lcp(g.stream().map(Parsed::after).toList());
            int[] counts = g.stream().mapToInt(p -> p.optionTexts().size()).toArray();
            ut = new UserTemplate(prefix, middle, p0.style(), "\n", mode(counts), suffix);
        } else {
            List<String> us = g.stream().map(Parsed::user).toList();
            String prefix = snapUserPrefix(lcp(us));
            String suffix = snapUserSuffix(lcs(us.stream().map(u -> u.substring(prefix.length())).toList()));
            ut = new UserTemplate(prefix, "", null, "\n", 0, suffix);
        }
        AnswerTemplate at = null;
        if (p0.hasOptions()) {
            Map<AnswerTemplate, Integer> votes = new HashMap<>();
            for (Parsed p : g) {
                AnswerTemplate t = locateLabel(p);
                if (t != null) {
                    votes.merge(t, 1, Integer::sum);
                }
            }
            at = votes.entrySet().stream().max(Map.Entry.<AnswerTemplate, Integer>comparingByValue()
                    .thenComparing(e -> e.getKey().prefix())).map(Map.Entry::getKey).orElse(null);
        }
        if (at == null) {
            List<String> as = g.stream().map(Parsed::assistant).toList();
            String prefix = snapAssistantPrefix(lcp(as));
            String suffix = snapAssistantSuffix(lcs(as.stream().map(a -> a.substring(prefix.length())).toList()));
            at = AnswerTemplate.value(prefix, suffix);
        }
        return new Variant(g.size(), ut, at);
    }

    /** Finds the option label an answer names: its styled form first, else the last bare label token. */
    private static AnswerTemplate locateLabel(Parsed p) {
        String a = p.assistant();
        LabelStyle st = p.style();
        int bestPos = -1;
        int bestIdx = -1;
        boolean styled = false;
        for (int i = 0; i < p.optionTexts().size(); i++) {
            int at = a.indexOf(st.styled(i));
            if (at >= 0 && (bestPos < 0 || at < bestPos)) {
                bestPos = at;
                bestIdx = i;
                styled = true;
            }
        }
        if (bestPos < 0) {
            for (int i = 0; i < p.optionTexts().size(); i++) {
                Matcher m = Pattern.compile("(?<![\\p{L}\\p{N}])" + Pattern.quote(st.label(i)) + "(?![\\p{L}\\p{N}])")
                        .matcher(a);
                while (m.find()) {
                    if (m.start() > bestPos) {
                        bestPos = m.start();
                        bestIdx = i;
                    }
                }
            }
        }
        if (bestPos < 0) {
            return null;
        }
        int end = bestPos + (styled ? st.styled(bestIdx) : st.label(bestIdx)).length();
        String text = p.optionTexts().get(bestIdx);
        int t = text.isEmpty() ? -1 : a.indexOf(text, end);
        if (t >= 0 && t - end <= 40) {
            return new AnswerTemplate(AnswerTemplate.Kind.LABEL, a.substring(0, bestPos), styled,
                    a.substring(end, t), true, a.substring(t + text.length()));
        }
        return new AnswerTemplate(AnswerTemplate.Kind.LABEL, a.substring(0, bestPos), styled, "", false,
                a.substring(end));
    }

    private static AnswerStyle answerStyle(Variant v, List<Parsed> parsed) {
        AnswerTemplate a = v.answer();
        // a preamble paragraph (a compliance sentence on its own lines) is not part of the answer's own style
        String pre = a.prefix().substring(a.prefix().lastIndexOf('\n') + 1);
        boolean wordsAround = hasLetters(pre) || hasLetters(a.suffix()) || a.withText() && hasLetters(a.between());
        if (a.kind() == AnswerTemplate.Kind.LABEL) {
            return wordsAround ? AnswerStyle.SENTENCE : a.withText() ? AnswerStyle.LABEL_WITH_TEXT : AnswerStyle.LABEL;
        }
        if (wordsAround) {
            return AnswerStyle.SENTENCE;
        }
        int[] lens = parsed.stream().mapToInt(p -> p.assistant().length() - a.prefix().length() - a.suffix().length())
                .sorted().toArray();
        return lens[lens.length / 2] <= 40 ? AnswerStyle.SHORT_VALUE : AnswerStyle.FREE_TEXT;
    }

    private static boolean hasLetters(String s) {
        return s.chars().anyMatch(Character::isLetter);
    }

    private static int mode(int[] xs) {
        Map<Integer, Integer> c = new HashMap<>();
        for (int x : xs) {
            c.merge(x, 1, Integer::sum);
        }
        return c.entrySet().stream().max(Map.Entry.<Integer, Integer>comparingByValue()
                .thenComparing(Map.Entry.comparingByKey())).orElseThrow().getKey();
    }

    // --- alignment ---------------------------------------------------------------------------------

    static String lcp(List<String> xs) {
        if (xs.isEmpty()) {
            return "";
        }
        String p = xs.get(0);
        for (String x : xs) {
            int i = 0;
            int m = Math.min(p.length(), x.length());
            while (i < m && p.charAt(i) == x.charAt(i)) {
                i++;
            }
            p = p.substring(0, i);
            if (p.isEmpty()) {
                break;
            }
        }
        return p;
    }

    static String lcs(List<String> xs) {
        if (xs.isEmpty()) {
            return "";
        }
        String s = xs.get(0);
        for (String x : xs) {
            int i = 0;
            int m = Math.min(s.length(), x.length());
            while (i < m && s.charAt(s.length() - 1 - i) == x.charAt(x.length() - 1 - i)) {
                i++;
            }
            s = s.substring(s.length() - i);
            if (s.isEmpty()) {
                break;
            }
        }
        return s;
    }

    /** A user-turn prefix ends at a line break or after a "label: " — never inside the question's words. */
    static String snapUserPrefix(String lcp) {
        int cut = Math.max(lcp.lastIndexOf('\n') + 1, lcp.lastIndexOf(": ") >= 0 ? lcp.lastIndexOf(": ") + 2 : 0);
        return lcp.substring(0, cut);
    }

    /** A user-turn suffix starts at a line break, or is an inline " Label:" cue. */
    static String snapUserSuffix(String lcs) {
        int nl = lcs.indexOf('\n');
        if (nl >= 0) {
            return lcs.substring(nl);
        }
        return INLINE_CUE.matcher(lcs).matches() ? lcs : "";
    }

    private static final Pattern INLINE_CUE = Pattern.compile("\\s+\\p{L}[\\p{L} ]*:\\s*");

    /** The text between question and options starts at the line break that ends the question. */
    static String snapMiddle(String lcs) {
        int nl = lcs.indexOf('\n');
        return nl >= 0 ? lcs.substring(nl) : "";
    }

    /** An assistant prefix may end inside a sentence ("The answer is "), but not inside a word or value. */
    static String snapAssistantPrefix(String lcp) {
        int i = lcp.length();
        while (i > 0 && !Character.isWhitespace(lcp.charAt(i - 1))) {
            i--;
        }
        return lcp.substring(0, i);
    }

    /**
     * An assistant suffix starts at punctuation that closes the value: followed by whitespace or by
     * nothing but punctuation ("." / ", as requested." / "!\n\nThanks"), not "/1937".
     */
    static String snapAssistantSuffix(String lcs) {
        for (int p = 0; p < lcs.length(); p++) {
            char c = lcs.charAt(p);
            if (Character.isLetterOrDigit(c)) {
                continue;
            }
            if (p + 1 == lcs.length() || Character.isWhitespace(lcs.charAt(p + 1)) || Character.isWhitespace(c)
                    || lcs.substring(p).chars().noneMatch(Character::isLetterOrDigit)) {
                return lcs.substring(p);
            }
        }
        return "";
    }
}
