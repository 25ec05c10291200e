package ai.safetune.format;

import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How a format writes the labels of multiple-choice options: {@code (A)}, {@code A.}, {@code 1)},
 * {@code [a]}... Labels are positional: the i-th option gets the i-th label of the sequence.
 *
 * @param open  text before the label ("(" or "[" or "")
 * @param kind  the label alphabet
 * @param first the first label's ordinal within the alphabet (0 for "A"/"a"/"0", 1 for "1")
 * @param close text after the label (")", ".", ":", "]")
 * @param gap   text between the styled label and the option text (usually one space)
 */
public record LabelStyle(String open, Kind kind, int first, String close, String gap) {

    /** Label alphabets. */
    public enum Kind { UPPER, LOWER, NUMBER }

    // an option line: optional opening bracket, one letter or a 1-2 digit number, a closing mark, a gap, text
    static final Pattern OPTION_LINE = Pattern.compile("^([(\\[]?)([A-Z]|[a-z]|[0-9]{1,2})([).:\\]])([ \\t]+)(.*)$");

    public LabelStyle {
        Objects.requireNonNull(open, "open");
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(close, "close");
        Objects.requireNonNull(gap, "gap");
    }

    /** The bare label of the option at {@code index} ("B" for index 1 in an upper-case style). */
    public String label(int index) {
        int n = first + index;
        return switch (kind) {
            case UPPER -> String.valueOf((char) ('A' + n));
            case LOWER -> String.valueOf((char) ('a' + n));
            case NUMBER -> Integer.toString(n);
        };
    }

    /** The styled label of the option at {@code index} ("(B)"). */
    public String styled(int index) {
        return open + label(index) + close;
    }

    /** The whole option line. */
    public String line(int index, String text) {
        return styled(index) + gap + text;
    }

    /** The ordinal of a bare label in this style's alphabet relative to {@link #first}, or -1. */
    int indexOf(String label) {
        for (int i = 0; i < 26; i++) {
            if (label(i).equals(label)) {
                return i;
            }
        }
        return -1;
    }

    /** One parsed option line. */
    record Parsed(LabelStyle style, int ordinal, String label, String text) {
    }

    /** Parses one line as an option, or returns null. */
    static Parsed parseLine(String line) {
        Matcher m = OPTION_LINE.matcher(line);
        if (!m.matches()) {
            return null;
        }
        String open = m.group(1);
        String close = m.group(3);
        if (open.equals("(") && !close.equals(")") || open.equals("[") && !close.equals("]")
                || open.isEmpty() && close.equals("]")) {
            return null;
        }
        String lab = m.group(2);
        Kind kind;
        int ord;
        if (Character.isDigit(lab.charAt(0))) {
            kind = Kind.NUMBER;
            ord = Integer.parseInt(lab);
        } else if (Character.isUpperCase(lab.charAt(0))) {
            kind = Kind.UPPER;
            ord = lab.charAt(0) - 'A';
        } else {
            kind = Kind.LOWER;
            ord = lab.charAt(0) - 'a';
        }
        return new Parsed(new LabelStyle(open, kind, 0, close, m.group(4)), ord, lab, m.group(5));
    }
}
