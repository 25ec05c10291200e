package ai.safetune.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.safetune.backend.Backend;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.LlamaModel;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.TokenBatch;
import ai.safetune.model.TokenizerSource;
import ai.safetune.tokenizer.Tokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** merge(): the merged model's logits equal base + adapter; a GGUF tokenizer exports to equivalent HF files. */
class ModelMergerTest {
    @TempDir
    Path tmp;

    @Test
    void mergedTinyModelGivesTheLogitsOfBasePlusAdapter() throws Exception {
        PeftAdapter adapter = PeftAdapter.load(TrainShared.reference("tiny_lora/adapter_after_steps"));
        Path out = tmp.resolve("merged");
        Path basePath = TrainShared.shared().resolve("models/tiny-llama");
        try (ModelFiles base = ModelFiles.open(basePath)) {
            ModelMerger.merge(base, adapter, out);
        }
        for (String f : new String[] {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"}) {
            assertThat(out.resolve(f)).isRegularFile();
        }
        assertThat(new ObjectMapper().readTree(out.resolve("config.json").toFile()).get("dtype").asText()).isEqualTo("float32");

        int[] ids = {1, 504, 3458, 314, 253, 1345, 30, 2, 198, 28, 7000, 12};
        int t = ids.length;
        int[] pos = new int[t];
        int[] mask = new int[t];
        for (int i = 0; i < t; i++) {
            pos[i] = i;
            mask[i] = 1;
        }
        TokenBatch batch = new TokenBatch(1, t, ids, pos, mask);
        float[] withAdapter;
        float[] plain;
        float[] merged;
        try (Backend be = new CpuBackend(1)) {
            try (ModelFiles base = ModelFiles.open(basePath);
                 LlamaModel m = LlamaModel.load(base.config(), base.weights(), be, true)) {
                plain = m.logits(batch);
                m.setAdapter(adapter.weights());
                withAdapter = m.logits(batch);
            }
            try (ModelFiles mf = ModelFiles.open(out);
                 LlamaModel m = LlamaModel.load(mf.config(), mf.weights(), be, true)) {
                merged = m.logits(batch);
            }
        }
        double maxDiff = 0;
        double adapterEffect = 0;
        for (int i = 0; i < merged.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(merged[i] - withAdapter[i]));
            adapterEffect = Math.max(adapterEffect, Math.abs(plain[i] - withAdapter[i]));
        }
        assertThat(adapterEffect).as("the adapter must change the logits for this test to mean anything").isGreaterThan(1e-3);
        assertThat(maxDiff).as("merged vs base + adapter").isLessThanOrEqualTo(1e-4);
    }

    @Test
    void ggufTokenizerExportsToHfFilesThatEncodeTheSame() throws Exception {
        try (ModelFiles gguf = ModelFiles.open(TrainShared.shared().resolve("models/SmolLM2-135M-Instruct.Q4_1.gguf"))) {
            TokenizerSource.Gguf src = (TokenizerSource.Gguf) gguf.tokenizerSource();
            ModelMerger.writeTokenizerFiles(src, gguf.config(), tmp);
            Tokenizer fromGguf = Tokenizer.from(src);
            Tokenizer exported = Tokenizer.fromHfFiles(tmp);
            ObjectMapper json = new ObjectMapper();
            int n = 0;
            for (String line : Files.readAllLines(TrainShared.reference("tokenizer_cases.jsonl"))) {
                JsonNode c = json.readTree(line);
                if (!c.get("kind").asText().equals("text")) {
                    continue;
                }
                String text = c.get("text").asText();
                assertThat(exported.encode(text)).as(text).isEqualTo(fromGguf.encode(text));
                n++;
            }
            assertThat(n).isGreaterThan(50);
            assertThat(Files.readString(tmp.resolve("chat_template.jinja"))).isEqualTo(src.chatTemplate().orElseThrow());
            assertThat(exported.eosId()).isEqualTo(fromGguf.eosId());
            assertThat(Arrays.asList(exported.bosId(), exported.padId())).isEqualTo(Arrays.asList(fromGguf.bosId(), fromGguf.padId()));
        }
    }
}
