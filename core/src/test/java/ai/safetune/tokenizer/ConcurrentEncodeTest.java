package ai.safetune.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.assertj.core.api.Assertions.assertThat;

/** One tokenizer shared by threads (the piece cache is racy by design) gives the sequential results. */
class ConcurrentEncodeTest {
    @Test
    void sharedTokenizerIsThreadSafe() throws Exception {
        Tokenizer tok = Tokenizer.fromHfFiles(Shared.tinyLlama());
        Tokenizer reference = Tokenizer.fromHfFiles(Shared.tinyLlama());
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 400; i++) {
            texts.add("Item " + i + ": the quick brown fox #" + (i * 7919) + " jumps über " + "ab".repeat(i % 13) + "\n");
        }
        List<int[]> expected = new ArrayList<>();
        for (String t : texts) {
            expected.add(reference.encode(t));
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int w = 0; w < 4; w++) {
                final int offset = w;
                results.add(pool.submit(() -> {
                    for (int round = 0; round < 5; round++) {
                        for (int k = 0; k < texts.size(); k++) {
                            int i = (k + offset * 97) % texts.size();
                            if (!java.util.Arrays.equals(tok.encode(texts.get(i)), expected.get(i))) {
                                return false;
                            }
                        }
                    }
                    return true;
                }));
            }
            for (Future<Boolean> f : results) {
                assertThat(f.get()).isTrue();
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
