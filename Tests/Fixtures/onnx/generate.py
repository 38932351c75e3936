#!/usr/bin/env python3
"""Generates Lowpass's ONNX import fixtures under Tests/Fixtures/onnx/.

What it makes (one set per case)
--------------------------------
  <case>.onnx           the model, exported by torch.onnx.export (TorchScript exporter, dynamo=False),
                        input "x", output "y"; opset 17, a dynamic batch axis "N" and the exporter's
                        default constant folding unless noted
  <case>.input.npy      float32 input (seeded torch.randn)
  <case>.expected.npy   float32 output of the PyTorch module in eval mode on that input
  external-data.bin     the weights of the external-data case (all initializers, one file)
  manifest.json         {"cases": [{"name", "blurs", "input_shape", "output_shape", "opset",
                                    "dynamic_batch", "external_data", "constant_folding",
                                    "import_error", "description"}, ...]}
                        "blurs" is the number of BlurPool nodes `lowpass import` must produce;
                        "import_error" is null, or the diagnostic code (e.g. "dynamic-constant")
                        that `lowpass import` currently rejects the case with (see KNOWN_IMPORT_ERRORS;
                        drop the entry there once the importer supports the case)

Cases
-----
  small-cnn      Conv(bias) + BatchNorm (randomized running stats and affine) + ReLU + MaxPool(3,2,1)
                 + Conv(stride 2) + ReLU6 + Hardswish + squeeze-excitation (AdaptiveAvgPool2d(1),
                 1x1 conv, Sigmoid, Mul) + AdaptiveAvgPool2d(1) + Flatten + Linear; input 2x3x16x16.
                 Exported with do_constant_folding=False: with folding on, the exporter's eval
                 peephole fuses the BatchNorm into the Conv and no BatchNormalization node is left
  aa-cnn         Conv + BN + ReLU + MaxPool(2, stride 1) + antialiased_cnns.BlurPool(filt 4, reflect)
                 + Conv + ReLU6 + BlurPool(filt 3, 'repl') + BlurPool(filt 5, 'zero') + global pool
                 + Flatten + Linear; input 2x3x24x24; 3 blurs
  lookalike      Conv + ReflectionPad2d + depthwise Conv2d(C, C, 4, stride 2, groups=C, bias=False)
                 with random (non-binomial) weights + ReLU + global pool + Linear: has a blur's
                 shape but must NOT be raised to BlurPool
  view-static    flattens with x.view(x.size(0), -1), exported WITHOUT dynamic axes (batch 2) and
                 with do_constant_folding=False. The TorchScript exporter (torch 2.13) traces
                 x.size(0) of a static input as a constant, so no Shape/Gather is emitted in a static
                 export whatever the flags; what is left is Constant/Unsqueeze/Concat -> Reshape
                 (with folding on it would be a single constant Reshape)
  view-dynamic   the same net (its own seed) WITH the dynamic batch axis: here the exporter emits the
                 Shape/Gather/Unsqueeze/Concat/Reshape chain on the symbolic batch
  opset11        small-cnn's architecture (its own seed) exported with opset_version=11 (and, like
                 small-cnn, do_constant_folding=False, so BatchNormalization stays)
  external-data  a small conv net saved with save_as_external_data=True, all_tensors_to_one_file,
                 location "external-data.bin", size_threshold=0

How to rerun
------------
From the repository root:   python3 Tests/Fixtures/onnx/generate.py
Needs torch (CPU is enough), antialiased_cnns, onnx, onnxruntime and numpy; no downloads. Every case
calls torch.manual_seed(<its own seed>) before building its module and input, so the weights and
inputs are deterministic; expected outputs are deterministic for a given torch build. After writing,
each .onnx is checked with onnx.checker (full_check) and run in onnxruntime against the expected
output; the script exits non-zero if any check fails. Only files in Tests/Fixtures/onnx/ are written.
"""

import json
import os
import sys
import types
import warnings

warnings.filterwarnings("ignore")
# Keep the import order of Tests/Fixtures/zoo/generate.py (torchvision is not needed here, but a
# stub is harmless and keeps antialiased_cnns' torchvision import working on CPU-only torch).
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import antialiased_cnns  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FAILURES = []


