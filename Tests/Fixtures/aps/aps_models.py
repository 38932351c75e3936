"""An independent PyTorch reference for adaptive polyphase sampling (APS; Chaman & Dokmanic, "Truly
shift-invariant convolutional neural networks", CVPR 2021) applied to four torchvision models, used by
the tests to check Lowpass's APS rewrite of the same models.

    python3 aps_models.py NAME --weights W.safetensors --input X.npy --output Y.npy \
        [--filter M] [--norm l2|l1] [--indices IDX.json]
    python3 aps_models.py --self-test

NAME is one of resnet18, resnet50, mobilenet_v2, densenet121. The rewrite, applied to torchvision's own
modules so that every parameter and buffer keeps its name and value (inference mode throughout):
- each strided conv followed by BatchNorm and ReLU/ReLU6 (ResNet stem and stride-2 block convs,
  MobileNetV2 features[0] and strided depthwise convs, DenseNet conv0) runs at stride 1, then BN, the
  activation and APS;
- MaxPool(3, 2, 1) becomes circular pad 1/1, MaxPool(3, 1), APS; DenseNet's transition AvgPool(2, 2)
  becomes circular pad 0/1, AvgPool(2, 1), blur, and the component APS chooses on the pool's input;
- ResNet's downsample shortcut blurs the block input, selects the component the block's main-path APS
  chose, then runs its 1x1 conv at stride 1 and BN;
- every conv with padding pads circularly (and runs at stride 1).
APS(t): blur t (binomial filter of size M, circular padding) when M > 1, pick per sample the polyphase
component with the largest l2 (or l1) norm, return that component.

--indices writes every index APS chose, in forward order: a list with one entry per APS site, each entry
the list of the per-sample indices (k = row_offset * 2 + column_offset).
"""
import argparse
import importlib.util
import json
import math
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck

_spec = importlib.util.spec_from_file_location(
    "run_exported", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pytorch", "run_exported.py"))
RUNNER = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(RUNNER)

MODELS = ("resnet18", "resnet50", "mobilenet_v2", "densenet121")


# ---------------------------------------------------------------------------------------------------
# The definitions

def polyphase_components(x, s):
    """[N, s*s, C, Ho, Wo]: component k = i*s + j holds x[n, c, (i + s*r) % H, (j + s*q) % W]."""
    _, _, height, width = x.shape
    rows_out, cols_out = math.ceil(height / s), math.ceil(width / s)
    components = []
    for i in range(s):
        rows = (i + s * torch.arange(rows_out)) % height
        for j in range(s):
            cols = (j + s * torch.arange(cols_out)) % width
            components.append(x[:, :, rows][:, :, :, cols])
    return torch.stack(components, dim=1)


def polyphase_index(x, s, norm="l2"):
    """Per sample, the component with the largest sum of v*v (l2) or |v| (l1), in float64; first max wins."""
    values = polyphase_components(x, s).to(torch.float64)
    values = values * values if norm == "l2" else values.abs()
    return values.flatten(start_dim=2).sum(dim=2).argmax(dim=1)


def polyphase_select(x, index, s):
    return polyphase_components(x, s)[torch.arange(x.shape[0]), index]


def blur(x, filter_size):
    """Depthwise normalized binomial filter at stride 1 with circular padding; identity for size 1."""
    if filter_size <= 1:
        return x
    taps = torch.tensor([math.comb(filter_size - 1, k) for k in range(filter_size)], dtype=x.dtype)
    taps = taps / taps.sum()
    channels = x.shape[1]
    kernel = torch.outer(taps, taps).expand(channels, 1, filter_size, filter_size).contiguous()
    before, after = (filter_size - 1) // 2, filter_size // 2
    return F.conv2d(F.pad(x, (before, after, before, after), mode="circular"), kernel, groups=channels)


def aps(t, filter_size, norm, s=2):
    """APS(t): blur, choose, select; returns the selected component and the chosen index."""
    t = blur(t, filter_size)
    index = polyphase_index(t, s, norm)
    return polyphase_select(t, index, s), index


# ---------------------------------------------------------------------------------------------------
# Modules for the rewrite (none holds a parameter or buffer, so the state_dict keys stay torchvision's)

class APS(nn.Module):
    def __init__(self, filter_size, norm):
        super().__init__()
        self.filter_size, self.norm = filter_size, norm
        self.last_index = None

    def forward(self, x):
        y, self.last_index = aps(x, self.filter_size, self.norm)
        return y

    def extra_repr(self):
        return f"filter_size={self.filter_size}, norm={self.norm}"


class CircularPad(nn.Module):
    def __init__(self, before, after):
        super().__init__()
        self.pads = (before, after, before, after)

    def forward(self, x):
        return F.pad(x, self.pads, mode="circular")


class CircularConv2d(nn.Conv2d):
    """A Conv2d at stride 1; with padding p > 0 it pads each axis circularly p before and
    k_eff - 1 - p after, k_eff = dilation * (k - 1) + 1, and convolves without padding."""

    @classmethod
    def from_conv(cls, conv):
        assert isinstance(conv.padding, tuple) and conv.padding_mode == "zeros", conv
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=1, padding=0,
                  dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None)
        new.weight, new.bias = conv.weight, conv.bias
        (ph, pw), (kh, kw), (dh, dw) = conv.padding, conv.kernel_size, conv.dilation
        new.pads = (pw, dw * (kw - 1) - pw, ph, dh * (kh - 1) - ph) if any(conv.padding) else (0, 0, 0, 0)
        return new

    def forward(self, x):
        if any(self.pads):
            x = F.pad(x, self.pads, mode="circular")
        return super().forward(x)


