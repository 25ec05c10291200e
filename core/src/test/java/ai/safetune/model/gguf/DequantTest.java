package ai.safetune.model.gguf;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Every block format against blocks packed here from chosen logical values (scales, mins, quants) following the
 * format definitions, with expected values computed from those logical values — the packing direction, never the
 * decoder under test. fp16 constants: 0x3800 = 0.5, 0xBC00 = −1, 0x3400 = 0.25, 0x3000 = 0.125, 0x4000 = 2,
 * 0x2E66 = 1.599609375/16 = 0.0999755859375.
 */
class DequantTest {
    private static final float HALF = 0.5f;
    private static final float ODD = 0.0999755859375f;

    @Test
    void q8_0() {
        byte[] blocks = new byte[2 * 34];
        float[] expected = new float[64];
        short[] d = {0x3800, 0x2E66};
        float[] dv = {HALF, ODD};
        for (int b = 0; b < 2; b++) {
            put16(blocks, b * 34, d[b]);
            for (int j = 0; j < 32; j++) {
                int q = (j * 37 + b * 11) % 256 - 128; // −128..127
                blocks[b * 34 + 2 + j] = (byte) q;
                expected[b * 32 + j] = q * dv[b];
            }
        }
        float[] got = check(GgmlType.Q8_0, blocks, expected);
        assertThat(got[0]).isEqualTo(-64f); // q = −128, d = 0.5
    }

    @Test
    void q4_0() {
        byte[] blocks = new byte[2 * 18];
        float[] expected = new float[64];
        short[] d = {0x3800, 0x2E66};
        float[] dv = {HALF, ODD};
        for (int b = 0; b < 2; b++) {
            put16(blocks, b * 18, d[b]);
            int[] q = quants(32, 16, 5 + b);
            for (int j = 0; j < 16; j++) {
                blocks[b * 18 + 2 + j] = (byte) (q[j] | (q[j + 16] << 4)); // low nibble: element j, high: j+16
            }
            for (int e = 0; e < 32; e++) {
                expected[b * 32 + e] = (q[e] - 8) * dv[b];
            }
        }
        float[] got = check(GgmlType.Q4_0, blocks, expected);
        assertThat(got[0]).isEqualTo((quants(32, 16, 5)[0] - 8) * 0.5f);
    }

    @Test
    void q4_1() {
        byte[] blocks = new byte[2 * 20];
        float[] expected = new float[64];
        for (int b = 0; b < 2; b++) {
            put16(blocks, b * 20, b == 0 ? (short) 0x3800 : (short) 0x2E66);
            put16(blocks, b * 20 + 2, (short) 0xBC00); // m = −1
            int[] q = quants(32, 16, 3 + b);
            for (int j = 0; j < 16; j++) {
                blocks[b * 20 + 4 + j] = (byte) (q[j] | (q[j + 16] << 4));
            }
            for (int e = 0; e < 32; e++) {
                expected[b * 32 + e] = q[e] * (b == 0 ? HALF : ODD) + -1f;
            }
        }
        float[] got = check(GgmlType.Q4_1, blocks, expected);
        // element 16 of block 0 comes from the high nibble of byte 0
        assertThat(got[16]).isEqualTo(quants(32, 16, 3)[16] * 0.5f - 1f);
    }

    @Test
    void q5_0() {
        byte[] blocks = new byte[2 * 22];
        float[] expected = new float[64];
        for (int b = 0; b < 2; b++) {
            put16(blocks, b * 22, b == 0 ? (short) 0x3800 : (short) 0x2E66);
            int[] q = quants(32, 32, 7 + b);
            int qh = 0;
            for (int e = 0; e < 32; e++) {
                qh |= (q[e] >> 4) << e; // fifth bit of element e is bit e of qh
            }
            ByteBuffer.wrap(blocks, b * 22 + 2, 4).order(ByteOrder.LITTLE_ENDIAN).putInt(qh);
            for (int j = 0; j < 16; j++) {
                blocks[b * 22 + 6 + j] = (byte) ((q[j] & 15) | ((q[j + 16] & 15) << 4));
            }
            for (int e = 0; e < 32; e++) {
                expected[b * 32 + e] = (q[e] - 16) * (b == 0 ? HALF : ODD);
            }
        }
        check(GgmlType.Q5_0, blocks, expected);
    }

