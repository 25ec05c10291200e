package ai.safetune.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code safetune merge} in-process (the numerics are checked by ModelMergerTest in core). */
class MergeCommandTest {
    @TempDir
    Path tmp;

    @Test
    void mergesTheTinyModelWithTheReferenceAdapter() {
        Path out = tmp.resolve("merged");
        TrainCommandTest.Run r = TrainCommandTest.run("merge", "--model", TrainCommandTest.shared().resolve("models/tiny-llama").toString(),
                "--adapter", TrainCommandTest.shared().resolve("reference/tiny_lora/adapter_after_steps").toString(),
                "--out", out.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(out.resolve("model.safetensors")).isRegularFile();
        assertThat(out.resolve("config.json")).isRegularFile();
        assertThat(out.resolve("tokenizer.json")).isRegularFile();
    }

    @Test
    void missingAdapterIsAOneLineError() {
        Path missing = tmp.resolve("no-adapter");
        TrainCommandTest.Run r = TrainCommandTest.run("merge", "--model", TrainCommandTest.shared().resolve("models/tiny-llama").toString(),
                "--adapter", missing.toString(), "--out", tmp.resolve("merged").toString());
        TrainCommandTest.assertOneLineError(r, missing.toString());
        assertThat(tmp.resolve("merged")).doesNotExist();
    }
}
