package ai.safetune.eval;

import ai.safetune.data.PromptRecord;
import ai.safetune.data.SharedDatasets;
import ai.safetune.data.TaskExample;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Resolves suite names ({@code --suite}) to prompt sets and tasks:
 * {@code advbench}; {@code harmbench} (standard rows); {@code xstest} (two suites: {@code xstest-safe} measures
 * over-refusal, {@code xstest-unsafe} refusal); {@code vinid} (the five harmful sets, category = set) or
 * {@code vinid:NAME}; {@code file:PATH[#FIELD]} (a user's harmful prompts); any task of
 * {@link SharedDatasets#taskNames()}.
 */
public final class SuiteCatalog {

    /** A task suite: examples with gold answers. */
    public record TaskSuite(String name, List<TaskExample> examples) {
        public TaskSuite {
            Objects.requireNonNull(name);
            examples = List.copyOf(examples);
            if (examples.isEmpty()) {
                throw new IllegalArgumentException("task " + name + " has no examples");
            }
        }

        public TaskSuite limit(int n) {
            if (n <= 0) {
                throw new IllegalArgumentException("--limit must be > 0, got " + n);
            }
            return n >= examples.size() ? this : new TaskSuite(name, examples.subList(0, n));
        }

        /** Generative (answer extraction) when the examples have no options, else log-likelihood. */
        public boolean generative() {
            return examples.stream().anyMatch(e -> !e.isMultipleChoice());
        }
    }

    /** What a list of suite names resolved to, in order. */
    public record Resolved(List<PromptSet> promptSets, List<TaskSuite> tasks) {
    }

    private static final List<String> VINID_HARMFUL = List.of("I-MaliciousInstructions", "Q-Harm", "I-CoNa",
            "I-Controversial", "I-PhysicalSafetyUnsafe");

    private SuiteCatalog() {
    }

    /** @param limit first N items of each suite, or 0 for all */
    public static Resolved resolve(List<String> names, Path dataDir, int limit) throws IOException {
        if (names.isEmpty()) {
            throw new IllegalArgumentException("no suites given");
        }
        List<PromptSet> sets = new ArrayList<>();
        List<TaskSuite> tasks = new ArrayList<>();
        for (String raw : names) {
            String name = raw.trim();
            if (name.isEmpty()) {
                throw new IllegalArgumentException("empty suite name in --suite");
            }
            List<PromptSet> add = new ArrayList<>();
            switch (name) {
                case "advbench" -> add.add(new PromptSet(name, SuiteKind.HARMFUL, "harmful/advbench_behaviors.csv",
                        SharedDatasets.advbench(dataDir)));
                case "harmbench" -> add.add(new PromptSet(name, SuiteKind.HARMFUL,
                        "harmful/harmbench_behaviors_text_all.csv (standard rows)", SharedDatasets.harmbench(dataDir)));
                case "xstest" -> {
                    List<PromptRecord> all = SharedDatasets.xstest(dataDir);
                    add.add(new PromptSet("xstest-safe", SuiteKind.SAFE, "benign/xstest_prompts.csv (label safe)",
                            all.stream().filter(p -> p.metadata().get("label").equals("safe")).toList()));
                    add.add(new PromptSet("xstest-unsafe", SuiteKind.UNSAFE, "benign/xstest_prompts.csv (label unsafe)",
                            all.stream().filter(p -> p.metadata().get("label").equals("unsafe")).toList()));
                }
                case "vinid" -> {
                    List<PromptRecord> all = new ArrayList<>();
                    for (String set : VINID_HARMFUL) {
                        for (PromptRecord p : SharedDatasets.vinid(dataDir, set)) {
                            all.add(new PromptRecord(p.id(), p.prompt(), Optional.of(set), p.metadata()));
                        }
                    }
                    add.add(new PromptSet(name, SuiteKind.HARMFUL, "harmful/{" + String.join(",", VINID_HARMFUL) + "}.json", all));
                }
                default -> {
                    if (name.startsWith("file:")) {
                        add.add(PromptFiles.fromSpec(name));
                    } else if (name.startsWith("vinid:")) {
                        String set = name.substring(6);
                        SuiteKind kind = VINID_HARMFUL.contains(set) ? SuiteKind.HARMFUL : SuiteKind.SAFE;
                        add.add(new PromptSet(name, kind, set, SharedDatasets.vinid(dataDir, set)));
                    } else if (SharedDatasets.taskNames().contains(name)) {
                        TaskSuite t = new TaskSuite(name, SharedDatasets.task(dataDir, name));
                        tasks.add(limit > 0 ? t.limit(limit) : t);
                    } else {
                        throw new IllegalArgumentException("unknown suite '" + name + "'; expected advbench, harmbench, xstest, vinid, "
                                + "vinid:NAME, file:PATH[#FIELD] or a task (" + String.join(", ", SharedDatasets.taskNames()) + ")");
                    }
                }
            }
            for (PromptSet s : add) {
                sets.add(limit > 0 ? s.limit(limit) : s);
            }
        }
        return new Resolved(sets, tasks);
    }
}
