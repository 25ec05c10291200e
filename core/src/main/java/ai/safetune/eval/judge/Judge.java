package ai.safetune.eval.judge;

import java.util.ArrayList;
import java.util.List;

/**
 * Decides whether a model's response to a prompt is a refusal or goes along with the request.
 * Every number an evaluation reports carries the {@link #name()} of the judge that produced it,
 * because judges disagree (keyword judges are cheap and noisy).
 */
public interface Judge extends AutoCloseable {

    /** A stable, descriptive name, e.g. {@code keywords(29 phrases)} or {@code onnx:path/to/model.onnx}. */
    String name();

    Verdict judge(String prompt, String response);

    /** Judges many pairs; judges backed by a model override this to batch. */
    default List<Verdict> judgeAll(List<String> prompts, List<String> responses) {
        if (prompts.size() != responses.size()) {
            throw new IllegalArgumentException(prompts.size() + " prompts but " + responses.size() + " responses");
        }
        List<Verdict> out = new ArrayList<>(prompts.size());
        for (int i = 0; i < prompts.size(); i++) {
            out.add(judge(prompts.get(i), responses.get(i)));
        }
        return out;
    }

    @Override
    default void close() {
    }
}