class AveragePoolAPS(nn.Module):
    """AvgPool(2, 2) -> circular pad 0/1, AvgPool(2, 1), blur, and the component chosen on the pool's
    input, a map of the same size (a box average makes its own components' norms nearly equal)."""

    def __init__(self, aps_module):
        super().__init__()
        self.filter_size, self.norm = aps_module.filter_size, aps_module.norm

    def forward(self, x):
        pooled = blur(F.avg_pool2d(F.pad(x, (0, 1, 0, 1), mode="circular"), 2, stride=1), self.filter_size)
        return polyphase_select(pooled, polyphase_index(x, 2, self.norm), 2)


class APSBasicBlock(BasicBlock):
    """A stride-2 BasicBlock: APS after conv1/bn1/relu; the shortcut reuses that APS's index."""

    def forward(self, x):
        out = self.aps(self.relu(self.bn1(self.conv1(x))))
        index = self.aps.last_index
        out = self.bn2(self.conv2(out))
        identity = self.downsample(polyphase_select(blur(x, self.aps.filter_size), index, 2))
        return self.relu(out + identity)


class APSBottleneck(Bottleneck):
    """A stride-2 Bottleneck: APS after conv2/bn2/relu; the shortcut reuses that APS's index."""

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.aps(self.relu(self.bn2(self.conv2(out))))
        index = self.aps.last_index
        out = self.bn3(self.conv3(out))
        identity = self.downsample(polyphase_select(blur(x, self.aps.filter_size), index, 2))
        return self.relu(out + identity)


def _circularize(module):
    """Every Conv2d becomes a CircularConv2d at stride 1 (sharing its parameters)."""
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            setattr(module, name, CircularConv2d.from_conv(child))
        else:
            _circularize(child)


def _strided(conv):
    assert isinstance(conv, nn.Conv2d) and conv.stride == (2, 2), conv
    return conv


def _rewrite_resnet(model, make_aps):
    _strided(model.conv1)
    model.relu = nn.Sequential(nn.ReLU(inplace=True), make_aps())  # the stem's only use of model.relu
    model.maxpool = nn.Sequential(CircularPad(1, 1), nn.MaxPool2d(3, stride=1), make_aps())
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in layer:
            if block.stride == 2:
                _strided(block.conv1 if isinstance(block, BasicBlock) else block.conv2)
                _strided(block.downsample[0])
                block.__class__ = APSBasicBlock if isinstance(block, BasicBlock) else APSBottleneck
                block.aps = make_aps()


def _rewrite_mobilenet_v2(model, make_aps):
    # features[0] and each strided depthwise conv are Conv2dNormActivation: Sequential(conv, BN, ReLU6).
    stages = [model.features[0]] + [block.conv[-3] for block in model.features[1:-1] if block.stride == 2]
    for stage in stages:
        _strided(stage[0])
        stage.append(make_aps())


def _rewrite_densenet(model, make_aps):
    features = model.features
    _strided(features.conv0)
    features.relu0 = nn.Sequential(nn.ReLU(inplace=True), make_aps())
    features.pool0 = nn.Sequential(CircularPad(1, 1), nn.MaxPool2d(3, stride=1), make_aps())
    for name, child in features.named_children():
        if name.startswith("transition"):
            child.pool = AveragePoolAPS(make_aps())


REWRITES = {"resnet18": _rewrite_resnet, "resnet50": _rewrite_resnet,
            "mobilenet_v2": _rewrite_mobilenet_v2, "densenet121": _rewrite_densenet}


def load_weights(model, state_dict):
    """load_state_dict allowing only BatchNorm's num_batches_tracked to be absent or extra."""
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    bad = [key for key in missing + unexpected if not key.endswith("num_batches_tracked")]
    if bad:
        raise KeyError(f"state_dict keys missing or unexpected: {bad[:8]}{' ...' if len(bad) > 8 else ''}")
    return model


