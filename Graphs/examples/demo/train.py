#!/usr/bin/env python3
"""Trains the demo's digit classifier and its antialiased version, the way a user would with Lowpass:

    python3 Graphs/examples/demo/train.py [--lowpass BIN]

1. digits.json: a small CNN (three 3x3 conv + BatchNorm + ReLU stages, each followed by a stride-2
   MaxPool, then a linear layer on the 4x4 map), written here as a Lowpass graph;
2. `lowpass export digits.json -o digits.py`, trained in PyTorch on synthetic digits (a 5x7 bitmap font
   drawn at random sizes, thicknesses and places, with noise), centre crops only, as many CNNs are
   trained without shift augmentation;
3. `lowpass rewrite digits.json --passes antialias -o digits-aa.json` (MaxPool -> MaxPool(stride 1) +
   BlurPool), exported and fine-tuned from the baseline's weights;
4. writes digits.safetensors, digits-aa.safetensors, 400 test images (40x40: 32x32 crops with shifts
   in [0, 8)) with their labels, and digit.npy (one 32x32 test digit).

CPU only, about a minute; needs torch and numpy. Deterministic for a given torch version.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Fixtures", "pytorch"))
from run_exported import load_safetensors, save_safetensors  # noqa: E402

FONT = ["01110 10001 10011 10101 11001 10001 01110", "00100 01100 00100 00100 00100 00100 01110",
        "01110 10001 00001 00010 00100 01000 11111", "11111 00010 00100 00010 00001 10001 01110",
        "00010 00110 01010 10010 11111 00010 00010", "11111 10000 11110 00001 00001 10001 01110",
        "00110 01000 10000 11110 10001 10001 01110", "11111 00001 00010 00100 01000 01000 01000",
        "01110 10001 10001 01110 10001 10001 01110", "01110 10001 10001 01111 00001 00010 01100"]
CANVAS, CROP, SHIFT = 40, 32, 8


def digits(count, seed):
    """`count` 40x40 images in [0, 1] and their labels: each digit scaled 2-3x, placed with its
    centre within 4 pixels of the canvas centre, strokes thickened at random, plus noise."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 1, CANVAS, CANVAS), np.float32)
    labels = rng.integers(0, 10, count)
    for i, label in enumerate(labels):
        glyph = np.array([[c == "1" for c in row] for row in FONT[label].split()], np.float32)
        sy, sx = rng.integers(2, 4), rng.integers(2, 4)
        big = np.kron(glyph, np.ones((sy, sx), np.float32))
        if rng.random() < 0.5:
            big = np.maximum(big, np.roll(big, 1, axis=1))
        h, w = big.shape
        top = CANVAS // 2 - h // 2 + rng.integers(-4, 5)
        left = CANVAS // 2 - w // 2 + rng.integers(-4, 5)
        images[i, 0, top:top + h, left:left + w] = big * rng.uniform(0.6, 1.0)
    images += rng.normal(0, 0.08, images.shape).astype(np.float32)
    return np.clip(images, 0, 1), labels


