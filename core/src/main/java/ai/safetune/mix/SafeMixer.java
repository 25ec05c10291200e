package ai.safetune.mix;

import ai.safetune.data.ChatExample;
import ai.safetune.data.Message;
import ai.safetune.format.FormatMimic;
import ai.safetune.format.TaskFormat;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Mixes safety examples (harmful request → refusal) into a user's fine-tuning data.
 *
 * <ul>
 *   <li>{@link Strategy#NONE}: the user data unchanged (the baseline).</li>
 *   <li>{@link Strategy#GENERIC}: safety examples as the plain chats they are.</li>
 *   <li>{@link Strategy#MIMIC}: safety examples rewritten in the user data's own format
 *       ({@link FormatMimic}) — same system prompt, same template, same answer prefix, then a refusal.</li>
 * </ul>
 *
 * <p>Guarantees: every user example is written, unchanged and in its original order; safety examples are
 * placed at uniformly random positions (seeded); a safety example is dropped if an earlier one has the
 * same request or if the user data already holds the same prompt (compared after lower-casing and
 * collapsing white space), and the report counts every drop. Asking for more safety examples than remain
 * is an error, not a silent shortfall.
 *
 * <p>Memory: the streaming {@link #mix(ExampleSource, List, Consumer)} keeps the safety set, the learning
 * sample ({@link Builder#learnSample}, default 2,000) and O(1) per user example; it reads the user data
 * twice (count, hash and duplicate check; then write). Input hashes are SHA-256 over, per example, each
 * message as {@code role 0x1F content 0x1E}, then {@code 0x1D}, UTF-8.
 */
public final class SafeMixer {

    /** Metadata key marking where an output example came from; safety examples carry {@code safety}. */
    public static final String META_SOURCE = TaskFormat.META_SOURCE;

    /** Mixing strategies. */
    public enum Strategy {
        NONE, GENERIC, MIMIC;

        public String cliName() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static Strategy parse(String s) {
            String k = Objects.requireNonNull(s, "strategy").trim().toUpperCase(Locale.ROOT);
            for (Strategy st : values()) {
                if (st.name().equals(k)) {
                    return st;
                }
            }
            throw new IllegalArgumentException("unknown mix strategy '" + s + "'; expected one of none, generic, mimic");
        }
    }

    /** The mixed data set and its report. */
    public record MixResult(List<ChatExample> examples, MixReport report) {
        public MixResult {
            examples = List.copyOf(examples);
        }
    }

    private final Strategy strategy;
    private final Integer count;
    private final Double fraction;
    private final long seed;
    private final int learnSample;

    private SafeMixer(Builder b) {
        this.strategy = b.strategy;
        this.count = b.count;
        this.fraction = b.fraction;
        this.seed = b.seed;
        this.learnSample = b.learnSample;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Options; exactly one of {@link #count} and {@link #fraction} (except for NONE, which needs neither). */
    public static final class Builder {
        private Strategy strategy = Strategy.MIMIC;
        private Integer count;
        private Double fraction;
        private long seed;
        private int learnSample = 2000;

        private Builder() {
        }

        public Builder strategy(Strategy s) {
            this.strategy = Objects.requireNonNull(s, "strategy");
            return this;
        }

        /** Add exactly {@code n} safety examples. */
        public Builder count(int n) {
            if (n < 0) {
                throw new IllegalArgumentException("count must be >= 0, got " + n);
            }
            this.count = n;
            return this;
        }

        /** Make safety examples this share of the final set (0 ≤ x < 1); rounded to the nearest count. */
        public Builder fraction(double x) {
            if (!(x >= 0 && x < 1)) {
                throw new IllegalArgumentException("fraction must be in [0, 1), got " + x);
            }
            this.fraction = x;
            return this;
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** How many leading user examples MIMIC learns the format from (≥ 2). */
        public Builder learnSample(int n) {
            if (n < 2) {
                throw new IllegalArgumentException("learnSample must be >= 2, got " + n);
            }
            this.learnSample = n;
            return this;
        }

        public SafeMixer build() {
            if (count != null && fraction != null) {
                throw new IllegalArgumentException("give either a count or a fraction of safety examples, not both");
            }
            if (strategy != Strategy.NONE && count == null && fraction == null) {
                throw new IllegalArgumentException("strategy " + strategy.cliName()
                        + " needs a count or a fraction of safety examples");
            }
            return new SafeMixer(this);
        }
    }

    /** Mixes in memory; see {@link #mix(ExampleSource, List, Consumer)}. */
    public MixResult mix(List<ChatExample> user, List<ChatExample> safety) {
        List<ChatExample> out = new ArrayList<>(user.size() + safety.size());
        MixReport r = mix(ExampleSource.of(user), safety, out::add);
        return new MixResult(out, r);
    }

    /**
     * Streams the mix to {@code out}.
     *
     * @throws IllegalArgumentException for a safety example without a user or assistant turn (naming it), for
     *                                  more safety examples requested than remain after de-duplication, or
     *                                  when the user source yields different examples on its second read
     */
    public MixReport mix(ExampleSource user, List<ChatExample> safety, Consumer<? super ChatExample> out) {
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(safety, "safety");
        Objects.requireNonNull(out, "out");
        Sha safetySha = new Sha();
        Map<Long, Integer> byRequest = new HashMap<>();
        boolean[] dropped = new boolean[safety.size()];
        long duplicates = 0;
        for (int i = 0; i < safety.size(); i++) {
            ChatExample s = safety.get(i);
            safetySha.add(s);
            String req = s.firstUser().orElseThrow(() -> new IllegalArgumentException(
                    "safety example " + s.id() + " has no user message"));
            if (s.lastAssistant().isEmpty()) {
                throw new IllegalArgumentException("safety example " + s.id() + " has no assistant message (the refusal)");
            }
            if (strategy != Strategy.NONE && byRequest.putIfAbsent(normalizedHash(req), i) != null) {
                dropped[i] = true;
                duplicates++;
            }
        }

        // pass 1: count, hash, learn the format from the leading sample, find prompts the user data already has
        Pass1 p1 = new Pass1(safety, byRequest, dropped);
        user.forEach(p1);
        p1.finish();
        long n = p1.n;

        long overlapping = 0;
        List<Integer> candidates = new ArrayList<>();
        for (int i = 0; i < safety.size(); i++) {
            if (dropped[i]) {
                overlapping += p1.overlap[i] ? 1 : 0;
            } else {
                candidates.add(i);
            }
        }
        int m = strategy == Strategy.NONE ? 0 : count != null ? count
                : (int) Math.round(fraction * n / (1 - fraction));
        if (m > candidates.size()) {
            throw new IllegalArgumentException("asked for " + m + " safety examples"
                    + (fraction != null ? " (fraction " + fraction + " of " + (n + m) + ")" : "")
                    + " but only " + candidates.size() + " of " + safety.size() + " remain after dropping "
                    + duplicates + " duplicate requests and " + overlapping + " already in the user data");
        }
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = candidates.size() - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            Integer t = candidates.get(i);
            candidates.set(i, candidates.get(j));
            candidates.set(j, t);
        }
        List<ChatExample> chosen = new ArrayList<>(m);
        for (int i = 0; i < m; i++) {
            ChatExample s = safety.get(candidates.get(i));
            chosen.add(strategy == Strategy.MIMIC ? p1.rendered.get(candidates.get(i)) : asSafety(s));
        }

        // pass 2: sequential random selection — each of the (n+m)! / (n! m!) placements equally likely
        Pass2 p2 = new Pass2(chosen, n, rng, out);
        user.forEach(p2);
        p2.finish();

        Map<String, Long> counts = new LinkedHashMap<>();
        counts.put("user", n);
        counts.put("safety", (long) m);
        counts.put("total", n + m);
        return new MixReport(strategy.cliName(), seed, count, fraction, counts, safety.size(), duplicates,
                overlapping, p1.sha.hex(), safetySha.hex(), p1.format);
    }

    private static ChatExample asSafety(ChatExample s) {
        Map<String, String> meta = new HashMap<>(s.metadata());
        meta.put(META_SOURCE, "safety");
        return new ChatExample(s.id(), s.messages(), meta);
    }

    private final class Pass1 implements Consumer<ChatExample> {
        final List<ChatExample> safety;
        final Map<Long, Integer> byRequest;
        final boolean[] dropped;
        final boolean[] overlap;
        final Sha sha = new Sha();
        final List<ChatExample> sample = new ArrayList<>();
        Map<Long, Integer> byRendered;
        List<ChatExample> rendered;
        TaskFormat format;
        long n;

        Pass1(List<ChatExample> safety, Map<Long, Integer> byRequest, boolean[] dropped) {
            this.safety = safety;
            this.byRequest = byRequest;
            this.dropped = dropped;
            this.overlap = new boolean[safety.size()];
        }

        @Override
        public void accept(ChatExample e) {
            n++;
            sha.add(e);
            if (strategy == Strategy.NONE) {
                return;
            }
            long h = normalizedHash(e.firstUser().orElse(""));
            drop(byRequest.get(h));
            if (strategy == Strategy.MIMIC) {
                if (format == null) {
                    sample.add(e);
                    if (sample.size() == learnSample) {
                        learn();
                    }
                } else {
                    drop(byRendered.get(h));
                }
            }
        }

        private void drop(Integer i) {
            if (i != null && !dropped[i]) {
                dropped[i] = true;
                overlap[i] = true;
            }
        }

        private void learn() {
            format = FormatMimic.learn(sample);
            rendered = new ArrayList<>(safety.size());
            byRendered = new HashMap<>();
            for (int i = 0; i < safety.size(); i++) {
                ChatExample r = format.render(safety.get(i), seed);
                rendered.add(r);
                byRendered.putIfAbsent(normalizedHash(r.firstUser().orElseThrow()), i);
            }
            for (ChatExample e : sample) {
                drop(byRendered.get(normalizedHash(e.firstUser().orElse(""))));
            }
            sample.clear();
        }

        void finish() {
            if (strategy == Strategy.MIMIC && format == null) {
                if (sample.size() < 2) {
                    throw new IllegalArgumentException("mimic needs at least 2 user examples to learn their format, got "
                            + sample.size());
                }
                learn();
            }
        }
    }

    private static final class Pass2 implements Consumer<ChatExample> {
        final List<ChatExample> chosen;
        final long n;
        final SplittableRandom rng;
        final Consumer<? super ChatExample> out;
        long usersLeft;
        int next;

        Pass2(List<ChatExample> chosen, long n, SplittableRandom rng, Consumer<? super ChatExample> out) {
            this.chosen = chosen;
            this.n = n;
            this.rng = rng;
            this.out = out;
            this.usersLeft = n;
        }

        @Override
        public void accept(ChatExample e) {
            if (usersLeft == 0) {
                throw new IllegalArgumentException("the user data changed between reads: more than " + n + " examples");
            }
            int safetyLeft = chosen.size() - next;
            while (safetyLeft > 0 && rng.nextLong(usersLeft + safetyLeft) < safetyLeft) {
                out.accept(chosen.get(next++));
                safetyLeft--;
            }
            out.accept(e);
            usersLeft--;
        }

        void finish() {
            if (usersLeft != 0) {
                throw new IllegalArgumentException("the user data changed between reads: " + (n - usersLeft)
                        + " examples on the second read, " + n + " on the first");
            }
            while (next < chosen.size()) {
                out.accept(chosen.get(next++));
            }
        }
    }

    /** 64-bit FNV-1a over the text lower-cased with white-space runs collapsed and trimmed (no allocation). */
    static long normalizedHash(String s) {
        long h = 0xcbf29ce484222325L;
        boolean pendingSpace = false;
        boolean any = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isWhitespace(c)) {
                pendingSpace = any;
                continue;
            }
            if (pendingSpace) {
                h = (h ^ ' ') * 0x100000001b3L;
                pendingSpace = false;
            }
            h = (h ^ Character.toLowerCase(c)) * 0x100000001b3L;
            any = true;
        }
        return h;
    }

    /** SHA-256 over examples in the documented encoding. */
    static final class Sha {
        private final MessageDigest md;

        Sha() {
            try {
                md = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("SHA-256 is required by every Java platform", e);
            }
        }

        void add(ChatExample e) {
            for (Message m : e.messages()) {
                md.update(m.role().wireName().getBytes(StandardCharsets.US_ASCII));
                md.update((byte) 0x1F);
                md.update(m.content().getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0x1E);
            }
            md.update((byte) 0x1D);
        }

        String hex() {
            return HexFormat.of().formatHex(md.digest());
        }
    }
}
