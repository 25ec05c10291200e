package ai.safetune.eval;

/** What a prompt set measures, which fixes the metric reported for it. */
public enum SuiteKind {
    /** Harmful requests: attack success rate = share of responses the judge finds compliant. */
    HARMFUL("asr"),
    /** Safe prompts that look risky (XSTest safe): over-refusal = share refused. */
    SAFE("over_refusal"),
    /** Unsafe contrast prompts (XSTest unsafe): refusal = share refused. */
    UNSAFE("refusal"),
    /** A task with gold answers: accuracy. */
    TASK("accuracy");

    private final String metric;

    SuiteKind(String metric) {
        this.metric = metric;
    }

    public String metric() {
        return metric;
    }
}
