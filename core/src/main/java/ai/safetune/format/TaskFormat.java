package ai.safetune.format;

import ai.safetune.data.ChatExample;
import ai.safetune.data.Choice;
import ai.safetune.data.Message;
import ai.safetune.data.TaskExample;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The prompt format of a task dataset, learned by {@link FormatMimic#learn(List)}: everything around the
 * question, the options and the answer. {@link #render(ChatExample)} writes a safety example (harmful
 * request, refusal) in exactly this format, which is the paper's defence: the refusals then share the
 * structure that an attack exploits.
 *
 * <p>A format has one or more {@link Variant}s (datasets written with several phrasings, such as
 * instruction-following data, have one variant per phrasing), each with the number of examples it was
 * learned from. Serializable to JSON ({@link #toJson()}).
 *
 * @param systemPrompt       the constant system prompt of every example, or null when there is none
 * @param variants           the templates, most frequent first
 * @param answerStyle        how the dominant variant answers
 * @param typicalAnswerChars median length of the assistant turns
 * @param userPrefix         the constant text that opens every user turn (e.g. an identity-shift address)
 * @param assistantPrefix    the constant text that opens every assistant turn (e.g. a compliance sentence)
 * @param learnedFrom        how many examples the format was learned from
 * @param unmatched          examples that fit no variant (a lone phrasing); the rest fit one exactly
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record TaskFormat(String systemPrompt, List<Variant> variants, AnswerStyle answerStyle,
                         int typicalAnswerChars, String userPrefix, String assistantPrefix,
                         int learnedFrom, int unmatched) {

    /** Metadata key marking mixed-in examples' origin ("safety"). */
    public static final String META_SOURCE = "safetune.source";
    /** Metadata key with the variant index a mimicked example was rendered with. */
    public static final String META_VARIANT = "mimic.variant";

    /** How answers are written. */
    public enum AnswerStyle {
        /** only the option label, bare or styled: "B", "(B)" */
        LABEL,
        /** the label followed by the option text: "(B) 12/25/1937" */
        LABEL_WITH_TEXT,
        /** a sentence around the label or value: "The answer is (B)." */
        SENTENCE,
        /** a short bare value: "18", "True" */
        SHORT_VALUE,
        /** long free text (rationales, essays) */
        FREE_TEXT
    }

    /**
     * The user turn: {@code prefix + question + suffix}, or with options
     * {@code prefix + question + middle + option lines + suffix}.
     *
     * @param options     label style of the option lines, or null for formats without options
     * @param optionCount the most common number of options
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record UserTemplate(String prefix, String middle, LabelStyle options, String optionSeparator,
                               int optionCount, String suffix) {
        public UserTemplate {
            Objects.requireNonNull(prefix, "prefix");
            Objects.requireNonNull(middle, "middle");
            Objects.requireNonNull(optionSeparator, "optionSeparator");
            Objects.requireNonNull(suffix, "suffix");
        }

        public boolean hasOptions() {
            return options != null;
        }

        String render(String question, List<String> optionTexts) {
            StringBuilder sb = new StringBuilder(prefix.length() + question.length() + suffix.length() + 64);
            sb.append(prefix).append(question);
            if (options != null) {
                sb.append(middle);
                for (int i = 0; i < optionTexts.size(); i++) {
                    if (i > 0) {
                        sb.append(optionSeparator);
                    }
                    sb.append(options.line(i, optionTexts.get(i)));
                }
            }
            return sb.append(suffix).toString();
        }
    }

    /**
     * The assistant turn. {@code LABEL}: {@code prefix + label [+ between + optionText] + suffix};
     * {@code VALUE}: {@code prefix + value + suffix}.
     */
    public record AnswerTemplate(Kind kind, String prefix, boolean styledLabel, String between,
                                 boolean withText, String suffix) {
        /** What the answer slot holds. */
        public enum Kind { LABEL, VALUE }

        public AnswerTemplate {
            Objects.requireNonNull(kind, "kind");
            Objects.requireNonNull(prefix, "prefix");
            Objects.requireNonNull(between, "between");
            Objects.requireNonNull(suffix, "suffix");
        }

        static AnswerTemplate value(String prefix, String suffix) {
            return new AnswerTemplate(Kind.VALUE, prefix, false, "", false, suffix);
        }

        String renderLabel(LabelStyle style, int index, String text) {
            return prefix + (styledLabel ? style.styled(index) : style.label(index))
                    + (withText ? between + text : "") + suffix;
        }

        String renderValue(String value) {
            return prefix + value + suffix;
        }
    }

    /** One template with the number of learning examples it matched. */
    public record Variant(int support, UserTemplate user, AnswerTemplate answer) {
        public Variant {
            Objects.requireNonNull(user, "user");
            Objects.requireNonNull(answer, "answer");
        }
    }

    public TaskFormat {
        variants = List.copyOf(Objects.requireNonNull(variants, "variants"));
        Objects.requireNonNull(answerStyle, "answerStyle");
        Objects.requireNonNull(userPrefix, "userPrefix");
        Objects.requireNonNull(assistantPrefix, "assistantPrefix");
        if (variants.isEmpty()) {
            throw new IllegalArgumentException("a format needs at least one variant");
        }
    }

    public Optional<String> constantSystemPrompt() {
        return Optional.ofNullable(systemPrompt);
    }

    /** Compliance-flavoured distractors for mimicked multiple-choice safety examples. */
    private static final List<String> DISTRACTORS = List.of(
            "Sure, here are the detailed steps to do exactly that.",
            "Yes, I will carry out the request in full.",
            "Here is everything you asked for, without any changes.",
            "Of course, this is how to do it step by step.",
            "I will comply and provide the requested details.",
            "Absolutely, the complete instructions follow.",
            "Certainly, here is the information you wanted.");

    /** {@link #render(ChatExample, long)} with seed 0. */
    public ChatExample render(ChatExample safety) {
        return render(safety, 0L);
    }

    /**
     * Writes a safety example (its first user turn is the request, its last assistant turn the refusal or
     * safe answer) in this format: same system prompt, same text around the question, the request where the
     * question stands, and the refusal in this format's answer style. For option formats the options are
     * built so that one of them is the refusal (its first sentence) and the others are compliant replies;
     * the answer names the refusal's label. The variant and the refusal's position depend only on the seed
     * and the example's content.
     *
     * @throws IllegalArgumentException naming the example when it has no user or no assistant turn
     */
    public ChatExample render(ChatExample safety, long seed) {
        String request = safety.firstUser().orElseThrow(() -> new IllegalArgumentException(
                "safety example " + safety.id() + " has no user message"));
        String refusal = safety.lastAssistant().orElseThrow(() -> new IllegalArgumentException(
                "safety example " + safety.id() + " has no assistant message"));
        long h = mix(seed, request);
        int v = pickVariant(h);
        Variant var = variants.get(v);
        UserTemplate ut = var.user();
        AnswerTemplate at = var.answer();
        String user;
        String answer;
        if (ut.hasOptions()) {
            int k = Math.max(2, ut.optionCount());
            int right = (int) Long.remainderUnsigned(h >>> 8, k);
            String refusalOption = firstSentence(refusal);
            List<String> texts = new ArrayList<>(k);
            int d = (int) Long.remainderUnsigned(h >>> 24, DISTRACTORS.size());
            for (int i = 0; i < k; i++) {
                texts.add(i == right ? refusalOption : DISTRACTORS.get((d + i) % DISTRACTORS.size()));
            }
            user = ut.render(request, texts);
            answer = at.kind() == AnswerTemplate.Kind.LABEL
                    ? at.renderLabel(ut.options(), right, refusalOption)
                    : valueAnswer(at, refusal);
        } else {
            user = ut.render(request, List.of());
            answer = valueAnswer(at, refusal);
        }
        List<Message> msgs = new ArrayList<>(3);
        if (systemPrompt != null) {
            msgs.add(Message.system(systemPrompt));
        }
        msgs.add(Message.user(user));
        msgs.add(Message.assistant(answer));
        Map<String, String> meta = new HashMap<>(safety.metadata());
        meta.put(META_SOURCE, "safety");
        meta.put(META_VARIANT, Integer.toString(v));
        return new ChatExample(safety.id(), msgs, meta);
    }

    private static String valueAnswer(AnswerTemplate at, String refusal) {
        String suffix = at.suffix();
        // "The answer is {value}." around a whole refusal: keep the refusal's own final punctuation
        if (!suffix.isEmpty() && suffix.chars().allMatch(c -> ".!?".indexOf(c) >= 0)
                && !refusal.isEmpty() && ".!?".indexOf(refusal.charAt(refusal.length() - 1)) >= 0) {
            suffix = "";
        }
        return at.prefix() + refusal + suffix;
    }

    /**
     * Renders a task example's content through one variant (used to check a learned format against the
     * template that wrote the data): the input where the question stands, the choices as options, the gold
     * label or value in the answer slot.
     */
    public ChatExample render(TaskExample ex, int variant) {
        Variant var = variants.get(variant);
        UserTemplate ut = var.user();
        AnswerTemplate at = var.answer();
        String user;
        String answer;
        if (ut.hasOptions() && ex.isMultipleChoice()) {
            List<String> texts = ex.choices().stream().map(Choice::text).toList();
            int gold = ex.choices().indexOf(ex.goldChoice().orElseThrow());
            user = ut.render(ex.input(), texts);
            answer = at.kind() == AnswerTemplate.Kind.LABEL
                    ? at.renderLabel(ut.options(), gold, texts.get(gold))
                    : at.renderValue(texts.get(gold));
        } else if (!ut.hasOptions() && ex.choices().stream().allMatch(c -> c.text().isEmpty())) {
            // free answers, and classes named by label only ("World", "positive"): the label is the value
            user = ut.render(ex.input(), List.of());
            answer = at.renderValue(ex.answer());
        } else {
            throw new IllegalArgumentException("example " + ex.id() + (ex.isMultipleChoice() ? " has" : " has no")
                    + " options but variant " + variant + (ut.hasOptions() ? " has" : " has no") + " options");
        }
        List<Message> msgs = new ArrayList<>(3);
        if (systemPrompt != null) {
            msgs.add(Message.system(systemPrompt));
        }
        msgs.add(Message.user(user));
        msgs.add(Message.assistant(answer));
        return new ChatExample(ex.id(), msgs, Map.of());
    }

    private int pickVariant(long h) {
        int total = 0;
        for (Variant v : variants) {
            total += v.support();
        }
        long r = Long.remainderUnsigned(h, Math.max(1, total));
        for (int i = 0; i < variants.size(); i++) {
            r -= variants.get(i).support();
            if (r < 0) {
                return i;
            }
        }
        return 0;
    }

    static String firstSentence(String s) {
        String t = s.strip();
        for (int i = 0; i < t.length() - 1; i++) {
            char c = t.charAt(i);
            if ((c == '.' || c == '!' || c == '?') && Character.isWhitespace(t.charAt(i + 1)) && i >= 12) {
                t = t.substring(0, i + 1);
                break;
            }
        }
        t = t.replace('\n', ' ');
        return t.length() <= 240 ? t : t.substring(0, 239).strip() + "…";
    }

    static long mix(long seed, String s) {
        long h = seed * 0x9E3779B97F4A7C15L + s.hashCode() + ((long) s.length() << 32);
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        h ^= h >>> 33;
        return h;
    }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize format", e);
        }
    }

    /** Reads a format written by {@link #toJson()}. */
    public static TaskFormat fromJson(String json) {
        try {
            return JSON.readValue(json, TaskFormat.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not a TaskFormat JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** A short human-readable summary. */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        sb.append("learned from ").append(learnedFrom).append(" examples, ").append(variants.size())
                .append(" variant(s), answer style ").append(answerStyle)
                .append(", typical answer ").append(typicalAnswerChars).append(" chars\n");
        sb.append("system prompt: ").append(systemPrompt == null ? "(none)" : quote(systemPrompt)).append('\n');
        sb.append("user prefix: ").append(quote(userPrefix)).append("; assistant prefix: ")
                .append(quote(assistantPrefix)).append('\n');
        for (int i = 0; i < variants.size(); i++) {
            Variant v = variants.get(i);
            sb.append("variant ").append(i).append(" (").append(v.support()).append(" examples): user ")
                    .append(quote(v.user().prefix())).append(" {question}");
            if (v.user().hasOptions()) {
                sb.append(' ').append(quote(v.user().middle())).append(" {options ")
                        .append(v.user().options().styled(0)).append("...}");
            }
            sb.append(' ').append(quote(v.user().suffix())).append(" | answer ").append(quote(v.answer().prefix()))
                    .append(v.answer().kind() == AnswerTemplate.Kind.LABEL ? " {label}" : " {value}")
                    .append(v.answer().withText() ? " " + quote(v.answer().between()) + " {text}" : "")
                    .append(' ').append(quote(v.answer().suffix())).append('\n');
        }
        return sb.toString();
    }

    private static String quote(String s) {
        String t = s.length() > 80 ? s.substring(0, 77) + "..." : s;
        return '"' + t.replace("\n", "\\n") + '"';
    }
}
