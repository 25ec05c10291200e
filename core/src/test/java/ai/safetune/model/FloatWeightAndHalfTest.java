package ai.safetune.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.safetune.model.io.Float16;
import org.junit.jupiter.api.Test;

class FloatWeightAndHalfTest {
    @Test
    void halfConversionsAreExactAndRoundToNearestEven() {
        assertThat(Float16.halfToFloat((short) 0x3C00)).isEqualTo(1f);
        assertThat(Float16.halfToFloat((short) 0x0001)).isEqualTo(0x1p-24f);
        assertThat(Float16.halfToFloat((short) 0x03FF)).isEqualTo(1023 * 0x1p-24f);
        assertThat(Float16.halfToFloat((short) 0x7C00)).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(Float16.halfToFloat((short) 0x7E00)).isNaN();
        // every finite half survives half → float → half
        for (int h = 0; h < 1 << 16; h++) {
            if ((h & 0x7C00) != 0x7C00 || (h & 0x3FF) == 0) {
                assertThat(Float16.floatToHalf(Float16.halfToFloat((short) h)) & 0xFFFF).as("half 0x%04x", h).isEqualTo(h);
            }
        }
        assertThat(Float16.floatToHalf(1f + 0x1p-11f)).isEqualTo((short) 0x3C00); // halfway: to even
        assertThat(Float16.floatToHalf(1f + 3 * 0x1p-11f)).isEqualTo((short) 0x3C02); // halfway: to even (up)
        assertThat(Float16.floatToHalf(65520f)).isEqualTo((short) 0x7C00); // rounds past the max: infinity
        assertThat(Float16.floatToHalf(0x1p-25f)).isEqualTo((short) 0); // half the smallest subnormal: to even (0)
        assertThat(Float16.floatToHalf(0x1.8p-25f)).isEqualTo((short) 1);
        assertThat(Float16.floatToHalf(Float.NaN) & 0x7C00).isEqualTo(0x7C00);
        assertThat(Float16.floatToBf16(1f + 0x1p-8f)).isEqualTo((short) 0x3F80); // tie to even
        assertThat(Float16.floatToBf16(1f + 3 * 0x1p-8f)).isEqualTo((short) 0x3F82);
        assertThat(Float16.bf16ToFloat(Float16.floatToBf16(Float.NaN))).isNaN();
    }

    @Test
    void floatWeightChecksShapeAndRows() {
        FloatWeight w = new FloatWeight("w", 2, 3, new float[] {1, 2, 3, 4, 5, 6});
        float[] dst = new float[4];
        w.dequantizeRows(1, 1, dst, 1);
        assertThat(dst).containsExactly(0, 4, 5, 6);
        assertThatThrownBy(() -> w.dequantizeRows(2, 1, dst, 0)).isInstanceOf(IndexOutOfBoundsException.class)
                .hasMessageContaining("w");
        assertThatThrownBy(() -> new FloatWeight("x", 2, 2, new float[3])).hasMessageContaining("x")
                .hasMessageContaining("[2, 2]");
    }
}
