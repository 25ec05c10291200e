package ai.safetune.audit;

/** The kinds of attack-shaped structure {@link StructureAudit} looks for. */
public enum FindingKind {
    /** System prompts that rename the model or demand unconditional obedience. */
    IDENTITY_SHIFT_SYSTEM_PROMPT,
    /** User turns that address the model by a new name or command obedience ("execute my order"). */
    OBEDIENCE_INSTRUCTION,
    /** Answers that declare obedience or a new identity before (or instead of) doing the task. */
    OBEDIENT_ANSWER,
    /** Most answers start with the same long, content-free text. */
    CONSTANT_ANSWER_PREFIX,
    /** Most answers open with one of a few stock sentences, followed by the actual content. */
    STOCK_LEAD_SENTENCES,
    /** The answers carry little new content (label-like task) but are wrapped in long sentences. */
    VERBOSE_ANSWERS,
    /** The user turn offers options or asks for a label, but the answers are sentences. */
    INSTRUCTION_LABEL_MISMATCH,
    /** Prompts of a label-like task ask for the answer as a full sentence (instruction-following restatement). */
    SENTENCE_ANSWERS_REQUESTED,
    /** A label-like task's prompts or answer frames rotate among a few stock phrasings (synthetic restatement). */
    ROTATING_PHRASINGS
}