def randomize_bn(module):
    """Non-trivial eval-mode BatchNorm: random affine parameters and running statistics."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 1.5)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

class SqueezeExcite(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(c, c, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        return x * self.gate(self.fc(self.pool(x)))


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.relu6 = nn.ReLU6()
        self.hswish = nn.Hardswish()
        self.se = SqueezeExcite(16)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(self.relu(self.bn1(self.conv1(x))))
        x = self.hswish(self.relu6(self.conv2(x)))
        x = self.se(x)
        return self.fc(self.flatten(self.gap(x)))


class AACNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(2, stride=1)                                   # 24 -> 23
        self.blur1 = antialiased_cnns.BlurPool(8, filt_size=4, stride=2)           # reflect, 23 -> 12
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.relu6 = nn.ReLU6()
        self.blur2 = antialiased_cnns.BlurPool(16, pad_type='repl', filt_size=3, stride=2)  # 12 -> 6
        self.blur3 = antialiased_cnns.BlurPool(16, pad_type='zero', filt_size=5, stride=2)  # 6 -> 3
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.blur1(self.maxpool(self.relu(self.bn1(self.conv1(x)))))
        x = self.blur3(self.blur2(self.relu6(self.conv2(x))))
        return self.fc(self.flatten(self.gap(x)))


class Lookalike(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.pad = nn.ReflectionPad2d((1, 2, 1, 2))                                # BlurPool(filt 4)'s pads
        self.dw = nn.Conv2d(8, 8, 4, stride=2, groups=8, bias=False)              # random, not binomial
        self.relu = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.relu(self.dw(self.pad(self.conv1(x))))
        return self.fc(self.flatten(self.gap(x)))


class ViewStatic(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = self.relu(self.conv2(self.relu(self.conv1(x))))
        x = x.view(x.size(0), -1)
        return self.fc(x)


class ExternalData(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.relu(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.fc(self.flatten(self.gap(x)))


# --------------------------------------------------------------------------------------------
# Cases: (name, seed, constructor, input shape, opset, dynamic batch, external data, description)
# --------------------------------------------------------------------------------------------

CASES = [
    ("small-cnn", 101, SmallCNN, (2, 3, 16, 16), 17, True, False, False,
     "Conv+BN+ReLU+MaxPool+strided Conv+ReLU6+Hardswish+squeeze-excitation+GAP+Flatten+Linear"),
    ("aa-cnn", 102, AACNN, (2, 3, 24, 24), 17, True, False, True,
     "antialiased_cnns BlurPool: filt 4 reflect, filt 3 replicate, filt 5 zero"),
    ("lookalike", 103, Lookalike, (2, 3, 16, 16), 17, True, False, True,
     "ReflectionPad + depthwise 4x4 stride-2 Conv with random weights: not a blur"),
    ("view-static", 104, ViewStatic, (2, 3, 16, 16), 17, False, False, False,
     "x.view(x.size(0), -1) with a static batch of 2: Constant/Unsqueeze/Concat/Reshape"),
    ("view-dynamic", 107, ViewStatic, (2, 3, 16, 16), 17, True, False, True,
     "x.view(x.size(0), -1) with a dynamic batch: Shape/Gather/Unsqueeze/Concat/Reshape"),
    ("opset11", 105, SmallCNN, (2, 3, 16, 16), 11, True, False, False,
     "small-cnn's architecture exported with opset 11"),
    ("external-data", 106, ExternalData, (2, 3, 16, 16), 17, True, True, True,
     "weights in external-data.bin (save_as_external_data, one file, size_threshold=0)"),
]


# Cases the importer rejects today, by design, with the given diagnostic code:
#   view-dynamic  "node '/Shape': Shape of a tensor with a symbolic dimension cannot be folded; export
#                 with static shapes or without the Shape op [dynamic-constant]"
KNOWN_IMPORT_ERRORS = {}


def count_blurpools(module):
    return sum(1 for m in module.modules() if isinstance(m, antialiased_cnns.BlurPool))


def export(model, x, path, opset, dynamic, fold):
    kwargs = dict(dynamo=False, opset_version=opset, input_names=["x"], output_names=["y"],
                  do_constant_folding=fold)
    if dynamic:
        kwargs["dynamic_axes"] = {"x": {0: "N"}, "y": {0: "N"}}
    torch.onnx.export(model, (x,), path, **kwargs)


def build(name, seed, ctor, shape, opset, dynamic, external, fold):
    torch.manual_seed(seed)
    model = ctor()
    randomize_bn(model)
    model.eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        y = model(x)

    onnx_path = os.path.join(HERE, name + ".onnx")
    export(model, x, onnx_path, opset, dynamic, fold)
    if external:
        m = onnx.load(onnx_path)
        bin_path = os.path.join(HERE, "external-data.bin")
        if os.path.exists(bin_path):
            os.remove(bin_path)  # onnx appends to an existing data file
        onnx.save_model(m, onnx_path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="external-data.bin", size_threshold=0)
        os.chmod(bin_path, 0o644)

    np.save(os.path.join(HERE, name + ".input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(HERE, name + ".expected.npy"), y.numpy().astype(np.float32))

    # Self-checks: the file is valid ONNX and onnxruntime agrees with PyTorch.
    try:
        onnx.checker.check_model(onnx_path, full_check=True)
    except Exception as e:  # noqa: BLE001
        FAILURES.append(f"{name}: onnx.checker: {e}")
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    got = sess.run(["y"], {"x": x.numpy()})[0]
    rel = float(np.max(np.abs(got - y.numpy())) / np.max(np.abs(y.numpy())))
    if not rel < 1e-5:
        FAILURES.append(f"{name}: onnxruntime differs from PyTorch (rel {rel:.3g})")

    ops = sorted({n.op_type for n in onnx.load(onnx_path, load_external_data=False).graph.node})
    print(f"{name:14s} opset {opset}  ops: {' '.join(ops)}  ort rel diff {rel:.2e}")
    return {
        "name": name,
        "blurs": count_blurpools(model),
        "input_shape": list(shape),
        "output_shape": list(y.shape),
        "opset": opset,
        "dynamic_batch": dynamic,
        "external_data": "external-data.bin" if external else None,
        "constant_folding": fold,
        "import_error": KNOWN_IMPORT_ERRORS.get(name),
        "description": desc_of(name),
    }


def desc_of(name):
    return next(c[8] for c in CASES if c[0] == name)


def main():
    entries = [build(*case[:8]) for case in CASES]
    for name, wanted in [("small-cnn", {"BatchNormalization"}), ("opset11", {"BatchNormalization"}),
                         ("view-static", {"Unsqueeze", "Concat", "Reshape"}),
                         ("view-dynamic", {"Shape", "Gather", "Unsqueeze", "Concat", "Reshape"})]:
        ops = {n.op_type for n in onnx.load(os.path.join(HERE, name + ".onnx")).graph.node}
        if wanted - ops:
            FAILURES.append(f"{name}: exporter did not emit {sorted(wanted - ops)}")
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump({"cases": entries}, f, indent=2)
        f.write("\n")
    if FAILURES:
        for msg in FAILURES:
            print("CHECK FAILED:", msg)
        sys.exit(1)


if __name__ == "__main__":
    main()
