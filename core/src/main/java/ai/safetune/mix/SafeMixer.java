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
        java.util.Set<Long> signatures = new java.util.HashSet<>();
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
            signatures.add(signature(req));
            if (strategy != Strategy.NONE && byRequest.putIfAbsent(normalizedHash(req), i) != null) {
                dropped[i] = true;
                duplicates++;
            }
        }

        // pass 1: count, hash, learn the format from the leading sample, find prompts the user data already has
        Pass1 p1 = new Pass1(safety, byRequest, signatures, dropped);
        String userSha;
        try (ShaWorker sha = new ShaWorker()) {
            p1.sha = sha;
            user.forEach(p1);
            p1.finish();
            userSha = sha.finish();
        }
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
                overlapping, userSha, safetySha.hex(), p1.format);
    }

    private static ChatExample asSafety(ChatExample s) {
        Map<String, String> meta = new HashMap<>(s.metadata());
        meta.put(META_SOURCE, "safety");
        return new ChatExample(s.id(), s.messages(), meta);
    }

    private final class Pass1 implements Consumer<ChatExample> {
        final List<ChatExample> safety;
        final Map<Long, Integer> byRequest;
        final java.util.Set<Long> signatures;
        final boolean[] dropped;
        final boolean[] overlap;
        ShaWorker sha;
        final List<ChatExample> sample = new ArrayList<>();
        Map<Long, Integer> byRendered;
        List<ChatExample> rendered;
        TaskFormat format;
        long n;

        Pass1(List<ChatExample> safety, Map<Long, Integer> byRequest, java.util.Set<Long> signatures, boolean[] dropped) {
            this.safety = safety;
            this.byRequest = byRequest;
            this.signatures = signatures;
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
            if (strategy == Strategy.MIMIC && format == null) {
                sample.add(e); // checked against the rendered safety examples once the format is learned
                if (sample.size() == learnSample) {
                    learn();
                }
            }
            String text = e.firstUser().orElse("");
            if (!signatures.contains(signature(text))) {
                return; // cannot equal any safety prompt, raw or rendered
            }
            long h = normalizedHash(text);
            drop(byRequest.get(h));
            if (byRendered != null) {
                drop(byRendered.get(h));
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
                String text = r.firstUser().orElseThrow();
                signatures.add(signature(text));
                byRendered.putIfAbsent(normalizedHash(text), i);
            }
            // the sample was checked against the raw requests as it streamed in; now against the rendered ones
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

    private static final int EDGE = 48;

    /**
     * A cheap pre-filter for {@link #normalizedHash}: a hash of the first and last {@value #EDGE} characters of
     * the normalized text (a function of the normalized text, so equal texts have equal signatures). Only
     * prompts whose signature matches a safety example's pay for the full hash.
     */
    static long signature(String s) {
        int len = s.length();
        long h = 0x9E3779B97F4A7C15L;
        int taken = 0;
        boolean pending = false;
        boolean any = false;
        int i = 0;
        for (; i < len && taken < EDGE; i++) {
            char c = s.charAt(i);
            if (isSpace(c)) {
                pending = any;
                continue;
            }
            if (pending) {
                h = (h ^ ' ') * 0x100000001b3L;
                taken++;
                pending = false;
            }
            h = (h ^ lower(c)) * 0x100000001b3L;
            taken++;
            any = true;
        }
        long t = 0xcbf29ce484222325L;
        taken = 0;
        pending = false;
        any = false;
        for (int j = len - 1; j >= 0 && taken < EDGE; j--) {
            char c = s.charAt(j);
            if (isSpace(c)) {
                pending = any;
                continue;
            }
            if (pending) {
                t = (t ^ ' ') * 0x100000001b3L;
                taken++;
                pending = false;
            }
            t = (t ^ lower(c)) * 0x100000001b3L;
            taken++;
            any = true;
        }
        return h * 31 + t;
    }

    private static boolean isSpace(char c) {
        return c < 128 ? c == ' ' || c >= '\t' && c <= '\r' || c >= 0x1C && c <= 0x1F : Character.isWhitespace(c);
    }

    private static char lower(char c) {
        return c < 128 ? c >= 'A' && c <= 'Z' ? (char) (c + 32) : c : Character.toLowerCase(c);
    }

    /** 64-bit FNV-1a over the text lower-cased with white-space runs collapsed and trimmed (no allocation). */
    static long normalizedHash(String s) {
        long h = 0xcbf29ce484222325L;
        boolean pendingSpace = false;
        boolean any = false;
        for (int i = 0, len = s.length(); i < len; i++) {
            char c = s.charAt(i);
            boolean space = isSpace(c);
            c = lower(c);
            if (space) {
                pendingSpace = any;
                continue;
            }
            if (pendingSpace) {
                h = (h ^ ' ') * 0x100000001b3L;
                pendingSpace = false;
            }
            h = (h ^ c) * 0x100000001b3L;
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

    /**
     * Hashes on a second thread, in order, so that pass 1's SHA-256 overlaps with its duplicate checks;
     * a bounded queue of small batches keeps memory constant.
     */
    static final class ShaWorker implements AutoCloseable {
        private static final ChatExample[] END = new ChatExample[0];
        private final Sha sha = new Sha();
        private final java.util.concurrent.BlockingQueue<ChatExample[]> queue =
                new java.util.concurrent.ArrayBlockingQueue<>(8);
        private final Thread thread;
        private volatile Throwable failure;
        private ChatExample[] batch = new ChatExample[256];
        private int fill;
        private String hex;

        ShaWorker() {
            thread = new Thread(() -> {
                try {
                    for (ChatExample[] b = queue.take(); b != END; b = queue.take()) {
                        for (ChatExample e : b) {
                            if (e == null) {
                                break;
                            }
                            sha.add(e);
                        }
                    }
                } catch (Throwable t) {
                    failure = t;
                    queue.clear();
                }
            }, "safetune-mix-sha256");
            thread.setDaemon(true);
            thread.start();
        }

        void add(ChatExample e) {
            batch[fill++] = e;
            if (fill == batch.length) {
                put(batch);
                batch = new ChatExample[batch.length];
                fill = 0;
            }
        }

        private void put(ChatExample[] b) {
            try {
                while (!queue.offer(b, 100, java.util.concurrent.TimeUnit.MILLISECONDS)) {
                    if (failure != null || !thread.isAlive()) {
                        throw new IllegalStateException("SHA-256 worker stopped", failure);
                    }
                }
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while hashing the user data", ie);
            }
        }

        /** Waits for the worker and returns the hex digest. */
        String finish() {
            if (hex == null) {
                if (fill > 0) {
                    put(batch);
                    fill = 0;
                }
                put(END);
                try {
                    thread.join();
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while hashing the user data", ie);
                }
                if (failure != null) {
                    throw new IllegalStateException("SHA-256 worker failed", failure);
                }
                hex = sha.hex();
            }
            return hex;
        }

        @Override
        public void close() {
            thread.interrupt();
        }
    }
}
