package ai.safetune.cli;

import ai.safetune.model.TokenBatch;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code safetune logits --model PATH [--adapter DIR] --in F.jsonl --top-k K [--full-last] --out G.jsonl}: per
 * input line ({@code {"ids"}}, {@code {"text"}} or {@code {"messages"}} rendered with the generation prompt) the
 * input plus {@code "ids"}, {@code "topk_ids"} [T][K], {@code "topk_logits"} [T][K], {@code "logsumexp"} [T] and,
 * with {@code --full-last}, {@code "last_logits"} [V].
 */
@Command(name = "logits", mixinStandardHelpOptions = true,
        description = {"Next-token logits of every position (top-k, log-sum-exp, optionally all logits of the last).",
            "Input lines: {\"ids\": [...]}, {\"text\": ...} or {\"messages\": [...]} (rendered with the generation prompt)."})
public final class LogitsCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions = new ModelOptions();

    @Option(names = "--in", required = true, paramLabel = "F.jsonl", description = "Input JSONL.")
    Path in;

    @Option(names = "--top-k", required = true, paramLabel = "K", description = "How many top logits per position.")
    int topK;

    @Option(names = "--full-last", description = "Also write all logits of the last position as \"last_logits\".")
    boolean fullLast;

    @Option(names = "--out", required = true, paramLabel = "G.jsonl", description = "Output JSONL (written whole or not at all).")
    Path out;

    @Override
    public Integer call() throws IOException {
        if (topK <= 0) {
            throw new IllegalArgumentException("--top-k must be > 0, got " + topK);
        }
        modelOptions.validate();
        ModelRuntime.requireInput(in);
        AtomicOutput.write(out, this::writeLogits);
        return 0;
    }

    private void writeLogits(Path tmp) throws IOException {
        try (ModelRuntime rt = modelOptions.open();
             BufferedReader r = Files.newBufferedReader(in, StandardCharsets.UTF_8);
             BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            int vocab = rt.model().config().vocabSize();
            int k = Math.min(topK, vocab);
            int lineNo = 0;
            for (String line; (line = r.readLine()) != null; ) {
                lineNo++;
                if (line.isBlank()) {
                    continue;
                }
                String where = in + " line " + lineNo;
                ObjectNode obj = ModelRuntime.parse(line, where);
                int[] ids = rt.ids(obj, where, true);
                float[] logits = rt.model().logits(TokenBatch.of(ids));
                ArrayNode idsNode = obj.putArray("ids");
                for (int id : ids) {
                    idsNode.add(id);
                }
                ArrayNode topIds = obj.putArray("topk_ids");
                ArrayNode topLogits = obj.putArray("topk_logits");
                ArrayNode lse = obj.putArray("logsumexp");
                for (int t = 0; t < ids.length; t++) {
                    int off = t * vocab;
                    int[] best = TopK.of(logits, off, vocab, k);
                    ArrayNode ti = topIds.addArray();
                    ArrayNode tl = topLogits.addArray();
                    for (int id : best) {
                        ti.add(id);
                        tl.add(logits[off + id]);
                    }
                    lse.add(TopK.logSumExp(logits, off, vocab));
                }
                if (fullLast) {
                    ArrayNode last = obj.putArray("last_logits");
                    int off = (ids.length - 1) * vocab;
                    for (int j = 0; j < vocab; j++) {
                        last.add(logits[off + j]);
                    }
                }
                w.write(ModelRuntime.JSON.writeValueAsString(obj));
                w.write('\n');
            }
        }
    }
}
