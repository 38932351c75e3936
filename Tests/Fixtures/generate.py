#!/usr/bin/env python3
"""Generates Lowpass's PyTorch reference fixtures under Tests/Fixtures/.

What it makes
-------------
One folder per case, Tests/Fixtures/<case>/, holding
  graph.json            the case as a Lowpass graph file ("lowpass-graph", version 1)
  input.npy             the input "x", float32, C order (numpy.save)
  expected.npy          the output "y" as PyTorch computes it in float64, stored as float32
  weights.safetensors   the graph's parameters, float32 (only when the graph has any)
and Tests/Fixtures/manifest.json, a JSON list of the case folder names.

Cases:
  blurpool-m{1..7}-{reflect,replicate,zero}  one BlurPool node, input [2, 3, 9, 8], stride 2
  blurpool-padoff-stride3                    BlurPool M=3, pad_off=1, strides [3, 3], input [1, 2, 11, 10]
  maxblurpool                                MaxPool(k2, s1) then BlurPool(M=4), input [2, 4, 10, 10]
  small-convnet                              conv/BN/ReLU residual net -> pool -> GAP -> Gemm
  ops-mix                                    every remaining op (grouped dilated conv, Clip, HardSwish,
                                             SE branch with HardSigmoid, Pad, AveragePool/MaxPool with
                                             ceil_mode, Concat, Sigmoid, Dropout, Identity, Reshape,
                                             MatMul, Softmax, an inline constant)

Plus stand-alone reader fixtures directly in Tests/Fixtures/:
  python-written.safetensors  metadata {"producer": "generate.py"}; "a" f32 [2,3], "b.weight" f32 [4], "c" f64 [3]
  python-written.npy          float32 [2, 3, 4] = arange(24) / 10
  python-written-f64.npy      float64 [3] = [1.5, -2, 4]
  python-written-f16.npy      float16 [4] = [1, 0.5, -2, 65504]

BlurPool's reference is a copy of antialiased_cnns' Downsample (get_pad_layer + F.conv2d with a
depthwise binomial filter); the other ops are torch.nn / torch.nn.functional. Every case is then
re-checked against an independent NumPy interpreter of graph.json (ONNX semantics, written from
the op definitions, no torch), and the parameter lists against weights.safetensors.

How to rerun
------------
From the repository root:   python Tests/Fixtures/generate.py
Needs torch (CPU is enough), numpy and safetensors. Deterministic: each case seeds torch from its
own name, so the files are byte-for-byte the same on every run (given the same torch build), and
adding a case does not change the others. Case folders are deleted and rewritten; nothing else in
Tests/Fixtures/ is touched. The script exits non-zero if any check fails.
"""

import json
import math
import os
import shutil
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import safetensors.numpy
import safetensors.torch

HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------------------------
# BlurPool reference: antialiased_cnns (Zhang, ICML 2019), antialiased_cnns/blurpool.py
# --------------------------------------------------------------------------------------------

_TAPS = {
    1: [1.0],
    2: [1.0, 1.0],
    3: [1.0, 2.0, 1.0],
    4: [1.0, 3.0, 3.0, 1.0],
    5: [1.0, 4.0, 6.0, 4.0, 1.0],
    6: [1.0, 5.0, 10.0, 10.0, 5.0, 1.0],
    7: [1.0, 6.0, 15.0, 20.0, 15.0, 6.0, 1.0],
}


def get_pad_layer(pad_type):
    if pad_type in ["refl", "reflect"]:
        return nn.ReflectionPad2d
    if pad_type in ["repl", "replicate"]:
        return nn.ReplicationPad2d
    if pad_type == "zero":
        return nn.ZeroPad2d
    raise ValueError("Pad type [%s] not recognized" % pad_type)