    @Test
    void q5_1() {
        byte[] blocks = new byte[2 * 24];
        float[] expected = new float[64];
        for (int b = 0; b < 2; b++) {
            put16(blocks, b * 24, b == 0 ? (short) 0x3800 : (short) 0x2E66);
            put16(blocks, b * 24 + 2, (short) 0x3400); // m = 0.25
            int[] q = quants(32, 32, 9 + b);
            int qh = 0;
            for (int e = 0; e < 32; e++) {
                qh |= (q[e] >> 4) << e;
            }
            ByteBuffer.wrap(blocks, b * 24 + 4, 4).order(ByteOrder.LITTLE_ENDIAN).putInt(qh);
            for (int j = 0; j < 16; j++) {
                blocks[b * 24 + 8 + j] = (byte) ((q[j] & 15) | ((q[j + 16] & 15) << 4));
            }
            for (int e = 0; e < 32; e++) {
                expected[b * 32 + e] = q[e] * (b == 0 ? HALF : ODD) + 0.25f;
            }
        }
        float[] got = check(GgmlType.Q5_1, blocks, expected);
        int q31 = quants(32, 32, 9)[31];
        assertThat(got[31]).isEqualTo(q31 * 0.5f + 0.25f);
    }

    // sub-block scales and mins chosen to exercise every bit of the 12-byte packing (values up to 63)
    private static final int[] SC = {1, 2, 63, 17, 33, 5, 40, 62};
    private static final int[] MN = {0, 3, 9, 63, 1, 48, 2, 31};

    /** The 12 scale bytes of Q4_K/Q5_K from 8 six-bit scales and mins. */
    private static byte[] packScalesK4(int[] sc, int[] mn) {
        int[] s = new int[12];
        for (int j = 0; j < 4; j++) {
            s[j] = sc[j] & 63;
            s[j + 4] = mn[j] & 63;
        }
        for (int j = 4; j < 8; j++) {
            s[j + 4] = (sc[j] & 15) | ((mn[j] & 15) << 4); // low 4 bits of both
            s[j - 4] |= (sc[j] >> 4) << 6;                 // top 2 bits of the scale on byte j−4
            s[j] |= (mn[j] >> 4) << 6;                     // top 2 bits of the min on byte j
        }
        byte[] out = new byte[12];
        for (int i = 0; i < 12; i++) {
            out[i] = (byte) s[i];
        }
        return out;
    }

    @Test
    void q4_K() {
        byte[] blocks = new byte[2 * 144];
        float[] expected = new float[512];
        for (int b = 0; b < 2; b++) {
            int p = b * 144;
            float d = b == 0 ? HALF : ODD;
            put16(blocks, p, b == 0 ? (short) 0x3800 : (short) 0x2E66);
            put16(blocks, p + 2, (short) 0x3400); // dmin = 0.25
            int[] sc = rotate(SC, b);
            int[] mn = rotate(MN, b);
            System.arraycopy(packScalesK4(sc, mn), 0, blocks, p + 4, 12);
            int[] q = quants(256, 16, 13 + b);
            for (int e = 0; e < 256; e++) {
                int g = e / 64;
                int l = e % 64;
                int at = p + 16 + 32 * g + l % 32; // 32 bytes per 64 values: low nibbles first, then high
                blocks[at] |= (byte) (l < 32 ? q[e] : q[e] << 4);
                expected[b * 256 + e] = (d * sc[e / 32]) * q[e] - 0.25f * mn[e / 32];
            }
        }
        float[] got = check(GgmlType.Q4_K, blocks, expected);
        // element 0: q = 13 % 16, scale 1, min 0 → 0.5·13
        assertThat(got[0]).isEqualTo(0.5f * quants(256, 16, 13)[0]);
    }

    @Test
    void q5_K() {
        byte[] blocks = new byte[2 * 176];
        float[] expected = new float[512];
        for (int b = 0; b < 2; b++) {
            int p = b * 176;
            float d = b == 0 ? HALF : ODD;
            put16(blocks, p, b == 0 ? (short) 0x3800 : (short) 0x2E66);
            put16(blocks, p + 2, (short) 0x3000); // dmin = 0.125
            int[] sc = rotate(SC, 3 + b);
            int[] mn = rotate(MN, 5 + b);
            System.arraycopy(packScalesK4(sc, mn), 0, blocks, p + 4, 12);
            int[] q = quants(256, 32, 17 + b);
            for (int e = 0; e < 256; e++) {
                int g = e / 64;
                int l = e % 64;
                blocks[p + 48 + 32 * g + l % 32] |= (byte) (l < 32 ? (q[e] & 15) : (q[e] & 15) << 4);
                // the fifth bit: byte l%32 of qh, bit 2g for the first 32 of the group, 2g+1 for the second
                blocks[p + 16 + l % 32] |= (byte) ((q[e] >> 4) << (2 * g + (l < 32 ? 0 : 1)));
                expected[b * 256 + e] = (d * sc[e / 32]) * q[e] - 0.125f * mn[e / 32];
            }
        }
        check(GgmlType.Q5_K, blocks, expected);
    }

