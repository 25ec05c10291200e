package ai.safetune.eval;

import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Pulls the final answer out of a generated response. */
public final class AnswerExtractor {
    private static final Pattern HASHES = Pattern.compile("####\\s*\\$?\\s*(-?[0-9][0-9,]*(?:\\.[0-9]+)?)");
    private static final Pattern NUMBER = Pattern.compile("-?[0-9][0-9,]*(?:\\.[0-9]+)?");

    private AnswerExtractor() {
    }

    /**
     * GSM8K: the number after {@code ####}; failing that, the last number in the text. Thousands separators
     * dropped, trailing {@code .0} zeros removed, so "1,000.00" and "1000" compare equal.
     */
    public static Optional<String> gsm8kNumber(String text) {
        Matcher m = HASHES.matcher(text);
        if (m.find()) {
            return Optional.of(normalizeNumber(m.group(1)));
        }
        Matcher n = NUMBER.matcher(text);
        String last = null;
        while (n.find()) {
            last = n.group();
        }
        return Optional.ofNullable(last).map(AnswerExtractor::normalizeNumber);
    }

    public static String normalizeNumber(String s) {
        String t = s.replace(",", "");
        if (t.contains(".")) {
            t = t.replaceAll("0+$", "").replaceAll("\\.$", "");
        }
        return t.equals("-0") ? "0" : t;
    }

    /**
     * The first of {@code labels} that occurs in the text as a whole word (case-insensitive), e.g. "Sports" in
     * "The answer is sports." or "B" in "(B)". Labels are tried at each position, longest first.
     */
    public static Optional<String> label(String text, List<String> labels) {
        int bestAt = Integer.MAX_VALUE;
        String best = null;
        for (String l : labels) {
            Matcher m = Pattern.compile("(?<![\\p{L}\\p{N}])" + Pattern.quote(l.toLowerCase(Locale.ROOT)) + "(?![\\p{L}\\p{N}])")
                    .matcher(text.toLowerCase(Locale.ROOT));
            if (m.find() && (m.start() < bestAt || (m.start() == bestAt && l.length() > best.length()))) {
                bestAt = m.start();
                best = l;
            }
        }
        return Optional.ofNullable(best);
    }
}
