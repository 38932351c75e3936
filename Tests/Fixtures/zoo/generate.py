#!/usr/bin/env python3
"""Generates Lowpass's model-zoo reference fixtures under Tests/Fixtures/zoo/.

What it makes
-------------
  reference.json          one entry per zoo model (torchvision + timm ResNet-RS), keyed by model name:
                            {"source": "torchvision" | "timm",
                             "input_size": [3, H, W],       224 for torchvision, timm's pretrained_cfg
                                                            input_size for resnetrs*
                             "parameters": sum of p.numel() over model.parameters(),
                             "state_tensors": number of floating-point state_dict entries,
                             "signature": FNV-1a 64 (16 lowercase hex digits) of the floating
                                          state_dict entries sorted by name, one line each
                                          "NAME:D0xD1x...\\n" (a 0-d tensor has an empty dim string)}
  recipe-check.json       first 4 values of the seeded weight recipe (below) for
                          recipe("conv1.weight", [64,3,7,7]), recipe("input", [1,3,224,224]) and
                          recipe("bn1.running_var", [64]), as float32 bit patterns "0x%08x"
  <model>.expected.npy    float32 [1, 1000] logits for resnet18, mobilenet_v2, densenet121, vgg11_bn
                          (torchvision, input 224) and resnetrs50 (timm, input 160): every floating
                          state_dict entry is filled by recipe(name, shape), model in eval mode,
                          model and input converted to float64, input = recipe("input", [1,3,H,W]);
                          the float64 output is rounded to float32
  antialiased/<model>.txt structure goldens of antialiased_cnns.<model>(pretrained=False, filter_size=4):
                          the leaf modules in registration order (model.named_modules(); a BlurPool
                          counts as a leaf and its inner pad module is not listed), one per line
                          "NAME TYPE key=value ..."
  antialiased/<model>.expected.npy
                          float32 [1, 1000] logits of antialiased_cnns.<model>(pretrained=False,
                          filter_size=4) (default arguments otherwise: pool_only=True, except alexnet
                          whose default is pool_only=False) for the models in AA_NUMERIC below. The
                          torchvision baseline <model>(weights=None) is filled from the recipe exactly as
                          for <model>.expected.npy, then antialiased_cnns.copy_params_buffers(baseline,
                          aa) copies its parameters and buffers into the antialiased model (in order;
                          the BlurPool "filt" buffers keep their binomial values); both are converted to
                          float64 and run in eval mode on recipe("input", [1,3,H,W]); the float64 output
                          is rounded to float32
  antialiased/inputs.json the input size [3, H, W] used for each antialiased/<model>.expected.npy

Seeded weight recipe (must be reproduced bit for bit by the Swift side)
-----------------------------------------------------------------------
  fnv1a64(bytes): h = 0xcbf29ce484222325; for each byte b: h = (h ^ b) * 0x100000001b3 mod 2^64
  seed = fnv1a64(UTF-8 of the tensor name)
  element i (0-based, C order), all uint64 arithmetic mod 2^64 (splitmix64 finaliser):
    z = seed + (i + 1) * 0x9E3779B97F4A7C15
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    z = z ^ (z >> 31)
    u = Double(z >> 40) / 2^24                      (exact; u in [0, 1) with 24 bits)
  value, computed in float64 with exactly these operations (IEEE, round to nearest), then rounded
  once to float32; the first rule that matches wins:
    name == "input"                    (2*u - 1)
    name ends with "running_var"       0.5 + u
    name ends with "running_mean"      ((2*u - 1) * 0.1)
    rank 1 and name ends with "weight" 0.8 + (0.4 * u)
    rank 1 and name ends with "bias"   ((2*u - 1) * 0.1)
    rank >= 2                          ((2*u - 1) * s),  s = sqrt(6.0 / fan_in) in float64,
                                       fan_in = product of shape[1:]
    anything else                      ((2*u - 1) * 0.1)
  ("2*u - 1" is exact in float64; 0.1, 0.4, 0.8 are the float64 literals.)

How to rerun
------------
From the repository root:   python Tests/Fixtures/zoo/generate.py
Only the antialiased numeric references (antialiased/*.expected.npy, antialiased/inputs.json):
                            python Tests/Fixtures/zoo/generate.py --antialiased-only
Needs torch (CPU is enough), torchvision, timm, antialiased_cnns and numpy. No downloads: every model
is built with random init (weights=None / pretrained=False) and the numeric models are then filled
entirely from the recipe, so the outputs do not depend on torch's RNG. reference.json,
recipe-check.json and antialiased/*.txt are byte-for-byte deterministic; the *.expected.npy files are
deterministic for a given torch build (float64 convolution order may differ across builds, far below
float32 resolution). Only files in Tests/Fixtures/zoo/ are written. Exits non-zero if a check fails.
"""

