"""Probe: which int8 matrix product of ONNX Runtime beats fp32 MatMul at generation's batch sizes?

One node, one thread, the SmolLM2 MLP shape K=576 -> N=1536, M rows in {1, 32, 64, 128}: fp32 MatMul,
com.microsoft.DynamicQuantizeMatMul (int8 weights per column, activations quantized to uint8 per tensor on the fly;
what `--onnx-precision int8` exports), and MatMulNBits with 8-bit and 4-bit blocks of 32 at accuracy_level 4 (int8
activations per block). Prints ms per run, GFLOP/s and the max error relative to the largest output.
Needs: pip install onnxruntime==1.23.2 onnx numpy (the ORT version of the Java build).
"""
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

K, N = 576, 1536
rng = np.random.default_rng(0)
W = (rng.standard_normal((N, K)) * 0.05).astype(np.float32)  # [out, in], as stored in a checkpoint


def model(nodes, inits):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["M", K])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", N])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 10
    return m


def fp32():
    return model([helper.make_node("MatMul", ["x", "w"], ["y"])], [numpy_helper.from_array(W.T.copy(), "w")])


def dynamic_int8():
    s = np.abs(W).max(axis=1) / 127.0
    q = np.clip(np.round(W / s[:, None]), -127, 127).astype(np.int8).T.copy()  # [K, N]
    node = helper.make_node("DynamicQuantizeMatMul", ["x", "wq", "ws"], ["y"], domain="com.microsoft")
    return model([node], [numpy_helper.from_array(q, "wq"), numpy_helper.from_array(s.astype(np.float32), "ws")])


def nbits(bits, blk=32):
    wb = W.reshape(N, K // blk, blk)
    if bits == 8:
        s = np.abs(wb).max(-1) / 127.0
        packed = (np.clip(np.round(wb / s[..., None]), -127, 127) + 128).astype(np.uint8)
        zp = np.full((N, K // blk), 128, np.uint8)
    else:
        lo, hi = wb.min(-1), wb.max(-1)
        s = (hi - lo) / 15.0
        z = np.clip(np.round(-lo / s), 0, 15).astype(np.uint8)
        q = np.clip(np.round(wb / s[..., None]) + z[..., None], 0, 15).astype(np.uint8)
        packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)
        zz = z if z.shape[1] % 2 == 0 else np.concatenate([z, np.zeros((N, 1), np.uint8)], 1)
        zp = (zz[:, 0::2] | (zz[:, 1::2] << 4)).astype(np.uint8).reshape(-1)
    node = helper.make_node("MatMulNBits", ["x", "B", "s", "zp"], ["y"], domain="com.microsoft", K=K, N=N, bits=bits,
                            block_size=blk, accuracy_level=4)
    return model([node], [numpy_helper.from_array(packed, "B"),
                          numpy_helper.from_array(s.astype(np.float32).reshape(-1), "s"), numpy_helper.from_array(zp, "zp")])


def session(m):
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    return ort.InferenceSession(m.SerializeToString(), o, providers=["CPUExecutionProvider"])


sessions = {"fp32 MatMul": session(fp32()), "DynamicQuantizeMatMul": session(dynamic_int8()),
            "MatMulNBits 8-bit acc4": session(nbits(8)), "MatMulNBits 4-bit acc4": session(nbits(4))}
for M in (1, 32, 64, 128):
    x = rng.standard_normal((M, K)).astype(np.float32)
    ref = x @ W.T
    for name, se in sessions.items():
        for _ in range(10):
            y = se.run(None, {"x": x})[0]
        n = 100
        t = time.perf_counter()
        for _ in range(n):
            se.run(None, {"x": x})
        dt = (time.perf_counter() - t) / n
        print(f"M={M:4d} {name:24s} {dt * 1e3:7.3f} ms {2 * M * K * N / dt / 1e9:7.1f} GFLOP/s "
              f"rel err {np.abs(y - ref).max() / np.abs(ref).max():.2g}")
