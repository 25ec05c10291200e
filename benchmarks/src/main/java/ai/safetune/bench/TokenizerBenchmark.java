package ai.safetune.bench;

import ai.safetune.tokenizer.Tokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Single-thread encode throughput of the SmolLM2 tokenizer, reported as tokens/s (the "tokens" counter).
 * Corpus "gsm8k": the first 2,000 GSM8K train items (question + answer, English with numbers and formulas);
 * "gsm8k-cold": the same, with the piece cache cleared before every pass (every piece merged from bytes).
 * <pre>
 * mvn -B -o -q -pl benchmarks -am package -DskipTests
 * java -Dsafetune.shared=../shared -jar benchmarks/target/benchmarks.jar TokenizerBenchmark
 * </pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g"})
@Threads(1)
public class TokenizerBenchmark {
    @Param({"gsm8k", "gsm8k-cold"})
    public String corpus;

    Tokenizer tokenizer;
    List<String> docs;

    /** Tokens encoded; JMH reports it per second. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Counters {
        public long tokens;
    }

    static Path shared() {
        String p = System.getProperty("safetune.shared");
        return p != null ? Path.of(p) : Path.of("../shared");
    }

    @Setup(Level.Trial)
    public void load() throws IOException {
        tokenizer = Tokenizer.fromHfFiles(shared().resolve("models/tiny-llama"));
        docs = gsm8k(2000);
    }

    static List<String> gsm8k(int n) throws IOException {
        ObjectMapper om = new ObjectMapper();
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(shared().resolve("data/tasks/gsm8k/train.jsonl"))) {
            JsonNode j = om.readTree(line);
            out.add(j.get("question").asText() + "\n" + j.get("answer").asText());
            if (out.size() == n) {
                break;
            }
        }
        return out;
    }

    @Benchmark
    public int encodeCorpus(Counters counters) {
        if (corpus.equals("gsm8k-cold")) {
            tokenizer.clearCache();
        }
        int sum = 0;
        for (String d : docs) {
            int[] ids = tokenizer.encode(d);
            counters.tokens += ids.length;
            sum += ids[ids.length - 1];
        }
        return sum;
    }
}