def graph():
    nodes, params, x, channels = [], [], "image", 1
    for stage, width in enumerate([16, 32, 64]):
        conv, bn = f"features.{4 * stage}", f"features.{4 * stage + 1}"
        params += [{"name": f"{conv}.weight", "dtype": "f32", "shape": [width, channels, 3, 3]},
                   {"name": f"{conv}.bias", "dtype": "f32", "shape": [width]}]
        params += [{"name": f"{bn}.{p}", "dtype": "f32", "shape": [width]} for p in ["weight", "bias", "running_mean", "running_var"]]
        nodes += [{"name": conv, "op": "Conv", "inputs": [x, f"{conv}.weight", f"{conv}.bias"], "outputs": [conv], "attributes": {"pads": [1, 1, 1, 1]}},
                  {"name": bn, "op": "BatchNormalization", "inputs": [conv] + [f"{bn}.{p}" for p in ["weight", "bias", "running_mean", "running_var"]], "outputs": [bn]},
                  {"name": f"features.{4 * stage + 2}", "op": "Relu", "inputs": [bn], "outputs": [f"features.{4 * stage + 2}"]},
                  {"name": f"features.{4 * stage + 3}", "op": "MaxPool", "inputs": [f"features.{4 * stage + 2}"], "outputs": [f"features.{4 * stage + 3}"],
                   "attributes": {"kernel_shape": [2, 2], "strides": [2, 2]}}]
        x, channels = f"features.{4 * stage + 3}", width
    params += [{"name": "classifier.weight", "dtype": "f32", "shape": [10, 64 * 4 * 4]}, {"name": "classifier.bias", "dtype": "f32", "shape": [10]}]
    nodes += [{"name": "flatten", "op": "Flatten", "inputs": [x], "outputs": ["flatten"]},
              {"name": "classifier", "op": "Gemm", "inputs": ["flatten", "classifier.weight", "classifier.bias"], "outputs": ["logits"], "attributes": {"transB": 1}}]
    return {"format": "lowpass-graph", "version": 1, "name": "digits",
            "metadata": {"source": "Graphs/examples/demo/train.py: the demo's digit classifier", "input_size": "1x32x32"},
            "inputs": [{"name": "image", "dtype": "f32", "shape": ["N", 1, CROP, CROP]}], "outputs": ["logits"], "parameters": params, "nodes": nodes}


def module(lowpass, graph_path, name):
    path = os.path.join(HERE, f"{name}_module.py")
    subprocess.run([lowpass, "export", graph_path, "-o", path, "--class-name", "Model"], check=True, capture_output=True)
    spec = importlib.util.spec_from_file_location(name, path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    os.remove(path)
    weights = path[:-3] + ".safetensors"
    if os.path.exists(weights):
        os.remove(weights)
    return loaded.Model()


def train(model, images, labels, epochs, lr):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    x = torch.from_numpy(images[:, :, SHIFT // 2:SHIFT // 2 + CROP, SHIFT // 2:SHIFT // 2 + CROP].copy())
    y = torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        print(f"  epoch {epoch + 1}: loss {total / len(x):.4f}", flush=True)
    model.eval()
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    print(f"  training accuracy {100 * accuracy:.1f}%")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lowpass", default=os.path.join(ROOT, ".build", "debug", "lowpass"))
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    base_graph, aa_graph = os.path.join(HERE, "digits.json"), os.path.join(HERE, "digits-aa.json")
    with open(base_graph, "w") as f:
        json.dump(graph(), f, indent=1)
        f.write("\n")
    images, labels = digits(6000, seed=1)
    print("baseline")
    baseline = module(args.lowpass, base_graph, "digits")
    train(baseline, images, labels, epochs=6, lr=0.05)
    state = {k: v for k, v in baseline.state_dict().items() if v.is_floating_point()}
    save_safetensors(state, os.path.join(HERE, "digits.safetensors"))
    subprocess.run([args.lowpass, "rewrite", base_graph, "--passes", "antialias", "-o", aa_graph], check=True, capture_output=True)
    print("antialiased, fine-tuned from the baseline")
    antialiased = module(args.lowpass, aa_graph, "digits_aa")
    antialiased.load_state_dict(load_safetensors(os.path.join(HERE, "digits.safetensors")))
    train(antialiased, images, labels, epochs=3, lr=0.01)
    save_safetensors({k: v for k, v in antialiased.state_dict().items() if v.is_floating_point()}, os.path.join(HERE, "digits-aa.safetensors"))
    for path, weights in [(base_graph, "digits.safetensors"), (aa_graph, "digits-aa.safetensors")]:
        with open(path) as f:
            g = json.load(f)
        g["weights"] = weights
        with open(path, "w") as f:
            json.dump(g, f, indent=1)
            f.write("\n")
    test, test_labels = digits(400, seed=2)
    np.save(os.path.join(HERE, "test-images.npy"), test)
    np.save(os.path.join(HERE, "test-labels.npy"), test_labels.astype(np.float32))
    # One digit for `lowpass run`: the first test image's centre crop.
    np.save(os.path.join(HERE, "digit.npy"), test[:1, :, SHIFT // 2:SHIFT // 2 + CROP, SHIFT // 2:SHIFT // 2 + CROP].copy())


if __name__ == "__main__":
    main()
