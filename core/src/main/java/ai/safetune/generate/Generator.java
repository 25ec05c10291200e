package ai.safetune.generate;

import ai.safetune.model.KvCache;
import ai.safetune.model.LlamaModel;
import ai.safetune.model.TokenBatch;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.IntConsumer;

/**
 * Batched generation with a KV cache: prompts are left-padded into one batch, prefilled together, then
 * decoded one token per row per step until every row stops (stop token, stop string, or the limit).
 */
public final class Generator {
    private final LlamaModel model;
    private final int padId;
    private final Function<int[], String> decoder;

    /**
     * @param padId   id used for padding slots (masked out, never attended)
     * @param decoder ids → text, for stop strings; may be null when no stop strings are used
     */
    public Generator(LlamaModel model, int padId, Function<int[], String> decoder) {
        this.model = model;
        this.padId = padId;
        this.decoder = decoder;
    }

    /** {@link #generate(List, GenerationOptions, IntConsumer)} without progress. */
    public List<Generation> generate(List<int[]> prompts, GenerationOptions options) {
        return generate(prompts, options, null);
    }

    /**
     * Generates for every prompt in one batch.
     *
     * @param progress called after each decode step with the number of rows still running; may be null
     */
    public List<Generation> generate(List<int[]> prompts, GenerationOptions options, IntConsumer progress) {
        if (!options.stopStrings().isEmpty() && decoder == null) {
            throw new IllegalArgumentException("stop strings need a decoder (the model's tokenizer)");
        }
        int b = prompts.size();
        int vocab = model.config().vocabSize();
        int longest = prompts.stream().mapToInt(p -> p.length).max().orElseThrow(
                () -> new IllegalArgumentException("no prompts"));
        Sampler[] samplers = new Sampler[b];
        for (int r = 0; r < b; r++) {
            samplers[r] = new Sampler(options, mix(options.seed(), r));
        }
        List<List<Integer>> out = new ArrayList<>();
        Generation.StopReason[] reasons = new Generation.StopReason[b];
        for (int r = 0; r < b; r++) {
            out.add(new ArrayList<>());
        }
        int running = b;
        try (KvCache cache = model.newCache(b, longest + options.maxNewTokens())) {
            float[] logits = model.forward(cache, TokenBatch.leftPadded(prompts, padId), LlamaModel.Logits.LAST);
            for (int step = 0; step < options.maxNewTokens() && running > 0; step++) {
                int[] ids = new int[b];
                int[] pos = new int[b];
                int[] mask = new int[b];
                for (int r = 0; r < b; r++) {
                    pos[r] = cache.nextPosition(r);
                    if (reasons[r] != null) {
                        ids[r] = padId; // finished rows ride along masked out
                        continue;
                    }
                    int tok = samplers[r].next(logits, r * vocab, vocab);
                    out.get(r).add(tok);
                    ids[r] = tok;
                    mask[r] = 1;
                    if (options.stopTokenIds().contains(tok)) {
                        reasons[r] = Generation.StopReason.STOP_TOKEN;
                    } else if (hitsStopString(out.get(r), options)) {
                        reasons[r] = Generation.StopReason.STOP_STRING;
                    } else if (out.get(r).size() == options.maxNewTokens()) {
                        reasons[r] = Generation.StopReason.MAX_NEW_TOKENS;
                    }
                    if (reasons[r] != null) {
                        running--;
                    }
                }
                if (progress != null) {
                    progress.accept(running);
                }
                if (running > 0) {
                    logits = model.forward(cache, new TokenBatch(b, 1, ids, pos, mask), LlamaModel.Logits.LAST);
                }
            }
        }
        List<Generation> result = new ArrayList<>(b);
        for (int r = 0; r < b; r++) {
            int[] gen = out.get(r).stream().mapToInt(Integer::intValue).toArray();
            result.add(new Generation(prompts.get(r).clone(), gen, reasons[r]));
        }
        return result;
    }

    private boolean hitsStopString(List<Integer> generated, GenerationOptions options) {
        if (options.stopStrings().isEmpty()) {
            return false;
        }
        String text = decoder.apply(generated.stream().mapToInt(Integer::intValue).toArray());
        for (String s : options.stopStrings()) {
            if (text.contains(s)) {
                return true;
            }
        }
        return false;
    }

    /** A per-row seed: rows of one call draw independent streams. */
    static long mix(long seed, int row) {
        long z = seed + 0x9E3779B97F4A7C15L * (row + 1L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    @Override
    public String toString() {
        return "Generator[" + model.config() + ", pad " + padId + "]";
    }
}
