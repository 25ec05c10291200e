package ai.safetune.cuda;

import ai.safetune.model.ModelConfig;

/**
 * The error model behind the bf16 training-step bounds, shared by the GPU test ({@link CudaTrainingStepTest}) and
 * its CPU check ({@link Bf16ErrorModelTest}, bf16 rounding emulated on the CPU backend).
 * <p>Each bf16 matmul rounds its inputs to 8 significant bits (u = 2⁻⁸ unit roundoff) and adds to its output a
 * relative error of RMS ≤ u·√(2/3) (independent roundings of both factors, E[δ²] ≤ u²/3 each; see
 * {@link CudaBackendTest#frozenMatmulInBf16PrecisionsIsWithinTheDerivedBounds}). A step runs G bf16 products
 * forward (7 projections per layer + the head + attention's 2 per layer) and G backward. Modelled as independent errors passed on with unit gain
 * (RMSNorm renormalizes each layer's input), a LoRA gradient carries a relative error ≈ √(2G)·u·√(2/3) and the
 * logits ≈ √G·u·√(2/3) of their RMS. The bounds allow {@link #MARGIN}× that; the loss bound takes the logit
 * error through log-sum-exp (1-Lipschitz in the max norm) scaled by |loss| + 1 as a stand-in for the logits'
 * size, which this test cannot see — the weakest link of the model, checked on the CPU emulation.
 */
final class Bf16StepBounds {
    static final double U = 0x1p-8;
    static final double MARGIN = 3;

    private Bf16StepBounds() {
    }

    /**
     * bf16 products of one forward pass: 7 projections per layer plus the output head, and attention's two
     * (Q·Kᵀ and P·V, on tensor cores in the bf16 precisions). The CPU emulation rounds only the projections, so
     * there the bound is looser than the model needs; on the GPU both kinds are rounded.
     */
    static int frozenMatmuls(ModelConfig c) {
        return 9 * c.numLayers() + 1;
    }

    /** Bound on ‖Δg‖/‖g‖ of every LoRA gradient tensor. */
    static double gradient(ModelConfig c) {
        return MARGIN * Math.sqrt(2.0 * frozenMatmuls(c)) * U * Math.sqrt(2.0 / 3);
    }

    /** Bound on |Δ mean loss|. */
    static double loss(ModelConfig c, double loss) {
        return MARGIN * Math.sqrt(frozenMatmuls(c)) * U * Math.sqrt(2.0 / 3) * (Math.abs(loss) + 1);
    }
}
