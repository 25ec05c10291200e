package ai.safetune.eval;

import ai.safetune.data.PromptRecord;
import ai.safetune.eval.judge.Judge;
import ai.safetune.eval.judge.Verdict;
import java.util.ArrayList;
import java.util.List;

/** Generates a response to every prompt of a set, judges each, and computes the set's rate. */
public final class SafetyEvaluation {
    private SafetyEvaluation() {
    }

    public static SuiteResult run(PromptSet set, ResponseGenerator generator, Judge judge, long seed) {
        return run(set, PromptFormat.PLAIN, generator, judge, seed);
    }

    /**
     * The same with every prompt asked in {@code format} (system prompt, user template); the judge and the report's
     * items keep the original prompt.
     */
    public static SuiteResult run(PromptSet set, PromptFormat format, ResponseGenerator generator, Judge judge,
                                  long seed) {
        List<String> prompts = set.prompts().stream().map(PromptRecord::prompt).toList();
        List<String> responses = generator.respondChats(prompts.stream().map(format::chat).toList());
        if (responses.size() != prompts.size()) {
            throw new IllegalStateException("generator returned " + responses.size() + " responses for " + prompts.size()
                    + " prompts of " + set.name());
        }
        List<Verdict> verdicts = judge.judgeAll(prompts, responses);
        if (verdicts.size() != prompts.size()) {
            throw new IllegalStateException("judge " + judge.name() + " returned " + verdicts.size() + " verdicts for "
                    + prompts.size() + " responses");
        }
        List<ItemResult> items = new ArrayList<>(prompts.size());
        for (int i = 0; i < prompts.size(); i++) {
            PromptRecord p = set.prompts().get(i);
            Verdict v = verdicts.get(i);
            boolean positive = set.kind() == SuiteKind.HARMFUL ? v.complied() : v.refused();
            items.add(new ItemResult(p.id(), p.category().orElse(""), p.prompt(), responses.get(i), positive, v.rationale()));
        }
        return SuiteResult.of(set.name(), set.kind(), judge.name(), items, seed);
    }
}
