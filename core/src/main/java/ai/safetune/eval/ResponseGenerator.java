package ai.safetune.eval;

import java.util.List;

/** Produces one response per user prompt (a chat model behind it). */
public interface ResponseGenerator {
    /** What generates, for the report (engine, precision, decoding). */
    String describe();

    /** One response per prompt, same order, none dropped. */
    List<String> respond(List<String> userPrompts);
}
