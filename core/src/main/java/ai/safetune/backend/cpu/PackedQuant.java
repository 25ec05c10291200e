package ai.safetune.backend.cpu;

import ai.safetune.model.QuantizedWeight;

/**
 * A quantized weight re-laid for the fused decode products, still quantized: the quants of every block
 * ({@link #quantBytes} per block: the 16 nibble bytes of Q4_0/Q4_1 as stored, or the 32 int8 of Q8_0), rows
 * interleaved in groups of {@link #group} (a vector kernel's lane count, so one load reads a byte of 16 rows), and the
 * fp16 scales decoded once to floats beside them. Value of element j of block b: {@code q_j·d_b + m_b} with
 * {@code q} the unsigned nibble (Q4_0: {@code m = −8·d}, exact in fp32, so one kernel serves both nibble formats)
 * or the int8 ({@code m} absent).
 * <p>Why: decoding the fp16 scales of every block on every product and copying the raw 20-byte blocks out of the
 * mapped file per tile cost more than half of the decode time, and reading one row at a time needs a horizontal sum
 * per row and x row (one thread, SmolLM2 Q4_1/Q8_0 decode: 26 → 54 tokens per CPU-second, see
 * benchmarks/RESULTS.md). A heap copy about the size of the stored weight (4 or 8 bytes per block more; SmolLM2-135M:
 * ~110 MB), so it is made on the first fused product of a weight, not at load.
 */
final class PackedQuant {
    final QuantFormat format;
    final int rows;
    /** Blocks per row. */
    final int blocks;
    /** Bytes of quants per block. */
    final int quantBytes;
    /**
     * Rows interleaved per group (1, or a vector kernel's lane count): byte j of block b of row {@code r = g·G + i}
     * sits at {@code ((g·blocks + b)·quantBytes + j)·G + i}, so one vector load reads the same byte of G rows.
     */
    final int group;
    /** Quants, in the layout of {@link #group} (rows padded to a multiple of it with zeros). */
    final byte[] quants;
    /** {@code d} of row {@code g·G + i}, block b at {@code (g·blocks + b)·G + i}. */
    final float[] scales;
    /** {@code m} at the same index as {@link #scales} (nibble formats), null for Q8_0. */
    final float[] mins;

    private PackedQuant(QuantFormat format, int rows, int blocks, int group) {
        this.format = format;
        this.rows = rows;
        this.blocks = blocks;
        this.group = group;
        this.quantBytes = format.nibbles ? 16 : 32;
        int padded = (rows + group - 1) / group * group;
        this.quants = new byte[padded * blocks * quantBytes];
        this.scales = new float[padded * blocks];
        this.mins = format.nibbles ? new float[padded * blocks] : null;
    }

    /** Whether {@code w} (rows of {@code cols / 32} blocks of {@code f}) fits this layout's arrays. */
    static boolean fits(QuantizedWeight w, QuantFormat f, int group) {
        long blocks = (long) (w.rows() + group) * (w.cols() / QuantFormat.BLOCK);
        return blocks * (f.nibbles ? 16 : 32) <= Integer.MAX_VALUE - 16;
    }

    /** Index of row r, block b in {@link #scales}; its byte j in {@link #quants} is {@code (that·quantBytes + j·G)}. */
    int blockIndex(int r, int b) {
        int g = r / group;
        return (g * blocks + b) * group + r % group;
    }

    /** Position of byte j of row r's block b in {@link #quants}. */
    int quantIndex(int r, int b, int j) {
        int g = r / group;
        return ((g * blocks + b) * quantBytes + j) * group + r % group;
    }

    /** Reads every block of {@code w} (its row map applied) once, rows interleaved by {@code group}. */
    static PackedQuant pack(QuantizedWeight w, QuantFormat f, int group) {
        if (group < 1 || !fits(w, f, group)) {
            throw new IllegalArgumentException(w.name() + ": " + w.rows() + " x " + w.cols() + " cannot be packed in groups of "
                    + group);
        }
        int blocks = w.cols() / QuantFormat.BLOCK;
        PackedQuant p = new PackedQuant(f, w.rows(), blocks, group);
        int rowBytes = w.rowBytes();
        int chunkRows = Math.max(1, (64 << 10) / rowBytes);
        byte[] raw = new byte[chunkRows * rowBytes];
        for (int r0 = 0; r0 < w.rows(); r0 += chunkRows) {
            int cnt = Math.min(chunkRows, w.rows() - r0);
            w.copyRawRows(r0, cnt, raw, 0);
            p.put(r0, cnt, raw);
        }
        return p;
    }

    /** Packs {@code rows} rows of raw GGUF blocks stored back to back in {@code raw} (the kernels' self-check). */
    static PackedQuant ofRaw(byte[] raw, int rows, int blocks, QuantFormat f, int group) {
        PackedQuant p = new PackedQuant(f, rows, blocks, group);
        p.put(0, rows, raw);
        return p;
    }

    /** Stores rows {@code [r0, r0+cnt)} from their raw blocks at {@code raw[0 ..]}. */
    private void put(int r0, int cnt, byte[] raw) {
        QuantFormat f = format;
        for (int i = 0, src = 0; i < cnt * blocks; i++, src += f.blockBytes) {
            int r = r0 + i / blocks;
            int b = i % blocks;
            int blk = blockIndex(r, b);
            float d = ScalarQuantKernel.half(raw, src);
            scales[blk] = d;
            if (f == QuantFormat.Q4_1) {
                mins[blk] = ScalarQuantKernel.half(raw, src + 2);
            } else if (f == QuantFormat.Q4_0) {
                mins[blk] = -8f * d;
            }
            if (group == 1) {
                System.arraycopy(raw, src + f.quantOffset, quants, blk * quantBytes, quantBytes);
            } else {
                for (int j = 0, q = quantIndex(r, b, 0); j < quantBytes; j++, q += group) {
                    quants[q] = raw[src + f.quantOffset + j];
                }
            }
        }
    }

    /**
     * Expands row {@code r} to fp32 in {@code dst[0 .. 32·blocks)}: {@code q·d + m} (nibbles) or {@code q·d}
     * (int8), the same values as the GGUF dequantizer's (Q4_0's {@code (q−8)·d} equals
     * {@code q·d − 8d} exactly, up to the sign of a zero).
     */
    void expandRow(int r, float[] dst) {
        int gs = group;
        for (int b = 0, o = 0; b < blocks; b++, o += 32) {
            int blk = blockIndex(r, b);
            int q = quantIndex(r, b, 0);
            float d = scales[blk];
            if (mins == null) {
                for (int j = 0; j < 32; j++) {
                    dst[o + j] = quants[q + j * gs] * d;
                }
            } else {
                float m = mins[blk];
                for (int j = 0; j < 16; j++) {
                    int v = quants[q + j * gs];
                    dst[o + j] = (v & 0x0F) * d + m;
                    dst[o + j + 16] = ((v >> 4) & 0x0F) * d + m;
                }
            }
        }
    }
}
