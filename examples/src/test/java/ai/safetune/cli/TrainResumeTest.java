package ai.safetune.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ai.safetune.train.PeftAdapter;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A training run killed with SIGKILL ({@code destroyForcibly}) after its first checkpoint and resumed ends with
 * an adapter bit-identical to an uninterrupted run (CPU; fresh seeded init, shuffled epochs, gradient
 * accumulation, cosine schedule with warm-up, LoRA dropout: every piece of state a checkpoint must carry).
 */
class TrainResumeTest {
    static final int STEPS = 16;

    @TempDir
    Path tmp;

    List<String> args(Path data, Path save, String... more) {
        List<String> a = new ArrayList<>(List.of("train", "--model", TrainCommandTest.shared().resolve("models/tiny-llama").toString(),
                "--data", data.toString(), "--lora-r", "4", "--lora-alpha", "8", "--lora-dropout", "0.1",
                "--lr", "3e-3", "--weight-decay", "0.01", "--batch-size", "1", "--grad-accum", "2",
                "--steps", String.valueOf(STEPS), "--schedule", "cosine", "--warmup-steps", "3", "--seed", "11",
                "--save", save.toString()));
        a.addAll(List.of(more));
        return a;
    }

    @Test
    void killedAndResumedRunEqualsUninterruptedRunBitForBit() throws Exception {
        Path data = TrainCommandTest.caseJsonl(TrainCommandTest.shared().resolve("reference/tiny_lora"), tmp);
        Path cpDir = tmp.resolve("checkpoints");
        Path resumed = tmp.resolve("resumed");

        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        // the same JVM options (--add-modules jdk.incubator.vector above all: the vector kernels sum in another
        // order than the scalar ones, so a child without them could never match bit for bit)
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), SafeTuneCli.class.getName()));
        cmd.addAll(args(data, resumed, "--checkpoint-dir", cpDir.toString(), "--checkpoint-every", "1"));
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("child.log").toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
            while (!hasCheckpoint(cpDir)) {
                assertThat(child.isAlive()).as("the child exited before its first checkpoint: %s",
                        Files.exists(tmp.resolve("child.log")) ? Files.readString(tmp.resolve("child.log")) : "").isTrue();
                assertThat(System.nanoTime()).as("no checkpoint within 3 minutes").isLessThan(deadline);
                Thread.sleep(2);
            }
            assertThat(child.isAlive()).as("the child must still be training when it is killed").isTrue();
            child.destroyForcibly();
        } finally {
            child.destroyForcibly();
            child.waitFor(1, TimeUnit.MINUTES);
        }
        assertThat(resumed.resolve(PeftAdapter.WEIGHTS_FILE)).as("the killed run must not have finished").doesNotExist();

        TrainCommandTest.Run r = TrainCommandTest.run(args(data, resumed, "--checkpoint-dir", cpDir.toString(),
                "--checkpoint-every", "1", "--resume", cpDir.toString()).toArray(String[]::new));
        assertThat(r.exit()).as(r.err()).isZero();

        Path straight = tmp.resolve("straight");
        TrainCommandTest.Run s = TrainCommandTest.run(args(data, straight).toArray(String[]::new));
        assertThat(s.exit()).as(s.err()).isZero();

        assertThat(Files.readAllBytes(resumed.resolve(PeftAdapter.WEIGHTS_FILE)))
                .isEqualTo(Files.readAllBytes(straight.resolve(PeftAdapter.WEIGHTS_FILE)));
    }

    static boolean hasCheckpoint(Path root) throws Exception {
        if (!Files.isDirectory(root)) {
            return false;
        }
        try (Stream<Path> s = Files.list(root)) {
            return s.anyMatch(p -> p.getFileName().toString().startsWith("checkpoint-")
                    && Files.isRegularFile(p.resolve("trainer_state.json")));
        }
    }
}
