#!/usr/bin/env python3
"""Writes ops.json: one graph, every op the PyTorch export translates, each on its own branch from the
input x [2, 4, 6, 6] to an output of its own, with the forms the exporter treats apart (layers and raw
parameters, symmetric and asymmetric padding, ceil mode, negative slice steps, ...). Parameters have no
data: `lowpass` seeds them, so the export and the reference run see the same weights."""
import json
import os

nodes, params, outputs = [], [], []


def param(name, shape):
    params.append({"name": name, "dtype": "f32", "shape": shape})
    return name


def node(op, inputs, attributes=None, name=None, output=True):
    name = name or f"{op.lower()}_{len(nodes)}"
    nodes.append({"name": name, "op": op, "inputs": inputs, "outputs": [name], **({"attributes": attributes} if attributes else {})})
    if output:
        outputs.append(name)
    return name


x = "x"
positive = node("Abs", [x], output=False)
node("Conv", [x, param("c1.weight", [6, 4, 3, 3]), param("c1.bias", [6])], {"pads": [1, 1, 1, 1], "strides": [2, 2]})
node("Conv", [x, param("w_asym", [4, 2, 3, 3])], {"pads": [0, 1, 2, 1], "group": 2, "dilations": [1, 2]})
node("ConvTranspose", [x, param("ct.weight", [4, 3, 3, 3])], {"strides": [2, 2], "pads": [1, 0, 0, 1], "output_padding": [1, 0]})
node("ConvTranspose", [x, param("ct_raw", [4, 2, 2, 2]), param("ct_bias", [4])], {"strides": [2, 2], "group": 2})
node("BatchNormalization", [x] + [param(f"bn.{n}", [4]) for n in ["weight", "bias", "running_mean", "running_var"]])
node("BatchNormalization", [x] + [param(f"bn_{n}", [4]) for n in ["scale", "shift", "mean", "var"]], {"epsilon": 0.001})
node("MaxPool", [x], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 1, 1, 0]})
node("MaxPool", [x], {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1})
node("MaxPool", [x], {"kernel_shape": [2, 2], "strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [2, 2]})
node("AveragePool", [x], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]})
node("AveragePool", [x], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1})
node("AveragePool", [x], {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 1, 1], "count_include_pad": 1})
node("BlurPool", [x], {"filter_size": 4, "strides": [2, 2]})
node("BlurPool", [x], {"filter_size": 3, "strides": [1, 2], "pad_mode": "zero"})
node("BlurPool", [x], {"filter_size": 5, "strides": [2, 2], "pad_mode": "replicate", "pads": [0, 1, 2, 3]})
node("BlurPool", [x], {"filter_size": 1, "strides": [2, 2], "pad_mode": "replicate", "pad_off": 1})
node("GlobalAveragePool", [x])
node("AdaptiveAveragePool", [x], {"output_size": [3, 4]})
for op, attributes in [("Relu", None), ("Clip", {"min": 0.0, "max": 6.0}), ("Clip", {"min": -0.5}), ("Sigmoid", None),
                       ("HardSigmoid", None), ("HardSigmoid", {"alpha": 0.16666666666666666, "beta": 0.5}), ("HardSwish", None),
                       ("Neg", None), ("Abs", None), ("Exp", None), ("Tanh", None), ("Erf", None), ("Softplus", None),
                       ("LeakyRelu", {"alpha": 0.1}), ("Elu", {"alpha": 0.5}), ("Selu", None), ("Selu", {"alpha": 1.5, "gamma": 1.1}),
                       ("Celu", {"alpha": 1.5}), ("Gelu", None), ("Gelu", {"approximate": "tanh"}), ("Mish", None), ("Floor", None),
                       ("Ceil", None), ("Sin", None), ("Cos", None), ("Dropout", {"ratio": 0.3}), ("Identity", None),
                       ("Softmax", {"axis": 1}), ("LogSoftmax", None)]:
    node(op, [x], attributes)
for op in ["Sqrt", "Log", "Reciprocal"]:
    node(op, [positive])
node("Pow", [positive, param("exponent", [4, 1, 1])])
for op in ["Add", "Sub", "Mul"]:
    node(op, [x, param(f"{op.lower()}_operand", [4, 1, 6])])
relu = node("Relu", [x], output=False)
for op in ["Max", "Min", "Sum", "Mean"]:
    node(op, [x, relu, positive])