def aps_model(name, state_dict, filter_size=1, norm="l2"):
    if name not in REWRITES:
        raise ValueError(f"unknown model {name}; expected one of {', '.join(MODELS)}")
    if norm not in ("l2", "l1") or not 1 <= filter_size <= 7:
        raise ValueError(f"norm must be l2 or l1 and filter size in 1...7, got {norm}, {filter_size}")
    model = load_weights(getattr(torchvision.models, name)(weights=None), state_dict)
    REWRITES[name](model, lambda: APS(filter_size, norm))
    _circularize(model)
    return model.eval()


def trace_indices(model):
    """A list that collects, in forward order, each APS site's per-sample indices."""
    trace = []
    for module in model.modules():
        if isinstance(module, APS):
            module.register_forward_hook(lambda m, _inputs, _output: trace.append(m.last_index.tolist()))
    return trace


# ---------------------------------------------------------------------------------------------------
# Self-test: exact invariance to circular shifts

def _random_state_dict(name, seed=7):
    """torchvision's seeded init with random BatchNorm scales and shifts, and running statistics
    measured on one random batch and then perturbed. (Kept at mean 0 / variance ~1, the statistics
    let MobileNetV2's signal shrink ~10x a stage: its output hardly depends on the input.)"""
    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None)
    generator = torch.Generator().manual_seed(seed + 1)
    norms = [module for module in model.modules() if isinstance(module, nn.BatchNorm2d)]
    for module in norms:
        module.weight.data.uniform_(0.5, 1.5, generator=generator)
        module.bias.data.uniform_(-0.2, 0.2, generator=generator)
        module.reset_running_stats()
        module.momentum = None  # a cumulative average: one batch's statistics
    with torch.no_grad():
        model.train()(torch.randn(8, 3, 64, 64, generator=generator))
    for module in norms:
        module.momentum = 0.1
        module.running_var.mul_(torch.empty_like(module.running_var).uniform_(0.8, 1.25, generator=generator))
    return model.eval(), {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


def _shift_error(model, x, shifts):
    """Largest over shifts of max |f(roll(x)) - f(x)| / max |f(x)|."""
    with torch.no_grad():
        reference = model(x)
        errors = [(model(torch.roll(x, shifts=shift, dims=(2, 3))) - reference).abs().max() / reference.abs().max()
                  for shift in shifts]
    return float(max(errors))


def self_test():
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 64, 64, generator=generator)
    shifts = [tuple(torch.randint(0, 64, (2,), generator=generator).tolist()) for _ in range(8)]
    shifts += [(dy, dx) for dy in range(4) for dx in range(4)]
    failures = 0
    with tempfile.TemporaryDirectory() as folder:
        for name in MODELS:
            plain, tensors = _random_state_dict(name)
            path = os.path.join(folder, name + ".safetensors")
            RUNNER.save_safetensors(tensors, path)
            loaded = RUNNER.load_safetensors(path)
            errors = {"plain": _shift_error(plain, x, shifts)}
            for filter_size, norm in [(1, "l2"), (3, "l2"), (3, "l1")]:
                model = aps_model(name, loaded, filter_size, norm)
                assert list(model.state_dict().keys()) == list(plain.state_dict().keys()), name
                errors[f"M={filter_size} {norm}"] = _shift_error(model, x, shifts)
            ok = errors["plain"] > 1e-2 and all(e <= 1e-5 for key, e in errors.items() if key != "plain")
            failures += not ok
            print(f"{'PASS' if ok else 'FAIL'} {name:13s} shift error over {len(shifts)} shifts: "
                  + ", ".join(f"{key} {e:.1e}" for key, e in errors.items()), flush=True)
    return failures == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", choices=MODELS)
    parser.add_argument("--weights")
    parser.add_argument("--input")
    parser.add_argument("--output")
    parser.add_argument("--filter", type=int, default=1)
    parser.add_argument("--norm", choices=["l2", "l1"], default="l2")
    parser.add_argument("--indices")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.self_test:
        return 0 if self_test() else 1
    if not (args.name and args.weights and args.input and args.output):
        parser.error("NAME, --weights, --input and --output are required")
    model = aps_model(args.name, RUNNER.load_safetensors(args.weights), args.filter, args.norm)
    trace = trace_indices(model)
    x = torch.from_numpy(np.load(args.input).astype(np.float32))
    with torch.no_grad():
        y = model(x)
    np.save(args.output, y.numpy().astype(np.float32))
    if args.indices:
        with open(args.indices, "w") as f:
            json.dump(trace, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
