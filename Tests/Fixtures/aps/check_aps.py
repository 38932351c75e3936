#!/usr/bin/env python3
"""`lowpass rewrite --passes aps` against the independent APS implementation of aps_models.py:

  check_aps.py --lowpass BIN --folder DIR --model NAME [--filter M] [--norm l2|l1] [--size 64]

A torchvision model with seeded weights (aps_models._random_state_dict, each residual branch's last BatchNorm
scale halved), the zoo graph at SIZE x SIZE rewritten by aps{filter=M,norm=N} with those weights. On a batch
of circular shifts of one input (all 16 in [0,4)^2 and 8 random ones), it prints one JSON line:

  jit           lowpass run (JIT) vs aps_model in float64, max |a - b| / max |b|
  pytorch       the graph exported by `lowpass export -o model.py`, in PyTorch, vs aps_model (both float32)
  pytorch32     aps_model in float32 vs in float64: float32 rounding alone
  onnx          the graph exported to ONNX (opset 17), in ONNX Runtime, vs aps_model in float64 (null without onnxruntime)
  shift         the largest change of the JIT's output between shifts of the same input
  plain_shift   the same for the torchvision model as it is (shows the shifts matter)
  indices       the number of PolyphaseIndex nodes in the rewritten graph
"""
import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


APS = load("aps_models", os.path.join(HERE, "aps_models.py"))
RUNNER = load("run_exported", os.path.join(HERE, "..", "pytorch", "run_exported.py"))


def lowpass(binary, *args):
    result = subprocess.run([binary, *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"lowpass {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def relative(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def shift_error(outputs):
    return max(relative(outputs[i], outputs[0]) for i in range(1, len(outputs)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lowpass", required=True)
    parser.add_argument("--folder", required=True)
    parser.add_argument("--model", required=True, choices=APS.MODELS)
    parser.add_argument("--filter", type=int, default=1)
    parser.add_argument("--norm", default="l2", choices=["l2", "l1"])
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(2)
    folder, name, size = args.folder, args.model, args.size

    plain, tensors = APS._random_state_dict(name)
    # Each residual branch's last BatchNorm halved: at 0.5-1.5 ResNet-50 and MobileNetV2 amplify float32
    # rounding to 1e-5 and more (PyTorch's own float32 run is that far from its float64 one).
    for key in [k for k in tensors if k.endswith("bn3.weight") or (name == "mobilenet_v2" and re.fullmatch(r"features\.\d+\.conv\.[23]\.weight", k))]:
        if tensors[key].dim() == 1:
            tensors[key] = tensors[key] * 0.5
    plain.load_state_dict(tensors, strict=False)
    weights = os.path.join(folder, name + ".safetensors")
    RUNNER.save_safetensors(tensors, weights)

    graph, rewritten = os.path.join(folder, name + ".json"), os.path.join(folder, name + "-aps.json")
    lowpass(args.lowpass, "zoo", "build", name, "-o", graph)
    with open(graph) as f:
        description = json.load(f)
    description["inputs"][0]["shape"][2:] = [size, size]
    with open(graph, "w") as f:
        json.dump(description, f)
    lowpass(args.lowpass, "rewrite", graph, "--passes", f"aps{{filter={args.filter},norm={args.norm}}}", "-o", rewritten)

    generator = torch.Generator().manual_seed(11)
    x = torch.randn(1, 3, size, size, generator=generator)
    shifts = [(dy, dx) for dy in range(4) for dx in range(4)]
    shifts += [tuple(torch.randint(0, size, (2,), generator=generator).tolist()) for _ in range(8)]
    batch = torch.cat([torch.roll(x, shifts=shift, dims=(2, 3)) for shift in shifts])
    inputs = os.path.join(folder, "x.npy")
    np.save(inputs, batch.numpy())

    model = APS.aps_model(name, RUNNER.load_safetensors(weights), args.filter, args.norm)
    with torch.no_grad():
        expected32 = model(batch).numpy()
        # The exact function, for the float32 engines: this network's float32 rounding alone reaches 1e-5.
        expected = model.double()(batch.double()).numpy()
        plain_outputs = plain.eval()(batch).numpy()

    out = os.path.join(folder, "jit")
    lowpass(args.lowpass, "run", rewritten, "--weights", weights, "--input", inputs, "--output-dir", out)
    jit = np.load(os.path.join(out, description["outputs"][0] + ".npy"))

    module_path = os.path.join(folder, "exported.py")
    lowpass(args.lowpass, "export", rewritten, "--weights", weights, "-o", module_path, "--class-name", "Exported")
    exported = load("exported", module_path).Exported().eval()
    exported.load_state_dict(RUNNER.load_safetensors(module_path[:-3] + ".safetensors"))
    with torch.no_grad():
        from_module = exported(batch).numpy()

    onnx_error = None
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
    if onnxruntime is not None:
        onnx_path = os.path.join(folder, "model.onnx")
        lowpass(args.lowpass, "export", rewritten, "--weights", weights, "-o", onnx_path)
        session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        onnx_error = relative(session.run(None, {session.get_inputs()[0].name: batch.numpy()})[0], expected)

    indices = sum(node["op"] == "PolyphaseIndex" for node in json.load(open(rewritten))["nodes"])
    print(json.dumps({"jit": relative(jit, expected), "pytorch": relative(from_module, expected32), "pytorch32": relative(expected32, expected), "onnx": onnx_error,
                      "shift": shift_error(jit), "plain_shift": shift_error(plain_outputs), "indices": indices}))


if __name__ == "__main__":
    main()