class Downsample(nn.Module):
    """antialiased_cnns.Downsample, with `stride` allowed to be (sH, sW)."""

    def __init__(self, pad_type="reflect", filt_size=3, stride=2, channels=None, pad_off=0):
        super().__init__()
        self.filt_size = filt_size
        self.pad_off = pad_off
        # nn.*Pad2d order: (left, right, top, bottom); floor before, ceil after.
        self.pad_sizes = [int(1.0 * (filt_size - 1) / 2), int(np.ceil(1.0 * (filt_size - 1) / 2)),
                          int(1.0 * (filt_size - 1) / 2), int(np.ceil(1.0 * (filt_size - 1) / 2))]
        self.pad_sizes = [p + pad_off for p in self.pad_sizes]
        self.stride = stride
        self.channels = channels
        a = np.array(_TAPS[filt_size])
        filt = torch.Tensor(a[:, None] * a[None, :])
        filt = filt / torch.sum(filt)
        self.register_buffer("filt", filt[None, None, :, :].repeat((self.channels, 1, 1, 1)))
        self.pad = get_pad_layer(pad_type)(self.pad_sizes)

    def forward(self, inp):
        s = self.stride if isinstance(self.stride, tuple) else (self.stride, self.stride)
        if self.filt_size == 1:
            if self.pad_off == 0:
                return inp[:, :, ::s[0], ::s[1]]
            return self.pad(inp)[:, :, ::s[0], ::s[1]]
        return F.conv2d(self.pad(inp), self.filt.to(inp.dtype), stride=s, groups=inp.shape[1])


# --------------------------------------------------------------------------------------------
# Graph-file helpers
# --------------------------------------------------------------------------------------------

def seed_for(name):
    torch.manual_seed(zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF)


def node(name, op, inputs, outputs, attributes=None):
    n = {"name": name, "op": op, "inputs": list(inputs), "outputs": list(outputs)}
    if attributes:
        n["attributes"] = attributes
    return n


def graph_document(name, input_shape, nodes, weights=None, inline=None):
    """weights: ordered dict name -> float32 tensor (goes to weights.safetensors);
    inline: ordered dict name -> list of floats (carried in graph.json)."""
    weights = weights or {}
    inline = inline or {}
    doc = {"format": "lowpass-graph", "version": 1, "name": name}
    if weights:
        doc["weights"] = "weights.safetensors"
    doc["inputs"] = [{"name": "x", "dtype": "f32", "shape": ["N"] + list(input_shape[1:])}]
    doc["outputs"] = ["y"]
    params = [{"name": k, "dtype": "f32", "shape": list(v.shape)} for k, v in weights.items()]
    params += [{"name": k, "dtype": "f32", "shape": [len(v)], "data": [float(d) for d in v]}
               for k, v in inline.items()]
    doc["parameters"] = params
    doc["nodes"] = nodes
    return doc


def write_case(name, doc, x, expected, weights=None):
    folder = os.path.join(HERE, name)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    with open(os.path.join(folder, "graph.json"), "w") as f:
        f.write(json.dumps(doc, indent=2) + "\n")
    np.save(os.path.join(folder, "input.npy"),
            np.ascontiguousarray(x.detach().to(torch.float32).numpy()))
    np.save(os.path.join(folder, "expected.npy"),
            np.ascontiguousarray(expected.detach().to(torch.float32).numpy()))
    if weights:
        tensors = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in weights.items()}
        safetensors.torch.save_file(tensors, os.path.join(folder, "weights.safetensors"))
    return name


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------

def blurpool_case(name, m, mode, shape, strides=(2, 2), pad_off=0):
    seed_for(name)
    x = torch.randn(*shape, dtype=torch.float32)
    ref = Downsample(pad_type=mode, filt_size=m, stride=tuple(strides), channels=shape[1],
                     pad_off=pad_off).double().eval()
    with torch.no_grad():
        y = ref(x.double())
    attrs = {"filter_size": m, "pad_mode": mode}
    if tuple(strides) != (2, 2):
        attrs["strides"] = list(strides)
    if pad_off:
        attrs["pad_off"] = pad_off
    doc = graph_document(name, shape, [node("blur", "BlurPool", ["x"], ["y"], attrs)])
    return write_case(name, doc, x, y), tuple(y.shape)