node("Div", [x, positive])
node("PRelu", [x, param("slope", [4, 1, 1])])
flat = node("Flatten", [x])
node("Flatten", [x], {"axis": 2})
node("Flatten", [x], {"axis": 0})
node("Gemm", [flat, param("fc.weight", [5, 144]), param("fc.bias", [5])], {"transB": 1})
node("Gemm", [flat, param("gemm_b", [144, 5]), param("gemm_c", [5])], {"alpha": 0.5, "beta": 2.0})
node("Gemm", [param("gemm_a", [3, 2]), param("gemm_bt", [4, 3])], {"transA": 1, "transB": 1})
rows = node("Reshape", [x], {"shape": [0, 4, -1]})
node("MatMul", [rows, param("matmul_b", [36, 3])])
node("Concat", [x, relu, positive], {"axis": 1})
node("Pad", [x], {"pads": [0, 0, 1, -1, 0, 0, 2, 1], "value": 0.5})
node("Pad", [x], {"pads": [0, 0, 1, 2, 0, 0, 2, 1], "mode": "reflect"})
node("Pad", [x], {"pads": [0, 0, 0, 3, 0, 0, 0, 1], "mode": "edge"})
node("Transpose", [x], {"perm": [0, 2, 3, 1]})
node("Transpose", [x])
node("Slice", [x], {"starts": [1, -1], "ends": [5, 0], "axes": [2, 3], "steps": [2, -2]})
node("Slice", [x], {"starts": [1], "ends": [100], "axes": [1]})
pooled = node("ReduceMean", [x], {"axes": [2]})
node("Squeeze", [pooled], {"axes": [2]})
node("Squeeze", [pooled])
node("Unsqueeze", [x], {"axes": [1, -1]})
node("Expand", [pooled], {"shape": [2, 4, 3, 6]})
node("Expand", [pooled], {"shape": [3, 1, 1, 1, 1]})
node("Gather", [x], {"indices": [3, 0], "indices_shape": [2], "axis": 1})
node("Gather", [x], {"indices": [-1], "axis": 3})
node("Gather", [x], {"indices": [0, 5, -2, 1], "indices_shape": [2, 2], "axis": 2})
node("DepthToSpace", [x], {"blocksize": 2})
node("DepthToSpace", [x], {"blocksize": 2, "mode": "CRD"})
node("SpaceToDepth", [x], {"blocksize": 2})
node("Tile", [x], {"repeats": [1, 1, 2, 1]})
node("ReduceMean", [x], {"axes": [2, 3], "keepdims": 0})
node("ReduceSum", [x], {"axes": [1]})
node("ReduceMax", [x], {"axes": [-1]})
node("ReduceMin", [x])
node("ReduceL2", [x], {"axes": [2]})
node("ArgMax", [x], {"axis": 1, "keepdims": 0})
node("ArgMin", [x], {"axis": 3, "select_last_index": 1})
node("LayerNormalization", [x, param("ln.weight", [6]), param("ln.bias", [6])])
node("LayerNormalization", [x, param("ln_scale", [4, 6, 6])], {"axis": 1, "epsilon": 0.001})
node("InstanceNormalization", [x, param("inorm.weight", [4]), param("inorm.bias", [4])])
node("GroupNormalization", [x, param("gn.weight", [4]), param("gn.bias", [4])], {"num_groups": 2})
node("GroupNormalization", [x, param("gn_scale", [4]), param("gn_shift", [4])], {"num_groups": 4, "epsilon": 0.01})
node("Resize", [x], {"sizes": [0, 0, 12, 9], "mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"})
node("Resize", [x], {"sizes": [0, 0, 11, 13], "mode": "nearest", "nearest_mode": "round_prefer_ceil"})
node("Resize", [x], {"sizes": [0, 0, 9, 12], "mode": "linear"})
node("Resize", [x], {"sizes": [0, 0, 9, 12], "mode": "linear", "coordinate_transformation_mode": "align_corners"})

graph = {"format": "lowpass-graph", "version": 1, "name": "ops",
         "inputs": [{"name": "x", "dtype": "f32", "shape": [2, 4, 6, 6]}], "outputs": outputs, "parameters": params, "nodes": nodes}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops.json"), "w") as f:
    json.dump(graph, f, indent=1)
    f.write("\n")
