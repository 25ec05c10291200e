package ai.safetune.model.gguf;

import static ai.safetune.model.gguf.GgufTestWriter.le;
import static org.assertj.core.api.Assertions.assertThat;

import ai.safetune.model.Weight;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A GGUF over 2 GiB (a sparse file: only the header and a few values are written) with one tensor larger than
 * one mapping and one lying beyond the 2 GiB mark: both read correctly.
 */
class GgufLargeFileTest {
    @Test
    void tensorsBeyondAndLargerThanTwoGiB(@TempDir Path tmp) throws Exception {
        int cols = 1024;
        int rows = 600_000; // F32: 2,457,600,000 bytes, more than one ByteBuffer can map
        long bigBytes = (long) rows * cols * 4;
        long smallOffset = bigBytes; // a multiple of 32
        byte[] header = new GgufTestWriter()
                .tensor("small0", new long[] {8}, 0, new byte[0])
                .tensor("big", new long[] {cols, rows}, 0, new byte[0])
                .tensor("small1", new long[] {8}, 0, new byte[0])
                .forceOffset(0, 0).forceOffset(1, 32).forceOffset(2, 32 + smallOffset)
                .bytes();
        long dataStart = header.length; // the writer pads the header to the alignment
        Path p = tmp.resolve("big.gguf");
        Files.write(p, header);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(dataStart + 32 + smallOffset + 32);
            f.seek(dataStart);
            f.write(le(4).putFloat(1.5f).array());
            f.seek(dataStart + 32 + (long) (rows - 1) * cols * 4 + 4 * 7); // last row, column 7
            f.write(le(4).putFloat(-3f).array());
            f.seek(dataStart + 32 + 300_000L * cols * 4); // a row in the middle
            f.write(le(4).putFloat(42f).array());
            f.seek(dataStart + 32 + smallOffset + 4);
            f.write(le(4).putFloat(7f).array());
        }
        assertThat(Files.size(p)).isGreaterThan(1L << 31);
        try (GgufFile g = GgufFile.open(p)) {
            Weight big = g.weight("big");
            assertThat(big.rows()).isEqualTo(rows);
            float[] row = new float[cols];
            big.dequantizeRows(rows - 1, 1, row, 0);
            assertThat(row[7]).isEqualTo(-3f);
            big.dequantizeRows(300_000, 1, row, 0);
            assertThat(row[0]).isEqualTo(42f);
            assertThat(g.weight("small0").toFloatArray()[0]).isEqualTo(1.5f);
            assertThat(g.weight("small1").toFloatArray()[1]).isEqualTo(7f);
            assertThat(g.mappedSegments()).isEqualTo(2); // the two small tensors; the big one maps itself
        }
    }
}