def maxblurpool_case():
    name = "maxblurpool"
    seed_for(name)
    shape = (2, 4, 10, 10)
    x = torch.randn(*shape, dtype=torch.float32)
    model = nn.Sequential(nn.MaxPool2d(kernel_size=2, stride=1),
                          Downsample(pad_type="reflect", filt_size=4, stride=2, channels=4)).double().eval()
    with torch.no_grad():
        y = model(x.double())
    nodes = [
        node("max", "MaxPool", ["x"], ["m"], {"kernel_shape": [2, 2], "strides": [1, 1]}),
        node("blur", "BlurPool", ["m"], ["y"], {"filter_size": 4, "strides": [2, 2], "pad_mode": "reflect"}),
    ]
    doc = graph_document(name, shape, nodes)
    return write_case(name, doc, x, y), tuple(y.shape)


class SmallConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=True)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        r = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(r)) + r)
        h = self.pool(h)
        h = F.relu(self.conv3(h))
        h = F.adaptive_avg_pool2d(h, 1)
        return self.fc(torch.flatten(h, 1))


def small_convnet_case():
    name = "small-convnet"
    seed_for(name)
    shape = (2, 3, 12, 12)
    model = SmallConvNet()
    with torch.no_grad():
        for bn in (model.bn1, model.bn2):
            bn.running_mean.copy_(torch.randn(bn.num_features) * 0.1)
            bn.running_var.copy_(torch.rand(bn.num_features) + 0.5)
            bn.weight.copy_(torch.rand(bn.num_features) + 0.5)
            bn.bias.copy_(torch.randn(bn.num_features) * 0.1)
    model.eval()
    x = torch.randn(*shape, dtype=torch.float32)
    weights = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    with torch.no_grad():
        y = model.double().eval()(x.double())

    def bn(n, inp, out):
        return node(n, "BatchNormalization",
                    [inp, f"{n}.weight", f"{n}.bias", f"{n}.running_mean", f"{n}.running_var"], [out],
                    {"epsilon": 1e-5})

    nodes = [
        node("conv1", "Conv", ["x", "conv1.weight", "conv1.bias"], ["c1"],
             {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [1, 1]}),
        bn("bn1", "c1", "b1"),
        node("relu1", "Relu", ["b1"], ["r1"]),
        node("conv2", "Conv", ["r1", "conv2.weight"], ["c2"],
             {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [1, 1]}),
        bn("bn2", "c2", "b2"),
        node("add", "Add", ["b2", "r1"], ["s"]),
        node("relu2", "Relu", ["s"], ["r2"]),
        node("pool", "MaxPool", ["r2"], ["p"], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
        node("conv3", "Conv", ["p", "conv3.weight", "conv3.bias"], ["c3"],
             {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]}),
        node("relu3", "Relu", ["c3"], ["r3"]),
        node("gap", "GlobalAveragePool", ["r3"], ["g"]),
        node("flatten", "Flatten", ["g"], ["f"], {"axis": 1}),
        node("fc", "Gemm", ["f", "fc.weight", "fc.bias"], ["y"], {"alpha": 1.0, "beta": 1.0, "transB": 1}),
    ]
    doc = graph_document(name, shape, nodes, weights=weights)
    return write_case(name, doc, x, y, weights), tuple(y.shape)


