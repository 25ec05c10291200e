// Run from the repository root after `mvn -B -o -q -pl benchmarks -am package -DskipTests`:
//   java --add-modules jdk.incubator.vector -cp benchmarks/target/benchmarks.jar benchmarks/cpu-train/KeptAsStoredStep.java LABEL
// (the LABEL starts each line; run it with two jars, alternating, for an A/B)
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.*;
import ai.safetune.train.*;
import java.nio.file.Path;
import java.util.Arrays;
/** One LoRA step (forward + backward, r=16 all-linear, batch 2 x seq 128, 2 threads) per base-weight mode: median of 4 after 2 warm-ups. */
public class KeptAsStoredStep {
  public static void main(String[] a) throws Exception {
    String side = a[0];
    for (String mode : new String[]{"synthetic-bf16 kept as stored", "synthetic-bf16 dequantized", "SmolLM2 Q4_1 kept as stored", "SmolLM2 Q4_1 dequantized"}) {
      boolean gguf = mode.startsWith("SmolLM2");
      ModelFiles files = gguf ? ModelFiles.open(Path.of("../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf")) : null;
      ModelConfig c = gguf ? files.config() : SyntheticLlama.shape("smollm2-135m");
      ModelWeights w = gguf ? files.weights() : SyntheticLlama.weights(c, true, 42);
      try (CpuBackend be = new CpuBackend(2);
           LoraTrainingModel m = new LoraTrainingModel(c, w, be, PeftAdapter.init(c, LoraConfig.builder().r(16).alpha(32).targetModules(LoraConfig.ALL_LINEAR).build(), 7), mode.endsWith("dequantized"))) {
        TokenBatch tb = SyntheticLlama.randomBatch(c, 2, 128, 1);
        int[] t = LoraTrainingModel.shiftLabels(tb.ids(), 2, 128);
        double[] ms = new double[4];
        for (int s = 0; s < 6; s++) {
          long t0 = System.nanoTime();
          m.zeroGradients();
          m.forwardBackward(tb, t, 1f / 254);
          if (s >= 2) ms[s - 2] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        System.out.printf("%s | %s | %.0f ms/step (median of 4; min %.0f, max %.0f)%n", side, mode, (ms[1] + ms[2]) / 2, ms[0], ms[3]);
      } finally {
        if (files != null) files.close(); else w.close();
      }
    }
  }
}
