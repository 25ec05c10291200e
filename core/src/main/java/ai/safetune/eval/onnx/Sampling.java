package ai.safetune.eval.onnx;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Temperature, top-k and top-p (nucleus) sampling from one row of logits. */
final class Sampling {
    private Sampling() {
    }

    static int sample(float[] logits, double temperature, int topK, double topP, SplittableRandom rnd) {
        int v = logits.length;
        Integer[] order = new Integer[v];
        for (int i = 0; i < v; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
        int keep = topK > 0 ? Math.min(topK, v) : v;
        double max = logits[order[0]] / temperature;
        double[] p = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp(logits[order[i]] / temperature - max);
            sum += p[i];
        }
        // nucleus: the smallest prefix whose mass reaches topP (always at least one token)
        double cum = 0;
        int cut = keep;
        for (int i = 0; i < keep; i++) {
            cum += p[i] / sum;
            if (cum >= topP) {
                cut = i + 1;
                break;
            }
        }
        double mass = 0;
        for (int i = 0; i < cut; i++) {
            mass += p[i];
        }
        double u = rnd.nextDouble() * mass;
        for (int i = 0; i < cut; i++) {
            u -= p[i];
            if (u <= 0) {
                return order[i];
            }
        }
        return order[cut - 1];
    }
}
