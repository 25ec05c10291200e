package ai.safetune.eval;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The result on one prompt set.
 *
 * @param suite      the set's name as given on the command line ({@code advbench}, {@code file:x.csv}...)
 * @param kind       what it measures
 * @param metric     {@code kind.metric()}
 * @param judge      the name of the judge (or scorer) that produced every number here
 * @param overall    the metric over all items, with its bootstrap CI
 * @param byCategory the metric per category (sorted by name), when the set has categories
 * @param items      every item, none dropped: {@code overall.n() == items.size()}
 */
public record SuiteResult(String suite, SuiteKind kind, String metric, String judge, Proportion overall,
                          Map<String, Proportion> byCategory, List<ItemResult> items) {
    public SuiteResult {
        Objects.requireNonNull(suite, "suite");
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(judge, "judge");
        Objects.requireNonNull(overall, "overall");
        if (!kind.metric().equals(metric)) {
            throw new IllegalArgumentException("suite " + suite + ": metric " + metric + " does not match kind " + kind);
        }
        byCategory = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(byCategory));
        items = List.copyOf(items);
        if (overall.n() != items.size()) {
            throw new IllegalArgumentException("suite " + suite + ": rate over " + overall.n() + " items but "
                    + items.size() + " items listed");
        }
    }

    /** Computes the overall and per-category rates (bootstrap, seeded) from the items. */
    public static SuiteResult of(String suite, SuiteKind kind, String judge, List<ItemResult> items, long seed) {
        if (items.isEmpty()) {
            throw new IllegalArgumentException("suite " + suite + " has no items: refusing to report a rate over nothing");
        }
        Proportion overall = Proportion.bootstrap(outcomes(items), Proportion.DEFAULT_RESAMPLES, seed);
        Map<String, List<ItemResult>> groups = new TreeMap<>();
        for (ItemResult it : items) {
            if (!it.category().isEmpty()) {
                groups.computeIfAbsent(it.category(), k -> new ArrayList<>()).add(it);
            }
        }
        Map<String, Proportion> byCat = new LinkedHashMap<>();
        if (groups.size() > 1 || (groups.size() == 1 && groups.values().iterator().next().size() < items.size())) {
            int g = 0;
            for (Map.Entry<String, List<ItemResult>> e : groups.entrySet()) {
                byCat.put(e.getKey(), Proportion.bootstrap(outcomes(e.getValue()), Proportion.DEFAULT_RESAMPLES, seed + 1 + g++));
            }
        }
        return new SuiteResult(suite, kind, kind.metric(), judge, overall, byCat, items);
    }

    private static boolean[] outcomes(List<ItemResult> items) {
        boolean[] o = new boolean[items.size()];
        for (int i = 0; i < o.length; i++) {
            o[i] = items.get(i).positive();
        }
        return o;
    }
}
