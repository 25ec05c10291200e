package ai.safetune.audit;

import ai.safetune.data.ChatExample;
import ai.safetune.data.Message;
import ai.safetune.data.Role;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Descriptive statistics of a chat dataset: what {@code safetune inspect} prints. No judgement here
 * (that is {@link StructureAudit}); only counts, lengths and what is constant across examples.
 *
 * @param examples          number of examples
 * @param messagesPerRole   message count per role wire name ("system", "user", "assistant")
 * @param turnsPerExample   length statistics of the number of messages per example
 * @param withSystemPrompt  examples that have a system message
 * @param systemPrompt      the most common system prompt, with its share of all examples
 * @param userPrefix        the longest user-turn prefix shared by at least half the user turns (and continued
 *                          past), lower-cased, whitespace-normalized
 * @param assistantPrefix   the same for answers
 * @param userWords         length statistics of the first user turn, in words
 * @param assistantWords    length statistics of the last answer, in words
 */
public record DatasetProfile(long examples, Map<String, Long> messagesPerRole, Lengths turnsPerExample,
                             long withSystemPrompt, Optional<Shared> systemPrompt, Optional<Shared> userPrefix,
                             Optional<Shared> assistantPrefix, Lengths userWords, Lengths assistantWords) {

    public DatasetProfile {
        // keeps the caller's order (system, user, assistant) for printing
        messagesPerRole = java.util.Collections.unmodifiableMap(
                new LinkedHashMap<>(Objects.requireNonNull(messagesPerRole, "messagesPerRole")));
        Objects.requireNonNull(systemPrompt, "systemPrompt");
        Objects.requireNonNull(userPrefix, "userPrefix");
        Objects.requireNonNull(assistantPrefix, "assistantPrefix");
    }

    /** A text shared by {@code count} examples ({@code share} of all of them). */
    public record Shared(String text, long count, double share) {}

    /** Min / median / mean / max of a length; all zero for no values. */
    public record Lengths(long count, int min, double median, double mean, int max) {
        static Lengths of(int[] v) {
            if (v.length == 0) {
                return new Lengths(0, 0, 0, 0, 0);
            }
            int[] s = v.clone();
            Arrays.sort(s);
            return new Lengths(s.length, s[0], Text.median(s), Arrays.stream(s).average().orElse(0), s[s.length - 1]);
        }
    }

    /** Profiles the examples (held in memory: prefix statistics need all of them). */
    public static DatasetProfile of(List<ChatExample> examples) {
        int n = examples.size();
        Map<Role, Long> roles = new EnumMap<>(Role.class);
        int[] turns = new int[n];
        Map<String, Integer> systems = new HashMap<>();
        long withSystem = 0;
        List<List<String>> userToks = new ArrayList<>();
        List<List<String>> answerToks = new ArrayList<>();
        List<Integer> userLen = new ArrayList<>();
        List<Integer> answerLen = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ChatExample ex = examples.get(i);
            turns[i] = ex.messages().size();
            for (Message m : ex.messages()) {
                roles.merge(m.role(), 1L, Long::sum);
            }
            Optional<String> sys = ex.systemPrompt();
            if (sys.isPresent()) {
                withSystem++;
                systems.merge(sys.get(), 1, Integer::sum);
            }
            ex.firstUser().ifPresent(u -> {
                userToks.add(Text.leadingTokens(u, 65));
                userLen.add(Text.wordCount(u));
            });
            ex.lastAssistant().ifPresent(a -> {
                answerToks.add(Text.leadingTokens(a, 65));
                answerLen.add(Text.wordCount(a));
            });
        }
        Map<String, Long> perRole = new LinkedHashMap<>();
        roles.forEach((r, c) -> perRole.put(r.wireName(), c));
        Optional<Shared> topSystem = systems.entrySet().stream().max(Map.Entry.comparingByValue())
                .map(e -> new Shared(e.getKey(), e.getValue(), (double) e.getValue() / n));
        return new DatasetProfile(n, perRole, Lengths.of(turns), withSystem, topSystem,
                prefix(userToks, n), prefix(answerToks, n),
                Lengths.of(userLen.stream().mapToInt(Integer::intValue).toArray()),
                Lengths.of(answerLen.stream().mapToInt(Integer::intValue).toArray()));
    }

    private static Optional<Shared> prefix(List<List<String>> toks, int n) {
        if (toks.size() < 2) {
            return Optional.empty();
        }
        Text.SharedPrefix p = Text.longestSharedPrefix(toks, Math.max(2, (toks.size() + 1) / 2), 64);
        return p.tokens() == 0 ? Optional.empty() : Optional.of(new Shared(p.text(), p.count(), (double) p.count() / n));
    }
}