def ops_mix_case():
    name = "ops-mix"
    seed_for(name)
    shape = (2, 4, 13, 11)
    x = torch.randn(*shape, dtype=torch.float32)
    w = {
        # Scales chosen so every nonlinearity sees both its linear part and its saturation:
        # Clip clips at 6, HardSwish and HardSigmoid see inputs beyond +-3, Sigmoid's input is O(1).
        "gconv.weight": torch.randn(8, 2, 3, 1) * 1.5,     # groups 2: 4 -> 8, kernel 3x1
        "gconv.bias": torch.randn(8) * 0.5,
        "dw.weight": torch.randn(8, 1, 3, 3) * 0.5,        # depthwise, groups 8
        "dw.bias": torch.randn(8) * 0.5,
        "se.reduce.weight": torch.randn(4, 8, 1, 1) * 1.0,
        "se.reduce.bias": torch.randn(4) * 0.5,
        "se.expand.weight": torch.randn(8, 4, 1, 1) * 2.0,
        "se.expand.bias": torch.randn(8) * 1.0,
        "head.weight": torch.randn(16 * 5 * 5, 5) * 0.3,   # MatMul B: [K, 5]
        "head.bias": torch.randn(5) * 0.5,
    }
    inline = {"half": [0.5]}

    # PyTorch, float64. Conv2d only pads symmetrically, so gconv's [top=1, left=0, bottom=2, right=1]
    # is an explicit F.pad (left, right, top, bottom) in front of it.
    d = {k: v.double() for k, v in w.items()}
    with torch.no_grad():
        h = F.conv2d(F.pad(x.double(), (0, 1, 1, 2)), d["gconv.weight"], d["gconv.bias"],
                     stride=1, dilation=(2, 2), groups=2)                       # [2, 8, 12, 12]
        h = torch.clamp(h, 0.0, 6.0)                                           # == F.relu6
        h = F.conv2d(h, d["dw.weight"], d["dw.bias"], stride=2, padding=1, groups=8)  # [2, 8, 6, 6]
        h = F.hardswish(h)
        s = F.adaptive_avg_pool2d(h, 1)
        s = F.relu(F.conv2d(s, d["se.reduce.weight"], d["se.reduce.bias"]))
        s = F.hardsigmoid(F.conv2d(s, d["se.expand.weight"], d["se.expand.bias"]))
        m = h * s                                                              # [2, 8, 6, 6]
        a = F.pad(m, (1, 1, 1, 1), mode="reflect")                             # [2, 8, 8, 8]
        a = F.avg_pool2d(a, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)  # [2, 8, 5, 5]
        b = F.pad(m, (2, 1, 1, 2), mode="replicate")                           # [2, 8, 9, 9]
        b = F.max_pool2d(b, 2, stride=2, padding=1, ceil_mode=True)            # [2, 8, 5, 5] (6 w/o the rule)
        c = torch.cat([a, b], dim=1)                                           # [2, 16, 5, 5]
        c = torch.sigmoid(c) * torch.tensor(inline["half"], dtype=torch.float64)
        c = F.dropout(c, p=0.25, training=False)
        c = nn.Identity()(c)
        c = c.reshape(c.shape[0], -1)                                          # [2, 400]
        y = torch.softmax(c @ d["head.weight"] + d["head.bias"], dim=1)        # [2, 5]

    nodes = [
        node("gconv", "Conv", ["x", "gconv.weight", "gconv.bias"], ["g"],
             {"kernel_shape": [3, 1], "strides": [1, 1], "pads": [1, 0, 2, 1], "dilations": [2, 2], "group": 2}),
        node("relu6", "Clip", ["g"], ["g6"], {"min": 0.0, "max": 6.0}),
        node("dw", "Conv", ["g6", "dw.weight", "dw.bias"], ["d"],
             {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "group": 8}),
        node("hswish", "HardSwish", ["d"], ["h"]),
        node("se.pool", "GlobalAveragePool", ["h"], ["se0"]),
        node("se.reduce", "Conv", ["se0", "se.reduce.weight", "se.reduce.bias"], ["se1"], {"kernel_shape": [1, 1]}),
        node("se.relu", "Relu", ["se1"], ["se2"]),
        node("se.expand", "Conv", ["se2", "se.expand.weight", "se.expand.bias"], ["se3"], {"kernel_shape": [1, 1]}),
        node("se.gate", "HardSigmoid", ["se3"], ["se4"], {"alpha": 1.0 / 6.0, "beta": 0.5}),
        node("se.scale", "Mul", ["h", "se4"], ["m"]),
        node("pad.reflect", "Pad", ["m"], ["ap"], {"pads": [0, 0, 1, 1, 0, 0, 1, 1], "mode": "reflect"}),
        node("avgpool", "AveragePool", ["ap"], ["a"],
             {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1, "count_include_pad": 0}),
        node("pad.edge", "Pad", ["m"], ["bp"], {"pads": [0, 0, 1, 2, 0, 0, 2, 1], "mode": "edge"}),
        node("maxpool", "MaxPool", ["bp"], ["b"],
             {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
        node("concat", "Concat", ["a", "b"], ["c"], {"axis": 1}),
        node("sigmoid", "Sigmoid", ["c"], ["sg"]),
        node("halve", "Mul", ["sg", "half"], ["hv"]),
        node("dropout", "Dropout", ["hv"], ["dr"], {"ratio": 0.25}),
        node("identity", "Identity", ["dr"], ["id"]),
        node("reshape", "Reshape", ["id"], ["r"], {"shape": [0, -1]}),
        node("head.matmul", "MatMul", ["r", "head.weight"], ["mm"]),
        node("head.add", "Add", ["mm", "head.bias"], ["logits"]),
        node("softmax", "Softmax", ["logits"], ["y"], {"axis": 1}),
    ]
    doc = graph_document(name, shape, nodes, weights=w, inline=inline)
    return write_case(name, doc, x, y, w), tuple(y.shape)


def reader_fixtures():
    metadata = {"producer": "generate.py"}
    tensors = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b.weight": np.array([0.5, -1.25, 3.0, 1e-3], dtype=np.float32),
        "c": np.array([1, 2, 3], dtype=np.float64),
    }
    safetensors.numpy.save_file(tensors, os.path.join(HERE, "python-written.safetensors"), metadata=metadata)
    np.save(os.path.join(HERE, "python-written.npy"), (np.arange(24, dtype=np.float32) / np.float32(10)).reshape(2, 3, 4))
    np.save(os.path.join(HERE, "python-written-f64.npy"), np.array([1.5, -2, 4], dtype=np.float64))
    np.save(os.path.join(HERE, "python-written-f16.npy"), np.array([1, 0.5, -2, 65504], dtype=np.float16))


# --------------------------------------------------------------------------------------------
# Independent check: a NumPy interpreter for graph.json (ONNX semantics, no torch)
# --------------------------------------------------------------------------------------------

def _pool_out(size, k, s, pb, pe, d, ceil_mode):
    span = d * (k - 1) + 1
    r = size + pb + pe - span
    assert r >= 0, "window larger than the padded input"
    if not ceil_mode:
        return r // s + 1
    out = -(-r // s) + 1
    if (out - 1) * s >= size + pb:    # the last window must start inside the input or leading padding
        out -= 1
    return out


def _window_indices(shape, k, s, pads, d, ceil_mode):
    """Output size and, per output row / column, the input rows / columns its window covers
    (negative or past the end: padding or ceil_mode overhang)."""
    _, _, hgt, wid = shape
    oh_n = _pool_out(hgt, k[0], s[0], pads[0], pads[2], d[0], ceil_mode)
    ow_n = _pool_out(wid, k[1], s[1], pads[1], pads[3], d[1], ceil_mode)
    rows = [[oh * s[0] - pads[0] + i * d[0] for i in range(k[0])] for oh in range(oh_n)]
    cols = [[ow * s[1] - pads[1] + j * d[1] for j in range(k[1])] for ow in range(ow_n)]
    return oh_n, ow_n, rows, cols


def _gather(x, rows, cols, fill):
    n, c, hgt, wid = x.shape
    patch = np.full((n, c, len(rows), len(cols)), fill, dtype=np.float64)
    valid = np.zeros((len(rows), len(cols)), dtype=bool)
    for i, r in enumerate(rows):
        for j, q in enumerate(cols):
            if 0 <= r < hgt and 0 <= q < wid:
                patch[:, :, i, j] = x[:, :, r, q]
                valid[i, j] = True
    return patch, valid


def np_conv(x, w, b, strides, pads, dilations, group):
    n, cin, hgt, wid = x.shape
    cout, cpg, kh, kw = w.shape
    assert cin == cpg * group and cout % group == 0
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (hgt + pads[0] + pads[2] - dilations[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (wid + pads[1] + pads[3] - dilations[1] * (kw - 1) - 1) // strides[1] + 1
    y = np.zeros((n, cout, oh, ow))
    opg = cout // group
    for g in range(group):
        xs = xp[:, g * cpg:(g + 1) * cpg]
        ws = w[g * opg:(g + 1) * opg]
        for i in range(kh):
            for j in range(kw):
                r0, c0 = i * dilations[0], j * dilations[1]
                tap = xs[:, :, r0:r0 + strides[0] * (oh - 1) + 1:strides[0], c0:c0 + strides[1] * (ow - 1) + 1:strides[1]]
                y[:, g * opg:(g + 1) * opg] += np.einsum("nchw,oc->nohw", tap, ws[:, :, i, j])
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def np_pool(x, kind, a):
    k = a["kernel_shape"]
    s = a.get("strides", [1, 1])
    pads = a.get("pads", [0, 0, 0, 0])
    d = a.get("dilations", [1, 1])
    ceil_mode = a.get("ceil_mode", 0)
    include_pad = a.get("count_include_pad", 0)
    assert not include_pad
    n, c, hgt, wid = x.shape
    oh_n, ow_n, rows, cols = _window_indices(x.shape, k, s, pads, d, ceil_mode)
    y = np.zeros((n, c, oh_n, ow_n))
    for oh in range(oh_n):
        for ow in range(ow_n):
            fill = -np.inf if kind == "MaxPool" else 0.0
            patch, valid = _gather(x, rows[oh], cols[ow], fill)
            if kind == "MaxPool":
                y[:, :, oh, ow] = patch.max(axis=(2, 3))
            else:
                y[:, :, oh, ow] = patch.sum(axis=(2, 3)) / valid.sum()
    return y


def np_blurpool(x, a):
    m = a.get("filter_size", 4)
    s = a.get("strides", [2, 2])
    mode = a.get("pad_mode", "reflect")
    off = a.get("pad_off", 0)
    pads = a.get("pads", [(m - 1) // 2 + off, (m - 1) // 2 + off, m // 2 + off, m // 2 + off])
    taps = np.array([math.comb(m - 1, i) for i in range(m)], dtype=np.float64)
    filt = np.outer(taps, taps)
    filt /= filt.sum()
    np_mode = {"reflect": "reflect", "replicate": "edge", "zero": "constant"}[mode]
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), mode=np_mode)
    c = x.shape[1]
    w = np.broadcast_to(filt, (c, 1, m, m))
    return np_conv(xp, w, None, s, [0, 0, 0, 0], [1, 1], c)


def np_run(doc, x, weights):
    env = {"x": x.astype(np.float64)}
    for p in doc["parameters"]:
        env[p["name"]] = (np.array(p["data"], dtype=np.float32) if "data" in p else weights[p["name"]]).astype(np.float64)
    for nd in doc["nodes"]:
        op, a = nd["op"], nd.get("attributes", {})
        ins = [env[i] for i in nd["inputs"]]
        if op == "Conv":
            b = ins[2] if len(ins) > 2 else None
            if "kernel_shape" in a:
                assert list(a["kernel_shape"]) == list(ins[1].shape[2:])
            y = np_conv(ins[0], ins[1], b, a.get("strides", [1, 1]), a.get("pads", [0] * 4),
                        a.get("dilations", [1, 1]), a.get("group", 1))
        elif op in ("MaxPool", "AveragePool"):
            y = np_pool(ins[0], op, a)
        elif op == "GlobalAveragePool":
            y = ins[0].mean(axis=(2, 3), keepdims=True)
        elif op == "BatchNormalization":
            xx, sc, bb, mu, var = ins
            r = lambda v: v.reshape(1, -1, 1, 1)
            y = (xx - r(mu)) / np.sqrt(r(var) + a.get("epsilon", 1e-5)) * r(sc) + r(bb)
        elif op == "Relu":
            y = np.maximum(ins[0], 0)
        elif op == "Clip":
            y = np.clip(ins[0], a.get("min", -np.inf), a.get("max", np.inf))
        elif op == "Sigmoid":
            y = 1 / (1 + np.exp(-ins[0]))
        elif op == "HardSigmoid":
            y = np.clip(a.get("alpha", 0.2) * ins[0] + a.get("beta", 0.5), 0, 1)
        elif op == "HardSwish":
            y = ins[0] * np.clip(ins[0] / 6 + 0.5, 0, 1)
        elif op in ("Identity", "Dropout"):
            y = ins[0]
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "Mul":
            y = ins[0] * ins[1]
        elif op == "Gemm":
            A = ins[0].T if a.get("transA", 0) else ins[0]
            B = ins[1].T if a.get("transB", 0) else ins[1]
            y = a.get("alpha", 1.0) * (A @ B)
            if len(ins) > 2:
                y = y + a.get("beta", 1.0) * ins[2]
        elif op == "MatMul":
            y = ins[0] @ ins[1]
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
        elif op == "Reshape":
            shp = [ins[0].shape[i] if v == 0 else v for i, v in enumerate(a["shape"])]
            y = ins[0].reshape(shp)
        elif op == "Concat":
            y = np.concatenate(ins, axis=a["axis"])
        elif op == "Pad":
            p = a["pads"]
            r = len(p) // 2
            mode = {"constant": "constant", "reflect": "reflect", "edge": "edge"}[a.get("mode", "constant")]
            widths = [(p[i], p[i + r]) for i in range(r)]
            kw = {"constant_values": a.get("value", 0.0)} if mode == "constant" else {}
            y = np.pad(ins[0], widths, mode=mode, **kw)
        elif op == "Softmax":
            ax = a.get("axis", -1)
            e = np.exp(ins[0] - ins[0].max(axis=ax, keepdims=True))
            y = e / e.sum(axis=ax, keepdims=True)
        elif op == "BlurPool":
            y = np_blurpool(ins[0], a)
        else:
            raise ValueError("no NumPy reference for op " + op)
        env[nd["outputs"][0]] = y
    return [env[o] for o in doc["outputs"]]


def check_case(name, expected_shape):
    folder = os.path.join(HERE, name)
    with open(os.path.join(folder, "graph.json")) as f:
        doc = json.load(f)
    keys = ["format", "version", "name"] + (["weights"] if "weights" in doc else []) + \
           ["inputs", "outputs", "parameters", "nodes"]
    assert list(doc.keys()) == keys, (name, list(doc.keys()))
    assert doc["name"] == name
    x = np.load(os.path.join(folder, "input.npy"))
    expected = np.load(os.path.join(folder, "expected.npy"))
    assert x.dtype == np.float32 and x.flags.c_contiguous
    assert expected.dtype == np.float32
    assert tuple(expected.shape) == tuple(expected_shape), (name, expected.shape, expected_shape)
    assert list(x.shape[1:]) == doc["inputs"][0]["shape"][1:]
    weights = {}
    has_file = os.path.exists(os.path.join(folder, "weights.safetensors"))
    stored = [p for p in doc["parameters"] if "data" not in p]
    assert has_file == bool(stored) == ("weights" in doc), name
    if has_file:
        weights = safetensors.numpy.load_file(os.path.join(folder, "weights.safetensors"))
        assert set(weights) == {p["name"] for p in stored}, (name, sorted(weights))
        for p in stored:
            t = weights[p["name"]]
            assert t.dtype == np.float32 and list(t.shape) == p["shape"], (name, p["name"], t.shape)
    for p in doc["parameters"]:
        if "data" in p:
            assert len(p["data"]) == int(np.prod(p["shape"]))
    used = {i for nd in doc["nodes"] for i in nd["inputs"]}
    assert {p["name"] for p in doc["parameters"]} <= used, name
    (y,) = np_run(doc, x, weights)
    assert y.shape == expected.shape, (name, y.shape, expected.shape)
    err = float(np.max(np.abs(y - expected.astype(np.float64))))
    scale = float(np.max(np.abs(y)))
    assert err <= 1e-6 * max(1.0, scale), (name, err)
    return err


def main():
    cases = []
    for m in range(1, 8):
        for mode in ("reflect", "replicate", "zero"):
            cases.append(blurpool_case(f"blurpool-m{m}-{mode}", m, mode, (2, 3, 9, 8)))
    cases.append(blurpool_case("blurpool-padoff-stride3", 3, "reflect", (1, 2, 11, 10), strides=(3, 3), pad_off=1))
    cases.append(maxblurpool_case())
    cases.append(small_convnet_case())
    cases.append(ops_mix_case())
    reader_fixtures()

    names = [c[0] for c in cases]
    assert len(set(names)) == len(names)
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        f.write(json.dumps(names, indent=2) + "\n")

    # Self-check: graph.json + weights, run by NumPy, must reproduce expected.npy.
    worst = 0.0
    for name, shape in cases:
        err = check_case(name, shape)
        worst = max(worst, err)
        print(f"{name:28s} y{list(shape)}  max |numpy - torch| = {err:.2e}")
    st = safetensors.numpy.load_file(os.path.join(HERE, "python-written.safetensors"))
    assert st["c"].dtype == np.float64 and st["a"].dtype == np.float32
    print(f"{len(names)} cases written; worst NumPy-vs-PyTorch difference {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
