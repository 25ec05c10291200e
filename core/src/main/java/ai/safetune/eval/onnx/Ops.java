package ai.safetune.eval.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto.AttributeType;
import java.util.Map;
import java.util.Set;
import org.tribuo.util.onnx.ONNXAttribute;
import org.tribuo.util.onnx.ONNXOperator;
import org.tribuo.util.onnx.ONNXOperators;

/**
 * ONNX opset-13 operators a decoder needs that Tribuo's {@link ONNXOperators} enum (written for
 * classical ML models) does not list. Declared through Tribuo's {@link ONNXOperator} interface so the
 * same builder validates arity and attributes.
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
    GATHER_ELEMENTS("GatherElements", 2, 0, Map.of("axis", new ONNXAttribute("axis", AttributeType.INT, true)));

    private final String opName;
    private final int numInputs;
    private final int numOptionalInputs;
    private final Map<String, ONNXAttribute> attributes;

    Ops(String opName, int numInputs, int numOptionalInputs, Map<String, ONNXAttribute> attributes) {
        this.opName = opName;
        this.numInputs = numInputs;
        this.numOptionalInputs = numOptionalInputs;
        this.attributes = attributes;
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
        return 1;
    }

    @Override
    public Map<String, ONNXAttribute> getAttributes() {
        return attributes;
    }

    @Override
    public Set<String> getMandatoryAttributeNames() {
        return attributes.keySet();
    }

    @Override
    public int getOpVersion() {
        return ONNXOperators.getOpsetVersion();
    }

    @Override
    public String getOpDomain() {
        return null;
    }
}