import contextlib
import io
import json
import math
import os
import sys
import types
import warnings

warnings.filterwarnings("ignore")
# torchvision's compiled ops do not load with a CPU-only torch build; the model definitions do not
# need them, so stub out the module that registers them before importing torchvision.
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torchvision  # noqa: E402
import timm  # noqa: E402
import antialiased_cnns  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FAILURES = []


def check(cond, msg):
    if not cond:
        FAILURES.append(msg)
        print("CHECK FAILED:", msg)


# --------------------------------------------------------------------------------------------
# FNV-1a 64 and the seeded weight recipe
# --------------------------------------------------------------------------------------------

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB


def fnv1a64(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def recipe_u(name, n):
    """u_i for i in [0, n), float64, vectorised in numpy uint64 (wrapping) arithmetic."""
    seed = np.uint64(fnv1a64(name))
    z = np.arange(1, n + 1, dtype=np.uint64) * np.uint64(GOLDEN)
    z = z + seed
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def recipe_rule(name, shape):
    """(kind, scale) of the rule that applies; kind in {"sym", "var", "scale"}."""
    rank = len(shape)
    if name == "input":
        return "sym", None
    if name.endswith("running_var"):
        return "var", None
    if name.endswith("running_mean"):
        return "sym", 0.1
    if rank == 1 and name.endswith("weight"):
        return "scale", None
    if rank == 1 and name.endswith("bias"):
        return "sym", 0.1
    if rank >= 2:
        fan_in = int(np.prod(shape[1:], dtype=np.int64))
        return "sym", math.sqrt(6.0 / fan_in)
    return "sym", 0.1


def recipe(name, shape):
    shape = [int(d) for d in shape]
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    u = recipe_u(name, n)
    kind, s = recipe_rule(name, shape)
    if kind == "var":
        v = 0.5 + u
    elif kind == "scale":
        v = 0.8 + (0.4 * u)
    else:
        v = 2.0 * u - 1.0
        if s is not None:
            v = v * s
    return v.astype(np.float32).reshape(shape)


def recipe_scalar(name, shape, i):
    """Pure-Python integer/float reference for one element (cross-checks the numpy version)."""
    z = (fnv1a64(name) + (i + 1) * GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * MIX1) & MASK64
    z = ((z ^ (z >> 27)) * MIX2) & MASK64
    z = z ^ (z >> 31)
    u = float(z >> 40) / 16777216.0
    kind, s = recipe_rule(name, list(shape))
    if kind == "var":
        v = 0.5 + u
    elif kind == "scale":
        v = 0.8 + 0.4 * u
    else:
        v = 2.0 * u - 1.0
        if s is not None:
            v = v * s
    return np.float32(v)


def f32_hex(x):
    return "0x%08x" % int(np.float32(x).view(np.uint32))


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

TORCHVISION = [
    "alexnet",
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "resnext101_32x8d",
    "wide_resnet50_2", "wide_resnet101_2",
    "densenet121", "densenet161", "densenet169", "densenet201",
    "mobilenet_v2",
]
TIMM = ["resnetrs50", "resnetrs101", "resnetrs152", "resnetrs200", "resnetrs270", "resnetrs350", "resnetrs420"]
NUMERIC = ["resnet18", "mobilenet_v2", "densenet121", "vgg11_bn", "resnetrs50"]
ANTIALIASED = [
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "alexnet", "densenet121", "densenet161", "densenet169", "densenet201", "mobilenet_v2",
]
# antialiased numeric references: model -> input size [3, H, W]
AA_NUMERIC = {
    "resnet18": [3, 96, 96], "resnet50": [3, 96, 96], "resnext50_32x4d": [3, 96, 96],
    "wide_resnet50_2": [3, 96, 96], "densenet121": [3, 96, 96], "mobilenet_v2": [3, 96, 96],
    "alexnet": [3, 224, 224], "vgg11_bn": [3, 224, 224],
}
EXPECTED_PARAMS = {"resnet50": 25557032, "mobilenet_v2": 3504872, "densenet121": 7978856}


def build(name):
    """(model, source, input_size). Random init; nothing is downloaded."""
    torch.manual_seed(0)
    if name in TORCHVISION:
        return getattr(torchvision.models, name)(weights=None), "torchvision", [3, 224, 224]
    if name in TIMM:
        m = timm.create_model(name, pretrained=False)
        return m, "timm", [int(d) for d in m.pretrained_cfg["input_size"]]
    raise KeyError(name)


def floating_state(model):
    sd = model.state_dict()
    return {k: v for k, v in sd.items() if torch.is_floating_point(v)}


def signature(fsd):
    text = "".join("%s:%s\n" % (k, "x".join(str(d) for d in fsd[k].shape)) for k in sorted(fsd))
    return "%016x" % fnv1a64(text)


def reference_entry(name):
    model, source, input_size = build(name)
    fsd = floating_state(model)
    return model, {
        "source": source,
        "input_size": input_size,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "state_tensors": len(fsd),
        "signature": signature(fsd),
    }


def run_numeric(name, model, input_size):
    sd = model.state_dict()
    filled = {}
    for k, v in sd.items():
        if torch.is_floating_point(v):
            filled[k] = torch.from_numpy(recipe(k, list(v.shape)))
        else:
            filled[k] = v  # num_batches_tracked: unused in eval mode
    model.load_state_dict(filled, strict=True)
    model.eval().double()
    x = torch.from_numpy(recipe("input", [1] + list(input_size))).double()
    with torch.no_grad():
        y = model(x)
    y = y.numpy()
    out = y.astype(np.float32)
    np.save(os.path.join(HERE, "%s.expected.npy" % name), out)
    stats = {
        "shape": list(out.shape),
        "max_abs": float(np.abs(y).max()),
        "mean": float(y.mean()),
        "std": float(y.std()),
        "finite": bool(np.isfinite(y).all()),
    }
    check(stats["finite"], "%s: non-finite logits" % name)
    check(list(out.shape) == [1, 1000], "%s: output shape %s" % (name, out.shape))
    check(stats["std"] > 1e-3, "%s: logits all tiny (std %g)" % (name, stats["std"]))
    return stats


# --------------------------------------------------------------------------------------------
# antialiased_cnns structure goldens
# --------------------------------------------------------------------------------------------

def _t(v):
    if isinstance(v, (tuple, list)):
        return "x".join(str(int(a)) for a in v)
    return str(v)


def describe(mod):
    t = type(mod).__name__
    if isinstance(mod, antialiased_cnns.BlurPool):
        pad = {nn.ReflectionPad2d: "reflect", nn.ReplicationPad2d: "replicate", nn.ZeroPad2d: "zero"}.get(
            type(mod.pad), type(mod.pad).__name__)
        return "BlurPool channels=%d filt_size=%d stride=%d pad_off=%d pad=%s pad_sizes=%s" % (
            mod.channels, mod.filt_size, mod.stride, mod.pad_off, pad, _t(mod.pad_sizes))
    if isinstance(mod, nn.Conv2d):
        return "Conv2d in=%d out=%d kernel=%s stride=%s padding=%s dilation=%s groups=%d bias=%s" % (
            mod.in_channels, mod.out_channels, _t(mod.kernel_size), _t(mod.stride), _t(mod.padding),
            _t(mod.dilation), mod.groups, "yes" if mod.bias is not None else "no")
    if isinstance(mod, nn.BatchNorm2d):
        return "BatchNorm2d num_features=%d eps=%g" % (mod.num_features, mod.eps)
    if isinstance(mod, nn.MaxPool2d):
        return "MaxPool2d kernel=%s stride=%s padding=%s dilation=%s ceil_mode=%s" % (
            _t(mod.kernel_size), _t(mod.stride), _t(mod.padding), _t(mod.dilation), mod.ceil_mode)
    if isinstance(mod, nn.AvgPool2d):
        return "AvgPool2d kernel=%s stride=%s padding=%s ceil_mode=%s count_include_pad=%s" % (
            _t(mod.kernel_size), _t(mod.stride), _t(mod.padding), mod.ceil_mode, mod.count_include_pad)
    if isinstance(mod, nn.AdaptiveAvgPool2d):
        return "AdaptiveAvgPool2d output=%s" % _t(mod.output_size)
    if isinstance(mod, nn.Linear):
        return "Linear in=%d out=%d bias=%s" % (mod.in_features, mod.out_features,
                                                "yes" if mod.bias is not None else "no")
    if isinstance(mod, nn.Dropout):
        return "Dropout p=%g" % mod.p
    return t  # ReLU, ReLU6, Identity, ... (no attributes that matter)


def antialiased_lines(model):
    lines = []
    skip_prefix = None
    for name, mod in model.named_modules():
        if skip_prefix is not None and name.startswith(skip_prefix):
            continue
        skip_prefix = None
        if isinstance(mod, antialiased_cnns.BlurPool):
            lines.append("%s %s" % (name, describe(mod)))
            skip_prefix = name + "."
        elif len(list(mod.children())) == 0:
            lines.append("%s %s" % (name, describe(mod)))
    return lines


# --------------------------------------------------------------------------------------------
# antialiased_cnns numeric references
# --------------------------------------------------------------------------------------------

def fill_from_recipe(model):
    """Every floating state_dict entry := recipe(name, shape) (same fill as run_numeric)."""
    sd = model.state_dict()
    filled = {}
    for k, v in sd.items():
        if torch.is_floating_point(v):
            filled[k] = torch.from_numpy(recipe(k, list(v.shape)))
        else:
            filled[k] = v  # num_batches_tracked: unused in eval mode
    model.load_state_dict(filled, strict=True)


def run_antialiased_numeric(name, input_size):
    baseline, _, _ = build(name)
    fill_from_recipe(baseline)
    baseline.eval()
    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):  # antialiased_cnns prints "Not initializing"
        aa = getattr(antialiased_cnns, name)(pretrained=False, filter_size=4)
    aa.eval()
    blurs = [m for m in aa.modules() if isinstance(m, antialiased_cnns.BlurPool)]
    filt_ids = {id(m.filt) for m in blurs}
    filt_before = [m.filt.clone() for m in blurs]

    # antialiased_cnns' own copy: parameters zipped in order; each baseline buffer goes to the next
    # antialiased buffer (in order) of the same shape, skipping the BlurPool filters.
    antialiased_cnns.copy_params_buffers(baseline, aa)

    # the copy really happened: every parameter / non-filt buffer equals the baseline's, by order
    bp, ap = list(baseline.parameters()), list(aa.parameters())
    check(len(bp) == len(ap), "%s: %d baseline vs %d antialiased parameters" % (name, len(bp), len(ap)))
    for i, (b, a) in enumerate(zip(bp, ap)):
        check(b.shape == a.shape and torch.equal(b, a), "%s: parameter #%d differs after copy" % (name, i))
    bb = list(baseline.buffers())
    ab = [t for t in aa.buffers() if id(t) not in filt_ids]
    check(len(bb) == len(ab), "%s: %d baseline vs %d antialiased non-filt buffers" % (name, len(bb), len(ab)))
    for i, (b, a) in enumerate(zip(bb, ab)):
        check(b.shape == a.shape and torch.equal(b, a), "%s: buffer #%d differs after copy" % (name, i))
    k1 = torch.tensor([1.0, 3.0, 3.0, 1.0])
    binom = (k1[:, None] * k1[None, :]) / 64.0
    for m, before in zip(blurs, filt_before):
        check(torch.equal(m.filt, before) and torch.equal(m.filt[:, 0], binom.expand_as(m.filt[:, 0])),
              "%s: a BlurPool filter changed" % name)

    # smallest spatial extent any BlurPool sees (reflect padding needs pad < extent)
    seen = []
    hooks = [m.register_forward_pre_hook(lambda mod, inp: seen.append(
        (min(inp[0].shape[2:]), max(mod.pad_sizes)))) for m in blurs]

    baseline.double()
    aa.double()
    x = torch.from_numpy(recipe("input", [1] + list(input_size))).double()
    with torch.no_grad():
        y = aa(x).numpy()
        yb = baseline(x).numpy()
    for h in hooks:
        h.remove()
    out = y.astype(np.float32)
    np.save(os.path.join(HERE, "antialiased", "%s.expected.npy" % name), out)
    min_extent = min(e for e, _ in seen)
    check(all(e > p for e, p in seen), "%s: a BlurPool input is too small for its reflect padding" % name)
    stats = {
        "shape": list(out.shape),
        "max_abs": float(np.abs(y).max()),
        "mean": float(y.mean()),
        "std": float(y.std()),
        "finite": bool(np.isfinite(y).all()),
        "blurpools": len(blurs),
        "min_blur_input": int(min_extent),
        "baseline_max_abs": float(np.abs(yb).max()),
        "max_abs_diff_vs_baseline": float(np.abs(y - yb).max()),
    }
    check(stats["finite"], "%s (antialiased): non-finite logits" % name)
    check(list(out.shape) == [1, 1000], "%s (antialiased): output shape %s" % (name, out.shape))
    check(stats["std"] > 1e-3, "%s (antialiased): logits all tiny (std %g)" % (name, stats["std"]))
    check(stats["max_abs_diff_vs_baseline"] > 0.0, "%s (antialiased): identical to the baseline" % name)
    return stats


