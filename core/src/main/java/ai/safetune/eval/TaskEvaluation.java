package ai.safetune.eval;

import ai.safetune.data.Choice;
import ai.safetune.data.Message;
import ai.safetune.data.TaskExample;
import ai.safetune.eval.onnx.OrtEvaluator;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Task accuracy: multiple choice by log-likelihood, free-form answers by generation and extraction. */
public final class TaskEvaluation {
    private TaskEvaluation() {
    }

    /** The user turn shown for an example: its input, then the options (when any), one per line. */
    public static String userPrompt(TaskExample ex) {
        if (!ex.isMultipleChoice()) {
            return ex.input();
        }
        StringBuilder b = new StringBuilder(ex.input()).append("\n\nOptions:");
        for (Choice c : ex.choices()) {
            b.append('\n').append(c.label());
            if (!c.text().isEmpty()) {
                b.append(": ").append(c.text());
            }
        }
        return b.toString();
    }

    /**
     * Scores every option as the assistant's reply (its text, or its label when it has no text) and picks the
     * most likely; accuracy over all examples, none skipped.
     */
    public static SuiteResult multipleChoice(String name, List<TaskExample> examples, OrtEvaluator ort, ChatCodec codec,
                                             int batchSize, long seed) {
        return multipleChoice(name, examples, ort::logLikelihoods, codec, batchSize, seed);
    }

    /** Scores {@code log p(continuation | context)} for every pair, batched; ONNX Runtime or the Java forward. */
    @FunctionalInterface
    public interface Scorer {
        double[] logLikelihoods(List<int[]> contexts, List<int[]> continuations, int batchSize);
    }

    /** {@link #multipleChoice(String, List, OrtEvaluator, ChatCodec, int, long)} with any scorer. */
    public static SuiteResult multipleChoice(String name, List<TaskExample> examples, Scorer ort, ChatCodec codec,
                                             int batchSize, long seed) {
        if (examples.isEmpty()) {
            throw new IllegalArgumentException("task " + name + " has no examples");
        }
        List<int[]> ctx = new ArrayList<>();
        List<int[]> cont = new ArrayList<>();
        for (TaskExample ex : examples) {
            if (!ex.isMultipleChoice()) {
                throw new IllegalArgumentException("task " + name + ": example " + ex.id() + " has no choices; use generative scoring");
            }
            List<Message> chat = new ArrayList<>();
            ex.systemPrompt().ifPresent(s -> chat.add(Message.system(s)));
            chat.add(Message.user(userPrompt(ex)));
            int[] c = codec.encodeChat(chat, true);
            for (Choice ch : ex.choices()) {
                ctx.add(c);
                cont.add(codec.encode(ch.text().isEmpty() ? ch.label() : ch.text()));
            }
        }
        double[] ll = ort.logLikelihoods(ctx, cont, batchSize);
        List<ItemResult> items = new ArrayList<>();
        int k = 0;
        for (TaskExample ex : examples) {
            int best = -1;
            double bestLl = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < ex.choices().size(); j++) {
                if (ll[k + j] > bestLl) {
                    bestLl = ll[k + j];
                    best = j;
                }
            }
            String chosen = ex.choices().get(best).label();
            k += ex.choices().size();
            items.add(new ItemResult(ex.id(), ex.metadata().getOrDefault("category", ""), userPrompt(ex), chosen,
                    chosen.equals(ex.answer()), "chose " + chosen + ", gold " + ex.answer()));
        }
        return SuiteResult.of(name, SuiteKind.TASK, "log-likelihood of each option", items, seed);
    }

    /** Generates an answer and compares the extracted number (GSM8K style) or label with the gold answer. */
    public static SuiteResult generative(String name, List<TaskExample> examples, ResponseGenerator generator, long seed) {
        if (examples.isEmpty()) {
            throw new IllegalArgumentException("task " + name + " has no examples");
        }
        List<String> responses = generator.respond(examples.stream().map(TaskEvaluation::userPrompt).toList());
        List<ItemResult> items = new ArrayList<>();
        for (int i = 0; i < examples.size(); i++) {
            TaskExample ex = examples.get(i);
            String r = responses.get(i);
            Optional<String> got;
            String gold;
            if (ex.isMultipleChoice()) {
                got = AnswerExtractor.label(r, ex.choices().stream().map(Choice::label).toList());
                gold = ex.answer();
            } else {
                got = AnswerExtractor.gsm8kNumber(r);
                gold = AnswerExtractor.gsm8kNumber(ex.answer()).orElse(ex.answer().trim());
            }
            items.add(new ItemResult(ex.id(), ex.metadata().getOrDefault("category", ""), userPrompt(ex), r,
                    got.isPresent() && got.get().equals(gold), "extracted " + got.orElse("(nothing)") + ", gold " + gold));
        }
        return SuiteResult.of(name, SuiteKind.TASK, "answer extraction (label / #### number)", items, seed);
    }
}
