package ai.safetune.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** Choosing the CUDA backend's precision; runs without a GPU (nothing here loads the native library). */
class CudaPrecisionTest {

    @Test
    void parsesTheThreeNamesIgnoringCaseAndBlanks() {
        assertThat(CudaPrecision.parse("f32", "x")).isEqualTo(CudaPrecision.F32);
        assertThat(CudaPrecision.parse(" BF16 ", "x")).isEqualTo(CudaPrecision.BF16);
        assertThat(CudaPrecision.parse("bf16-tiled", "x")).isEqualTo(CudaPrecision.BF16_TILED);
        assertThat(CudaPrecision.F32.bf16()).isFalse();
        assertThat(CudaPrecision.BF16.bf16()).isTrue();
        assertThat(CudaPrecision.BF16_TILED.bf16()).isTrue();
    }

    @Test
    void unknownValueNamesTheSourceAndTheAllowedValues() {
        assertThatThrownBy(() -> CudaPrecision.parse("fp16", "-Dsafetune.cuda.precision"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("-Dsafetune.cuda.precision").hasMessageContaining("'fp16'")
                .hasMessageContaining("f32, bf16, bf16-tiled");
        assertThatThrownBy(() -> CudaPrecision.parse(null, "SAFETUNE_CUDA_PRECISION"))
                .hasMessageContaining("SAFETUNE_CUDA_PRECISION");
    }

    @Test
    void propertyWinsOverEnvironmentAndDefaultIsF32() {
        Map<String, String> none = Map.of();
        assertThat(CudaPrecision.configured(none::get, none::get)).isEqualTo(CudaPrecision.F32);
        Map<String, String> env = Map.of(CudaPrecision.ENV, "bf16-tiled");
        assertThat(CudaPrecision.configured(none::get, env::get)).isEqualTo(CudaPrecision.BF16_TILED);
        Map<String, String> prop = Map.of(CudaPrecision.PROPERTY, "bf16");
        assertThat(CudaPrecision.configured(prop::get, env::get)).isEqualTo(CudaPrecision.BF16);
        Map<String, String> blank = Map.of(CudaPrecision.PROPERTY, "  ");
        assertThat(CudaPrecision.configured(blank::get, env::get)).isEqualTo(CudaPrecision.BF16_TILED);
        Map<String, String> bad = Map.of(CudaPrecision.ENV, "tf32");
        assertThatThrownBy(() -> CudaPrecision.configured(none::get, bad::get))
                .hasMessageContaining("SAFETUNE_CUDA_PRECISION").hasMessageContaining("'tf32'");
    }

    @Test
    void codesAreTheKernelLibrarysPrecisions() {
        // the header's enum st_precision: F32 = 0, BF16 = 1 (cuBLAS), BF16_TILED = 2
        assertThat(CudaPrecision.F32.code()).isEqualTo(0);
        assertThat(CudaPrecision.BF16.code()).isEqualTo(1);
        assertThat(CudaPrecision.BF16_TILED.code()).isEqualTo(2);
    }

    @Test
    void bf16RoundingIsNearestEven() {
        // the host-side rounding of prepare() must agree with st_cast_f32_to_bf16 (and PyTorch's .to(bfloat16))
        assertThat(bf(1.0f + 1.0f / 256)).isEqualTo(1.0f);                 // tie -> even (down)
        assertThat(bf(1.0f + 3.0f / 256)).isEqualTo(1.0f + 4.0f / 256);   // tie -> even (up)
        assertThat(bf(1.0f + 1.5f / 256)).isEqualTo(1.0f + 2.0f / 256);   // above the tie -> up
        assertThat(bf(-1.0f - 1.5f / 256)).isEqualTo(-1.0f - 2.0f / 256);
        assertThat(bf(Float.MAX_VALUE)).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(bf(Float.NEGATIVE_INFINITY)).isEqualTo(Float.NEGATIVE_INFINITY);
        assertThat(bf(Float.NaN)).isNaN();
        assertThat(bf(0.1f)).isEqualTo(Float.intBitsToFloat(0x3DCD0000));  // 0x3DCCCCCD rounds up
    }

    private static float bf(float f) {
        return Float.intBitsToFloat((CudaBackend.toBf16(f) & 0xFFFF) << 16);
    }

    @Test
    void theBackendOptionsSettingWinsAndIsChecked() {
        assertThat(CudaBackendProvider.precision(new ai.safetune.backend.BackendOptions(0, "cuda",
                java.util.Map.of(CudaPrecision.SETTING, "BF16")))).isEqualTo(CudaPrecision.BF16);
        assertThat(CudaBackendProvider.precision(ai.safetune.backend.BackendOptions.defaults()))
                .isEqualTo(CudaPrecision.configured());
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> CudaBackendProvider.precision(
                        new ai.safetune.backend.BackendOptions(0, "cuda", java.util.Map.of(CudaPrecision.SETTING, "fp8"))))
                .hasMessageContaining("backend setting cuda.precision").hasMessageContaining("'fp8'")
                .hasMessageContaining("bf16-tiled");
    }
}