    @Test
    void q6_K() {
        byte[] blocks = new byte[2 * 210];
        float[] expected = new float[512];
        int[] scales = {1, -1, 127, -128, 64, -3, 5, 17, -100, 33, 2, -7, 90, 11, -64, 8};
        for (int b = 0; b < 2; b++) {
            int p = b * 210;
            float d = b == 0 ? 0.125f : ODD;
            put16(blocks, p + 208, b == 0 ? (short) 0x3000 : (short) 0x2E66);
            int[] sc = rotate(scales, b * 5);
            for (int i = 0; i < 16; i++) {
                blocks[p + 192 + i] = (byte) sc[i];
            }
            int[] q = quants(256, 64, 19 + b);
            for (int e = 0; e < 256; e++) {
                int half = e / 128;
                int k = (e % 128) / 32; // which of the 4 runs of 32 in this half
                int l = e % 32;
                int ql = p + 64 * half + l + (k % 2 == 1 ? 32 : 0); // runs 0,2 share bytes 0..31; 1,3 bytes 32..63
                blocks[ql] |= (byte) (k < 2 ? (q[e] & 15) : (q[e] & 15) << 4);
                blocks[p + 128 + 32 * half + l] |= (byte) ((q[e] >> 4) << (2 * k));
                expected[b * 256 + e] = (d * sc[e / 16]) * (q[e] - 32);
            }
        }
        float[] got = check(GgmlType.Q6_K, blocks, expected);
        int q16 = quants(256, 64, 19)[16];
        assertThat(got[16]).isEqualTo(0.125f * -1 * (q16 - 32)); // second 16 values use scale −1
    }

    @Test
    void plainTypes() {
        byte[] f16 = new byte[8];
        put16(f16, 0, (short) 0x3C00);
        put16(f16, 2, (short) 0xC000);
        put16(f16, 4, (short) 0x7BFF);
        put16(f16, 6, (short) 0x8001);
        check(GgmlType.F16, f16, new float[] {1f, -2f, 65504f, -0x1p-24f});
        byte[] bf16 = new byte[4];
        put16(bf16, 0, (short) 0x3F80);
        put16(bf16, 2, (short) 0xC140);
        check(GgmlType.BF16, bf16, new float[] {1f, -12f});
        byte[] f32 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(3.25f).putFloat(-0f).array();
        check(GgmlType.F32, f32, new float[] {3.25f, -0f});
    }

    @Test
    void blockSizesMatchTheFormats() {
        assertThat(GgmlType.Q4_0.rowBytes(64)).isEqualTo(36);
        assertThat(GgmlType.Q4_1.rowBytes(576)).isEqualTo(18 * 20);
        assertThat(GgmlType.Q8_0.rowBytes(576)).isEqualTo(18 * 34);
        assertThat(GgmlType.Q6_K.rowBytes(512)).isEqualTo(420);
        assertThat(GgmlType.byId(12)).contains(GgmlType.Q4_K);
        assertThat(GgmlType.byId(4)).isEmpty();
        assertThat(Arrays.stream(GgmlType.values()).filter(GgmlType::isSupported))
                .containsExactlyInAnyOrder(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
                        GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K);
    }

    /** Decodes {@code blocks} placed at an odd offset into a destination at an offset, and compares exactly. */
    private static float[] check(GgmlType type, byte[] blocks, float[] expected) {
        ByteBuffer buf = ByteBuffer.allocate(blocks.length + 7).order(ByteOrder.LITTLE_ENDIAN);
        buf.position(5);
        buf.put(blocks);
        float[] dst = new float[expected.length + 4];
        Arrays.fill(dst, Float.NaN);
        type.decoder().decode(buf, 5, dst, 3, expected.length);
        float[] got = Arrays.copyOfRange(dst, 3, 3 + expected.length);
        for (int i = 0; i < expected.length; i++) {
            assertThat(got[i]).as("%s element %d", type, i).isEqualTo(expected[i]);
        }
        assertThat(dst[2]).isNaN();
        assertThat(dst[3 + expected.length]).isNaN();
        return got;
    }

    /** Deterministic quants in 0..range-1 covering the whole range. */
    private static int[] quants(int n, int range, int seed) {
        int[] q = new int[n];
        for (int i = 0; i < n; i++) {
            q[i] = (i * 7 + seed * 13 + (i / range) * 3) % range;
        }
        return q;
    }

    private static int[] rotate(int[] a, int by) {
        int[] r = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = a[(i + by) % a.length];
        }
        return r;
    }

    private static void put16(byte[] b, int at, short v) {
        b[at] = (byte) v;
        b[at + 1] = (byte) (v >> 8);
    }
}
