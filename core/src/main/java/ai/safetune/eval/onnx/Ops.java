package ai.safetune.eval.onnx;

import ai.onnx.proto.OnnxMl;
import ai.onnx.proto.OnnxMl.AttributeProto.AttributeType;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.tribuo.util.onnx.ONNXAttribute;
import org.tribuo.util.onnx.ONNXContext;
import org.tribuo.util.onnx.ONNXOperator;
import org.tribuo.util.onnx.ONNXOperators;

/**
 * Operators a decoder needs that Tribuo's {@link ONNXOperators} enum (written for classical ML models) does not list:
 * standard opset-13 ones, and the ONNX Runtime contrib operators (domain {@code com.microsoft}, version 1, signatures
 * as registered by ONNX Runtime 1.23, docs/ContribOperators.md) used by the optional attention variants of
 * {@link LlamaOnnxExporter}. Declared through Tribuo's {@link ONNXOperator} interface so the same builder validates
 * arity and attributes.
 */
enum Ops implements ONNXOperator {
    MATMUL("MatMul", 2, 0, Map.of()),
    RESHAPE("Reshape", 2, 0, Map.of()),
    TRANSPOSE("Transpose", 1, 0, Map.of("perm", new ONNXAttribute("perm", AttributeType.INTS, true))),
    SQRT("Sqrt", 1, 0, Map.of()),
    RECIPROCAL("Reciprocal", 1, 0, Map.of()),
    SLICE("Slice", 3, 2, Map.of()),
    SHAPE("Shape", 1, 0, Map.of()),
    AND("And", 2, 0, Map.of()),
    RANGE("Range", 3, 0, Map.of()),
    SQUEEZE("Squeeze", 1, 1, Map.of()),
    EXPAND("Expand", 2, 0, Map.of()),
    LOG_SOFTMAX("LogSoftmax", 1, 0, Map.of("axis", new ONNXAttribute("axis", AttributeType.INT, true))),
    GATHER_ELEMENTS("GatherElements", 2, 0, Map.of("axis", new ONNXAttribute("axis", AttributeType.INT, true))),
    /** input [B, S, heads·d], position_ids int64 [B, S], cos_cache / sin_cache [maxPos, d/2] → [B, S, heads·d]. */
    ROTARY_EMBEDDING("RotaryEmbedding", 4, 0, List.of(
            new ONNXAttribute("interleaved", AttributeType.INT, false),
            new ONNXAttribute("num_heads", AttributeType.INT, false),
            new ONNXAttribute("rotary_embedding_dim", AttributeType.INT, false)), 1),
    /**
     * query / key / value [B, S, heads·d], past_key / past_value [B, kvHeads, P, d] (BNSH), seqlens_k int32 [B],
     * total_sequence_length int32 scalar, then attention_bias [B, 1, S, P+S]; outputs the attention [B, S, heads·d]
     * and present_key / present_value. The graph built here feeds no cos/sin cache and no position ids (RoPE is done
     * before, per row), so {@link #build} leaves those three input slots empty in front of the bias.
     */
    GROUP_QUERY_ATTENTION("GroupQueryAttention", 8, 0, List.of(
            new ONNXAttribute("num_heads", AttributeType.INT, true),
            new ONNXAttribute("kv_num_heads", AttributeType.INT, true),
            new ONNXAttribute("scale", AttributeType.FLOAT, false),
            new ONNXAttribute("do_rotary", AttributeType.INT, false)), 3),
    /**
     * A float [..., K], B int8 [K, N], b_scale float [N] (per column) → float [..., N]: A is quantized to uint8 per run,
     * the product runs in integers and is rescaled (optional b_zero_point and bias unused here).
     */
    DYNAMIC_QUANTIZE_MATMUL("DynamicQuantizeMatMul", 3, 2, List.of(), 1);

    /** The contrib operators' domain (the standard ones have none). */
    static final String MS_DOMAIN = "com.microsoft";

    private final String opName;
    private final int numInputs;
    private final int numOptionalInputs;
    private final Map<String, ONNXAttribute> attributes;
    private final int numOutputs;
    private final String domain;

    /** A standard operator: one output, every attribute mandatory. */
    Ops(String opName, int numInputs, int numOptionalInputs, Map<String, ONNXAttribute> attributes) {
        this.opName = opName;
        this.numInputs = numInputs;
        this.numOptionalInputs = numOptionalInputs;
        this.attributes = attributes;
        this.numOutputs = 1;
        this.domain = null;
    }

    /** A {@code com.microsoft} contrib operator. */
    Ops(String opName, int numInputs, int numOptionalInputs, List<ONNXAttribute> attributes, int numOutputs) {
        this.opName = opName;
        this.numInputs = numInputs;
        this.numOptionalInputs = numOptionalInputs;
        this.attributes = attributes.stream().collect(Collectors.toUnmodifiableMap(ONNXAttribute::getName, a -> a));
        this.numOutputs = numOutputs;
        this.domain = MS_DOMAIN;
    }

    @Override
    public OnnxMl.NodeProto build(ONNXContext context, String[] inputs, String[] outputs, Map<String, Object> attrs) {
        OnnxMl.NodeProto node = ONNXOperator.super.build(context, inputs, outputs, attrs);
        if (this != GROUP_QUERY_ATTENTION) {
            return node;
        }
        // slots 7-9 (cos_cache, sin_cache, position_ids) stay empty; slot 10 is attention_bias
        List<String> in = new ArrayList<>(node.getInputList().subList(0, 7));
        in.addAll(List.of("", "", ""));
        in.add(node.getInput(7));
        return node.toBuilder().clearInput().addAllInput(in).build();
    }

    @Override
    public String getOpName() {
        return opName;
    }

    @Override
    public int getNumInputs() {
        return numInputs;
    }

    @Override
    public int getNumOptionalInputs() {
        return numOptionalInputs;
    }

    @Override
    public int getNumOutputs() {
        return numOutputs;
    }

    @Override
    public Map<String, ONNXAttribute> getAttributes() {
        return attributes;
    }

    @Override
    public Set<String> getMandatoryAttributeNames() {
        return attributes.values().stream().filter(ONNXAttribute::isMandatory).map(ONNXAttribute::getName)
                .collect(Collectors.toUnmodifiableSet());
    }

    @Override
    public int getOpVersion() {
        return domain == null ? ONNXOperators.getOpsetVersion() : 1;
    }

    @Override
    public String getOpDomain() {
        return domain;
    }
}
