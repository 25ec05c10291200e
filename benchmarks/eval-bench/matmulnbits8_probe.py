"""Probe: ONNX Runtime's MatMulNBits with 8-bit blocks (exact for GGUF Q8_0: w = d*q, zero point 128) against a plain
fp32 MatMul, one node, one thread, the SmolLM2 MLP shape K=576 -> N=1536, M rows (edit M below).
Needs: pip install onnxruntime==1.23.2 onnx numpy (the version the Java build uses). Prints ms and max |error|.
"""
import numpy as np, onnx, onnxruntime as ort, time
from onnx import helper, TensorProto, numpy_helper
M, K, N = 32, 576, 1536
rng = np.random.default_rng(0)
# Q8_0-like weights: per 32-block symmetric int8 with fp scale
q = rng.integers(-127, 128, size=(N, K // 32, 32)).astype(np.int8)
d = (rng.random((N, K // 32)) * 0.02 + 0.001).astype(np.float32)
W = (q.astype(np.float32) * d[:, :, None]).reshape(N, K)
x = rng.standard_normal((M, K)).astype(np.float32)

def fp32_model():
    g = helper.make_graph([helper.make_node("MatMul", ["x", "wt"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [M, K])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [M, N])],
        [numpy_helper.from_array(W.T.copy(), "wt")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]); m.ir_version = 10; return m

def nbits_model(bits, acc):
    # B: [N, K/blk, blk*bits/8] uint8; values stored unsigned: q + 128 (8-bit) with zero point 128
    if bits == 8:
        B = (q.astype(np.int16) + 128).astype(np.uint8).reshape(N, K // 32, 32)
        zp = np.full((N, K // 32), 128, dtype=np.uint8)
    scales = d.reshape(-1)
    node = helper.make_node("MatMulNBits", ["x", "B", "scales", "zp"], ["y"], domain="com.microsoft", K=K, N=N, bits=bits,
                            block_size=32, accuracy_level=acc)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [M, K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [M, N])],
        [numpy_helper.from_array(B, "B"), numpy_helper.from_array(scales, "scales"), numpy_helper.from_array(zp.reshape(-1), "zp")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]); m.ir_version = 10; return m

def bench(model, name):
    so = ort.SessionOptions(); so.intra_op_num_threads = 1
    s = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    y = s.run(None, {"x": x})[0]
    t = time.perf_counter(); n = 200
    for _ in range(n): s.run(None, {"x": x})
    dt = (time.perf_counter() - t) / n
    ref = x @ W.T
    print(f"{name}: {dt*1e3:.3f} ms, {2*M*K*N/dt/1e9:.1f} GFLOP/s, max|err| {np.abs(y-ref).max():.2e} (ref max {np.abs(ref).max():.1f})")

bench(fp32_model(), "fp32 MatMul")
for acc in (0, 4):
    try:
        bench(nbits_model(8, acc), f"MatMulNBits 8-bit acc{acc}")
    except Exception as e:
        print("8-bit acc", acc, "failed:", str(e)[:200])