def antialiased_numeric():
    adir = os.path.join(HERE, "antialiased")
    os.makedirs(adir, exist_ok=True)
    for name, input_size in AA_NUMERIC.items():
        stats = run_antialiased_numeric(name, input_size)
        print("antialiased %-16s %-14s %s" % (name, input_size, json.dumps(stats)))
    with open(os.path.join(adir, "inputs.json"), "w") as f:  # one model per line
        f.write("{\n" + ",\n".join("  %s: %s" % (json.dumps(k), json.dumps(v)) for k, v in AA_NUMERIC.items())
                + "\n}\n")


# --------------------------------------------------------------------------------------------

def main():
    torch.set_num_threads(1)
    os.makedirs(HERE, exist_ok=True)
    antialiased_only = "--antialiased-only" in sys.argv[1:]
    unknown = [a for a in sys.argv[1:] if a != "--antialiased-only"]
    if unknown:
        sys.exit("usage: generate.py [--antialiased-only]  (unknown argument(s): %s)" % " ".join(unknown))
    if antialiased_only:
        antialiased_numeric()
        if FAILURES:
            print("%d check(s) failed" % len(FAILURES))
            sys.exit(1)
        print("all checks passed")
        return

    # 1. recipe self-check ------------------------------------------------------------------
    checks = {"conv1.weight": [64, 3, 7, 7], "input": [1, 3, 224, 224], "bn1.running_var": [64]}
    rc = {}
    for name, shape in checks.items():
        vals = recipe(name, shape).reshape(-1)
        first = vals[:4]
        # cross-check numpy against the pure-Python reference at a few indices (incl. the last)
        n = vals.size
        for i in [0, 1, 2, 3, n // 2, n - 1]:
            check(vals[i].view(np.uint32) == recipe_scalar(name, shape, i).view(np.uint32),
                  "recipe numpy vs scalar mismatch %s[%d]" % (name, i))
        rc[name] = [f32_hex(v) for v in first]
        print("recipe(%r, %s)[:4] = %s  %s  (seed 0x%016x)" % (
            name, shape, [float(v) for v in first], rc[name], fnv1a64(name)))
    with open(os.path.join(HERE, "recipe-check.json"), "w") as f:
        json.dump(rc, f, indent=2)
        f.write("\n")

    # 2. reference.json + 3. numeric references ----------------------------------------------
    reference = {}
    stats = {}
    for name in TORCHVISION + TIMM:
        model, entry = reference_entry(name)
        reference[name] = entry
        print("%-18s %-11s %-14s params=%12d state=%5d sig=%s" % (
            name, entry["source"], entry["input_size"], entry["parameters"], entry["state_tensors"],
            entry["signature"]))
        if name in EXPECTED_PARAMS:
            check(entry["parameters"] == EXPECTED_PARAMS[name],
                  "%s parameters %d != %d" % (name, entry["parameters"], EXPECTED_PARAMS[name]))
        if name in NUMERIC:
            stats[name] = run_numeric(name, model, entry["input_size"])
            print("    logits: %s" % json.dumps(stats[name]))
        del model
    with open(os.path.join(HERE, "reference.json"), "w") as f:  # one model per line
        f.write("{\n" + ",\n".join("  %s: %s" % (json.dumps(k), json.dumps(v)) for k, v in reference.items())
                + "\n}\n")

    # 4. antialiased_cnns structure goldens ---------------------------------------------------
    adir = os.path.join(HERE, "antialiased")
    os.makedirs(adir, exist_ok=True)
    for name in ANTIALIASED:
        torch.manual_seed(0)
        with contextlib.redirect_stdout(io.StringIO()):  # antialiased_cnns prints "Not initializing"
            model = getattr(antialiased_cnns, name)(pretrained=False, filter_size=4)
        lines = antialiased_lines(model)
        with open(os.path.join(adir, "%s.txt" % name), "w") as f:
            f.write("\n".join(lines) + "\n")
        print("antialiased %-16s %4d leaf lines" % (name, len(lines)))
        del model

    # 5. antialiased_cnns numeric references --------------------------------------------------
    antialiased_numeric()

    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
