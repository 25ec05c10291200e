package ai.safetune.model.safetensors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.safetune.model.FloatWeight;
import ai.safetune.model.ModelFileException;
import ai.safetune.model.ModelWeights;
import ai.safetune.model.Weight;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
    @TempDir
    Path tmp;

    @Test
    void roundTripsF32F16Bf16AndI32WithMetadata() {
        float[] v = {1f, -2.5f, 3.140625f, 0f, -0f, 65504f, 1e-3f, 1.00390625f};
        Path p = tmp.resolve("sub/t.safetensors");
        new SafetensorsWriter().metadata("format", "pt")
                .add("f32", SafetensorsDType.F32, new long[] {2, 4}, v)
                .add("f16", SafetensorsDType.F16, new long[] {8}, v)
                .add("bf16", SafetensorsDType.BF16, new long[] {4, 2}, v)
                .addInts("ids", new long[] {1, 3}, new int[] {7, -100, 49151})
                .add("w", new FloatWeight("w", 1, 2, new float[] {0.5f, 2f}), SafetensorsDType.BF16)
                .write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertThat(f.metadata()).containsEntry("format", "pt");
            assertThat(f.names()).containsExactly("f32", "f16", "bf16", "ids", "w");
            assertThat(f.tensor("bf16").shape()).containsExactly(4, 2);
            assertThat(f.readFloats("f32")).containsExactly(v);
            // fp16: 1e-3 → nearest half 0x1419 = 1.0009765625e-3; 1.00390625 = 1 + 2^-8 is exact in fp16
            assertThat(f.readFloats("f16")).containsExactly(1f, -2.5f, 3.140625f, 0f, -0f, 65504f, 0.0010004043579101562f, 1.00390625f);
            // bf16 keeps 8 significant bits: 65504 → 65536, 1e-3 (0x3A83126F) → 0x3A83 = 2^-10·131/128, 1+2^-8 → 1 (tie to even)
            assertThat(f.readFloats("bf16")).containsExactly(1f, -2.5f, 3.140625f, 0f, -0f, 65536f, 0x1p-10f * 131 / 128, 1f);
            assertThat(f.readInts("ids")).containsExactly(7, -100, 49151);
            Weight w = f.weight("bf16");
            assertThat(w.rows()).isEqualTo(4);
            assertThat(w.cols()).isEqualTo(2);
            assertThat(w.storageType()).isEqualTo("BF16");
            float[] row = new float[2];
            w.dequantizeRows(2, 1, row, 0);
            assertThat(row).containsExactly(-0f, 65536f); // elements 4 and 5
            assertThat(f.weight("f16").rows()).isEqualTo(1);
            try (ModelWeights all = f.weights()) {
                assertThat(all.names()).containsExactly("f32", "f16", "bf16", "w");
                assertThat(all.get("w").toFloatArray()).containsExactly(0.5f, 2f);
                ModelWeights heap = all.dequantized();
                assertThat(heap.get("bf16")).isInstanceOf(FloatWeight.class);
                assertThat(heap.get("bf16").toFloatArray()).containsExactly(f.readFloats("bf16"));
            }
        }
        // header length is a multiple of 8 and the data follows it, as the reference writer lays it out
        ByteBuffer b = read(p);
        assertThat(b.getLong(0) % 8).isZero();
        assertThat(b.getFloat((int) (8 + b.getLong(0)))).isEqualTo(1f);
    }

    @Test
    void readsTheTinyLlamaWeightsAsBf16() {
        Path p = ai.safetune.model.SharedFiles.tinyLlama().resolve("model.safetensors");
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertThat(f.metadata()).containsEntry("format", "pt");
            SafetensorsTensor t = f.tensor("model.embed_tokens.weight");
            assertThat(t.dtype()).isEqualTo(SafetensorsDType.BF16);
            assertThat(t.shape()).containsExactly(49152, 32);
            // the first value, decoded by hand from its two bytes
            ByteBuffer raw = read(p);
            long dataStart = 8 + raw.getLong(0);
            short bits = raw.getShort((int) (dataStart + t.begin()));
            float first = Float.intBitsToFloat((bits & 0xFFFF) << 16);
            float[] row = new float[32];
            f.weight(t.name()).dequantizeRows(0, 1, row, 0);
            assertThat(row[0]).isEqualTo(first);
            assertThat(f.readFloats(t.name())[0]).isEqualTo(first);
        }
    }

    @Test
    void writerRejectsBadInput() {
        SafetensorsWriter w = new SafetensorsWriter();
        assertThatThrownBy(() -> w.add("x", SafetensorsDType.F32, new long[] {2, 2}, new float[3]))
                .hasMessageContaining("x").hasMessageContaining("[2, 2]").hasMessageContaining("3 values");
        assertThatThrownBy(() -> w.add("x", SafetensorsDType.I64, new long[] {1}, new float[1])).hasMessageContaining("I64");
        w.add("x", SafetensorsDType.F32, new long[] {1}, new float[1]);
        assertThatThrownBy(() -> w.add("x", SafetensorsDType.F32, new long[] {1}, new float[1])).hasMessageContaining("already");
    }

    @Test
    void malformedFilesFailWithClearMessages() throws IOException {
        expectBad(new byte[] {1, 2, 3}, "truncated", "at least 8");
        expectBad(withHeaderLength(1L << 40, "{}"), "bad safetensors header length");
        expectBad(withHeaderLength(-5, "{}"), "bad safetensors header length");
        expectBad(withHeaderLength(500, "{}"), "bad safetensors header length");
        expectBad(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]", 8), "not valid JSON");
        expectBad(file("[1, 2]", 0), "must be a JSON object");
        expectBad(file("{\"a\": {\"dtype\": \"F8_E4M3\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 2),
                "tensor 'a'", "unsupported dtype 'F8_E4M3'");
        expectBad(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 16]}}", 8),
                "tensor 'a'", "outside the data section of 8 bytes");
        expectBad(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 4]}}", 8), "tensor 'a'", "data_offsets");
        expectBad(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8),
                "tensor 'a'", "needs 12 bytes but data_offsets span 8");
        expectBad(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 8]}}", 8), "shape[0]");
        expectBad(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 8]}}", 8),
                "overflows");
        expectBad(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8), "'data_offsets'");
        expectBad(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                + "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12), "tensor 'b'", "overlaps");
        expectBad(file("{\"a\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8), "'dtype'");
        expectBad(file("{\"__metadata__\": {\"k\": 3}}", 0), "__metadata__.k");
        // a valid file cut short: the data no longer covers the last tensor
        Path ok = tmp.resolve("ok.safetensors");
        new SafetensorsWriter().add("a", SafetensorsDType.F32, new long[] {4}, new float[4]).write(ok);
        byte[] all = Files.readAllBytes(ok);
        expectBad(Arrays.copyOf(all, all.length - 1), "tensor 'a'", "outside the data section");
    }

    private void expectBad(byte[] bytes, String... fragments) throws IOException {
        Path p = Files.write(tmp.resolve("bad.safetensors"), bytes);
        var a = assertThatThrownBy(() -> SafetensorsFile.open(p).close()).isInstanceOf(ModelFileException.class)
                .hasMessageStartingWith(p.toString());
        for (String f : fragments) {
            a.hasMessageContaining(f);
        }
    }

    private static byte[] file(String header, int dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h).array();
    }

    private static byte[] withHeaderLength(long len, String header) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + h.length).order(ByteOrder.LITTLE_ENDIAN).putLong(len).put(h).array();
    }

    private static ByteBuffer read(Path p) {
        try {
            return ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
