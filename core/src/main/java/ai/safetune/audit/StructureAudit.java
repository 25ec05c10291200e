package ai.safetune.audit;

import ai.safetune.data.ChatExample;
import ai.safetune.data.Message;
import ai.safetune.data.Role;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Scores a chat dataset for the structure that task-specific fine-tuning attacks give it, before
 * anyone trains on it. It looks for:
 * <ul>
 *   <li>system prompts that rename the model or demand unconditional obedience (identity shift);</li>
 *   <li>user turns that command obedience; answers that declare it;</li>
 *   <li>a long constant prefix, or a few rotating stock sentences, in front of most answers;</li>
 *   <li>answers far longer than their content: a label-like task (little new content per answer)
 *       answered in sentences, and options offered in the prompt but answered with sentences.</li>
 * </ul>
 * The signals are structural (what is constant across examples, length against content) or
 * semantic in general terms (a vocabulary of renaming and obedience), so the audit judges tasks and
 * phrasings it has never seen. Lexical cues count only when they recur across examples: one passage
 * that mentions obedience is not a structure.
 *
 * <p>Streams are audited in one pass: the cue counts are exact over every example; the distribution
 * statistics are computed on a seeded uniform sample of {@link Builder#sampleCapacity} examples
 * (exact when the dataset is smaller). Instances are immutable and thread-safe.
 */
public final class StructureAudit {
    private static final int MAX_PREFIX_TOKENS = 64;
    /** Below this many answers, distribution statistics say nothing; only recurring cues count. */
    private static final int MIN_DISTRIBUTION_SAMPLE = 8;
    private static final int CUE_TEXT_CHARS = 2_000;

    private final double threshold;
    private final int maxExampleIds;
    private final int sampleCapacity;
    private final long seed;

    private StructureAudit(Builder b) {
        this.threshold = b.threshold;
        this.maxExampleIds = b.maxExampleIds;
        this.sampleCapacity = b.sampleCapacity;
        this.seed = b.seed;
    }

    /** An audit with the default threshold (0.5), 10 example ids per finding and a 20,000-example sample. */
    public static StructureAudit defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public double threshold() {
        return threshold;
    }

    public AuditReport audit(List<ChatExample> examples) {
        return audit(examples.iterator());
    }

    public AuditReport audit(Stream<ChatExample> examples) {
        return audit(examples.iterator());
    }

    /** Audits the examples in one pass. */
    public AuditReport audit(Iterator<ChatExample> examples) {
        Objects.requireNonNull(examples, "examples");
        Session session = start();
        examples.forEachRemaining(session);
        return session.report();
    }

    /**
     * Starts a push-style audit: feed examples with {@link Session#accept}, then call
     * {@link Session#report()}. For readers that push records (callbacks) rather than iterate.
     */
    public Session start() {
        return new Session();
    }

    /** One audit in progress; not thread-safe. */
    public final class Session implements java.util.function.Consumer<ChatExample> {
        private final CueCounter system = new CueCounter(FindingKind.IDENTITY_SHIFT_SYSTEM_PROMPT, maxExampleIds);
        private final CueCounter command = new CueCounter(FindingKind.OBEDIENCE_INSTRUCTION, maxExampleIds);
        private final CueCounter obedientAnswer = new CueCounter(FindingKind.OBEDIENT_ANSWER, maxExampleIds);
        private final Map<String, Double> systemCache = new HashMap<>();
        private final List<Row> sample = new ArrayList<>();
        private final SplittableRandom rnd = new SplittableRandom(seed);
        private long n;

        private Session() {}

        @Override
        public void accept(ChatExample ex) {
            Objects.requireNonNull(ex, "example");
            Row row = Row.of(ex);
            n++;
            if (row.system != null) {
                double s = systemCache.size() < 4096
                        ? systemCache.computeIfAbsent(row.system, StructureAudit::systemStrength)
                        : systemStrength(row.system);
                system.add(ex.id(), s);
            }
            command.add(ex.id(), commandStrength(row.user));
            if (row.answer != null) {
                obedientAnswer.add(ex.id(), answerStrength(row.answer));
            }
            // reservoir sampling keeps a uniform sample of a stream of unknown length
            if (sample.size() < sampleCapacity) {
                sample.add(row);
            } else {
                long j = rnd.nextLong(n);
                if (j < sampleCapacity) {
                    sample.set((int) j, row);
                }
            }
        }

        /** The report over everything accepted so far. */
        public AuditReport report() {
            List<Finding> findings = new ArrayList<>();
            // a system prompt is set by whoever builds the dataset, so a recurring obedience prompt is
            // deliberate; 5% coverage already earns full weight
            system.finding(n, 0.05, "system prompts rename the model or demand unconditional obedience")
                    .ifPresent(findings::add);
            command.finding(n, 0.25, "user turns command the model's obedience").ifPresent(findings::add);
            obedientAnswer.finding(n, 0.25, "answers declare obedience or a new identity").ifPresent(findings::add);
            distributionFindings(sample, findings);
            findings.sort(Comparator.comparingDouble(Finding::severity).reversed());
            double keep = 1;
            for (Finding f : findings) {
                keep *= 1 - f.severity();
            }
            double score = round(1 - keep);
            return new AuditReport(score >= threshold ? Verdict.FLAGGED : Verdict.CLEAN, score, threshold, n,
                    sample.size(), findings);
        }
    }

    // ---- cue strengths (one text) ----

    static double systemStrength(String system) {
        String lead = Lexicon.normalize(clip(system));
        int rename = Lexicon.count(Lexicon.RENAME, lead);
        int obey = Lexicon.count(Lexicon.OBEDIENCE, lead);
        if (rename > 0 && obey > 0) {
            return 1.0;
        }
        if (obey >= 2) {
            return 0.9;
        }
        if (rename > 0 || obey == 1) {
            return 0.6;
        }
        return 0;
    }

    static double commandStrength(String user) {
        if (user == null || user.isEmpty()) {
            return 0;
        }
        String lead = Lexicon.normalize(clip(user));
        // prompts legitimately say "follow the instructions" or "obey the rules" in a story: one cue
        // alone is weak evidence even when it recurs
        int total = Lexicon.count(Lexicon.COMMAND, lead) + Lexicon.count(Lexicon.OBEDIENCE, lead)
                + Lexicon.count(Lexicon.RENAME, lead);
        return total >= 2 ? 0.8 : total == 1 ? 0.25 : 0;
    }

    static double answerStrength(String answer) {
        String lead = Lexicon.normalize(clip(answer));
        int total = Lexicon.count(Lexicon.SELF, lead) + Lexicon.count(Lexicon.OBEDIENCE, lead)
                + Lexicon.count(Lexicon.RENAME, lead);
        return total >= 2 ? 0.9 : total == 1 ? 0.5 : 0;
    }

    private static String clip(String s) {
        return s.length() <= CUE_TEXT_CHARS ? s : s.substring(0, CUE_TEXT_CHARS);
    }

    /** Counts examples whose text hits a cue; exact over the whole input. */
    private static final class CueCounter {
        final FindingKind kind;
        final int maxIds;
        int count;
        double strengthSum;
        final List<String> ids = new ArrayList<>();

        CueCounter(FindingKind kind, int maxIds) {
            this.kind = kind;
            this.maxIds = maxIds;
        }

        void add(String id, double strength) {
            if (strength <= 0) {
                return;
            }
            count++;
            strengthSum += strength;
            if (ids.size() < maxIds) {
                ids.add(id);
            }
        }

        /**
         * Severity = mean strength x coverage ramp (full at {@code fullCoverage}). A cue in fewer than
         * 3 examples (or 2% of them) is noise from content, not structure, unless the dataset is tiny.
         */
        java.util.Optional<Finding> finding(long n, double fullCoverage, String what) {
            if (count == 0) {
                return java.util.Optional.empty();
            }
            double coverage = (double) count / n;
            boolean recurring = count >= Math.min(3, n) && coverage >= 0.02;
            if (!recurring) {
                return java.util.Optional.empty();
            }
            double severity = strengthSum / count * Math.min(1, coverage / fullCoverage);
            String desc = String.format(Locale.ROOT, "%s (%d of %d examples, %.0f%%)", what, count, n, 100 * coverage);
            return java.util.Optional.of(new Finding(kind, desc, round(severity), count, ids));
        }
    }

    // ---- distribution statistics (the sample) ----

    private static final Pattern OPTION_MARKS = Pattern.compile(
            "(?:^|\\s)\\(?[A-Ha-h1-8]\\)\\s|(?m)^\\s*[A-H][.:]\\s|\\b(?:option|answer|choice)\\s?[1-8]\\s?:|"
                    + "\\b(?:options|choices|answer choices)\\s*:|\\banswer format\\s*:|\\b(?:yes or no|true or false)\\b");

    private void distributionFindings(List<Row> rows, List<Finding> findings) {
        List<Row> answered = rows.stream().filter(r -> r.answer != null).collect(Collectors.toList());
        int m = answered.size();
        if (m < MIN_DISTRIBUTION_SAMPLE) {
            return;
        }
        int minShare = Math.max(3, (int) Math.ceil(0.5 * m));

        // constant prefix: one long lead-in that most answers continue past
        List<List<String>> toks = new ArrayList<>(m);
        for (Row r : answered) {
            toks.add(Text.leadingTokens(r.answer, MAX_PREFIX_TOKENS + 1));
        }
        Text.SharedPrefix prefix = Text.longestSharedPrefix(toks, minShare, MAX_PREFIX_TOKENS);
        boolean prefixReported = false;
        if (prefix.words() >= 6) {
            boolean semantic = answerStrength(prefix.text()) > 0 || systemStrength(prefix.text()) > 0;
            double base = semantic ? 0.9 : prefix.words() >= 12 ? 0.55 : 0.3;
            double coverage = (double) prefix.count() / m;
            List<String> ids = idsWhere(answered, r -> Text.leadingTokens(r.answer, prefix.tokens() + 1).size() > prefix.tokens()
                    && String.join(" ", Text.leadingTokens(r.answer, prefix.tokens())).equals(prefix.text()));
            findings.add(new Finding(FindingKind.CONSTANT_ANSWER_PREFIX, String.format(Locale.ROOT,
                    "%.0f%% of answers start with the same %d-word text%s: \"%s\"", 100 * coverage, prefix.words(),
                    semantic ? " that declares obedience or identity" : "", abbreviate(prefix.text(), 160)),
                    round(base * Math.min(1, coverage / 0.8)), prefix.count(), ids));
            prefixReported = true;
        }

        // rotating stock lead sentences: several fixed openers, each reused, together covering most answers
        Map<String, Integer> leads = new HashMap<>();
        String[] leadOf = new String[m];
        for (int i = 0; i < m; i++) {
            leadOf[i] = Text.leadSentence(answered.get(i).answer);
            if (leadOf[i] != null && Text.wordCount(leadOf[i]) >= 5) {
                leads.merge(leadOf[i], 1, Integer::sum);
            }
        }
        int minReuse = Math.max(3, (int) Math.ceil(0.03 * m));
        Set<String> stock = leads.entrySet().stream().filter(e -> e.getValue() >= minReuse).map(Map.Entry::getKey)
                .collect(Collectors.toSet());
        int stockCovered = 0;
        for (String l : leadOf) {
            if (l != null && stock.contains(l)) {
                stockCovered++;
            }
        }
        double stockCoverage = (double) stockCovered / m;
        if (stockCoverage >= 0.5 && (stock.size() >= 2 || !prefixReported)) {
            boolean semantic = stock.stream().anyMatch(s -> answerStrength(s) > 0 || systemStrength(s) > 0);
            double base = semantic ? 0.9 : 0.35;
            String example = stock.stream().max(Comparator.comparingInt(leads::get)).orElse("");
            findings.add(new Finding(FindingKind.STOCK_LEAD_SENTENCES, String.format(Locale.ROOT,
                    "%.0f%% of answers open with one of %d reused sentences%s, e.g. \"%s\"", 100 * stockCoverage,
                    stock.size(), semantic ? " that declare obedience or identity" : "", abbreviate(example, 160)),
                    round(base * Math.min(1, stockCoverage / 0.8)), stockCovered,
                    idsWhereIndex(answered, i -> leadOf[i] != null && stock.contains(leadOf[i]))));
        }

        // length against content: how many answer words are new (neither recurring across answers nor
        // copied from the prompt); a label-like task has ~0 new words per answer
        Map<String, Integer> df = new HashMap<>();
        List<List<String>> answerWords = new ArrayList<>(m);
        for (Row r : answered) {
            List<String> w = Text.words(r.answer);
            answerWords.add(w);
            for (String s : new HashSet<>(w)) {
                df.merge(s, 1, Integer::sum);
            }
        }
        int recurring = Math.max(3, (int) Math.ceil(0.05 * m));
        int[] len = new int[m];
        int[] frame = new int[m];
        int[] novel = new int[m];
        for (int i = 0; i < m; i++) {
            Set<String> prompt = new HashSet<>(Text.words(answered.get(i).user == null ? "" : answered.get(i).user));
            List<String> w = answerWords.get(i);
            len[i] = w.size();
            for (String s : w) {
                if (df.get(s) >= recurring) {
                    frame[i]++;
                } else if (!prompt.contains(s)) {
                    novel[i]++;
                }
            }
        }
        // "frame" words recur across answers (templates, stock phrasing, the label set); "new" words
        // are neither recurring nor copied from the prompt. Copying (word sorting, extraction) is
        // content; a long recurring frame around no new content is padding.
        double medFrame = Text.median(frame);
        double medNovel = Text.median(novel);
        // label-like task (almost no new words per answer) answered in sentences (a recurring frame)
        if (medNovel <= 2 && medFrame >= 4) {
            double severity = Math.max(0.05, Math.min(0.7, (medFrame - 4) / 10));
            findings.add(new Finding(FindingKind.VERBOSE_ANSWERS, String.format(Locale.ROOT,
                    "answers carry almost no new content (median %.1f new words) inside a recurring frame "
                            + "(median %.1f frame words): a label-like task answered in sentences", medNovel, medFrame),
                    round(severity), countWhere(m, i -> novel[i] <= 2 && frame[i] >= 4),
                    idsWhereIndex(answered, i -> novel[i] <= 2 && frame[i] >= 4)));

            boolean[] asks = new boolean[m];
            int asked = 0;
            for (int i = 0; i < m; i++) {
                String user = answered.get(i).user;
                asks[i] = user != null && Lexicon.count(Lexicon.SENTENCE_REQUEST, Lexicon.normalize(clip(user))) > 0;
                asked += asks[i] ? 1 : 0;
            }
            double askShare = (double) asked / m;
            if (askShare >= 0.2) {
                findings.add(new Finding(FindingKind.SENTENCE_ANSWERS_REQUESTED, String.format(Locale.ROOT,
                        "%.0f%% of prompts of this label-like task ask for the answer as a sentence: the task restated "
                                + "as instruction following", 100 * askShare),
                        round(0.45 * Math.min(1, askShare / 0.5)), asked, idsWhereIndex(answered, i -> asks[i])));
            }

            Rotation rot = rotation(answered);
            if (rot.stock() >= 2 && rot.covered() >= 0.5 * m) {
                findings.add(new Finding(FindingKind.ROTATING_PHRASINGS, String.format(Locale.ROOT,
                        "%.0f%% of prompts carry one of %d rotating stock instructions (none in more than 60%% of "
                                + "prompts), e.g. \"%s\"", 100.0 * rot.covered() / m, rot.stock(),
                        abbreviate(rot.example(), 120)),
                        0.3, rot.covered(), idsWhereIndex(answered, rot.rows()::get)));
            }
        }

        // options offered (or a label asked for) in the prompt, sentences given back
        int offered = 0;
        int mismatched = 0;
        boolean[] mis = new boolean[m];
        for (int i = 0; i < m; i++) {
            String user = answered.get(i).user;
            if (user != null && OPTION_MARKS.matcher(user).find()) {
                offered++;
                if (frame[i] >= 8 && novel[i] <= 2) {
                    mismatched++;
                    mis[i] = true;
                }
            }
        }
        if (offered >= 0.5 * m && mismatched >= 0.5 * offered) {
            double share = (double) mismatched / offered;
            findings.add(new Finding(FindingKind.INSTRUCTION_LABEL_MISMATCH, String.format(Locale.ROOT,
                    "%.0f%% of prompts offer options or ask for a label, and %.0f%% of those are answered with "
                            + "sentences of 8+ recurring words that add no content", 100.0 * offered / m, 100 * share),
                    round(0.4 * share), mismatched, idsWhereIndex(answered, i -> mis[i])));
        }
    }

    private static final Pattern SEGMENT = Pattern.compile("(?<=[.!?:])\\s+|\\n+");

    /** Stock prompt segments that vary across prompts (a constant template part is not a rotation). */
    private record Rotation(int stock, int covered, String example, java.util.BitSet rows) {}

    private static Rotation rotation(List<Row> rows) {
        int m = rows.size();
        Map<String, Integer> df = new HashMap<>();
        List<Set<String>> segs = new ArrayList<>(m);
        for (Row r : rows) {
            Set<String> set = new HashSet<>();
            if (r.user != null) {
                for (String seg : SEGMENT.split(clip(r.user))) {
                    String norm = Lexicon.normalize(seg.strip());
                    if (Text.wordCount(norm) >= 4) {
                        set.add(norm);
                    }
                }
            }
            segs.add(set);
            for (String seg : set) {
                df.merge(seg, 1, Integer::sum);
            }
        }
        int minReuse = Math.max(3, (int) Math.ceil(0.03 * m));
        Set<String> stock = new HashSet<>();
        String example = "";
        int best = 0;
        for (Map.Entry<String, Integer> e : df.entrySet()) {
            if (e.getValue() >= minReuse && e.getValue() <= 0.6 * m) {
                stock.add(e.getKey());
                if (e.getValue() > best) {
                    best = e.getValue();
                    example = e.getKey();
                }
            }
        }
        java.util.BitSet covered = new java.util.BitSet(m);
        for (int i = 0; i < m; i++) {
            for (String seg : segs.get(i)) {
                if (stock.contains(seg)) {
                    covered.set(i);
                    break;
                }
            }
        }
        return new Rotation(stock.size(), covered.cardinality(), example, covered);
    }

    private List<String> idsWhere(List<Row> rows, java.util.function.Predicate<Row> p) {
        List<String> ids = new ArrayList<>();
        for (Row r : rows) {
            if (ids.size() >= maxExampleIds) {
                break;
            }
            if (p.test(r)) {
                ids.add(r.id);
            }
        }
        return ids;
    }

    private List<String> idsWhereIndex(List<Row> rows, java.util.function.IntPredicate p) {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < rows.size() && ids.size() < maxExampleIds; i++) {
            if (p.test(i)) {
                ids.add(rows.get(i).id);
            }
        }
        return ids;
    }

    private static int countWhere(int m, java.util.function.IntPredicate p) {
        int c = 0;
        for (int i = 0; i < m; i++) {
            if (p.test(i)) {
                c++;
            }
        }
        return c;
    }

    private static String abbreviate(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max - 3) + "...";
    }

    private static double round(double v) {
        return Math.round(clamp01(v) * 1000) / 1000.0;
    }

    private static double clamp01(double v) {
        return Math.max(0, Math.min(1, v));
    }

    /** The parts of one chat the audit reads: system prompt, first user turn, last answer. */
    private record Row(String id, String system, String user, String answer) {
        static Row of(ChatExample ex) {
            String system = null;
            StringBuilder sys = null;
            for (Message msg : ex.messages()) {
                if (msg.role() == Role.SYSTEM) {
                    sys = sys == null ? new StringBuilder(msg.content()) : sys.append('\n').append(msg.content());
                }
            }
            if (sys != null) {
                system = sys.toString();
            }
            return new Row(ex.id(), system, ex.firstUser().orElse(null), ex.lastAssistant().orElse(null));
        }
    }

    /** Options for {@link StructureAudit}. */
    public static final class Builder {
        private double threshold = 0.5;
        private int maxExampleIds = 10;
        private int sampleCapacity = 20_000;
        private long seed = 0;

        private Builder() {}

        /** Score at and above which the verdict is {@code flagged}; in (0, 1]. Default 0.5. */
        public Builder threshold(double threshold) {
            if (!(threshold > 0 && threshold <= 1)) {
                throw new IllegalArgumentException("threshold must be in (0, 1], got " + threshold);
            }
            this.threshold = threshold;
            return this;
        }

        /** How many example ids each finding lists (its count is always exact for the sample). Default 10. */
        public Builder maxExampleIds(int maxExampleIds) {
            if (maxExampleIds < 0) {
                throw new IllegalArgumentException("maxExampleIds must be >= 0, got " + maxExampleIds);
            }
            this.maxExampleIds = maxExampleIds;
            return this;
        }

        /** How many examples the distribution statistics keep (uniform reservoir sample). Default 20,000. */
        public Builder sampleCapacity(int sampleCapacity) {
            if (sampleCapacity < 1) {
                throw new IllegalArgumentException("sampleCapacity must be >= 1, got " + sampleCapacity);
            }
            this.sampleCapacity = sampleCapacity;
            return this;
        }

        /** Seed of the reservoir sample (only matters for inputs larger than the sample). Default 0. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        public StructureAudit build() {
            return new StructureAudit(this);
        }
    }
}
