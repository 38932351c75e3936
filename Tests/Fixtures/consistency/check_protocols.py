"""An independent implementation of `lowpass consistency`'s protocols, in PyTorch, on the module
`lowpass export` wrote for the same model:

    python3 check_protocols.py MODEL.py CLASS WEIGHTS IMAGES.npy LABELS.npy|- REPORT.json

The images are already (S + R) square and normalized (the command ran with --no-normalize). The offsets
are drawn again from SplitMix64(seed) in the documented order and must equal the report's; then every
per-image agreement, diagonal prediction and the accuracy are recomputed and compared (for a dense model,
the per-pixel agreement of the shift and circular protocols; its offsets are multiples of the output's
stride). Prints a JSON
summary of the mismatches (all zero when the two implementations agree).
"""
import importlib.util
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pytorch"))
from run_exported import load_safetensors  # noqa: E402

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def offsets(seed, passes, batches, r, step=1):
    """Per pass and batch, two offsets; each coordinate rounded down to a multiple of `step` (a dense
    output's stride)."""
    random = SplitMix64(seed)

    def draw():
        dy, dx = random.next() % r, random.next() % r
        return (dy - dy % step, dx - dx % step)

    return [[(draw(), draw()) for _ in range(batches)] for _ in range(passes)]


def pixel_agreement(c0, c1, a, b, step, circular):
    """Per image, the share of pixels whose classes agree where the two views see the same place."""
    (ay, ax), (by, bx) = (a[0] // step, a[1] // step), (b[0] // step, b[1] // step)
    if circular:
        same = torch.roll(c0, (-ay, -ax), (1, 2)) == torch.roll(c1, (-by, -bx), (1, 2))
    else:
        h, w = c0.shape[1:]
        dy, dx = ay - by, ax - bx
        rows, cols = slice(max(0, -dy), min(h, h - dy)), slice(max(0, -dx), min(w, w - dx))
        shifted_rows, shifted_cols = slice(rows.start + dy, rows.stop + dy), slice(cols.start + dx, cols.stop + dx)
        same = c0[:, rows, cols] == c1[:, shifted_rows, shifted_cols]
    return same.double().mean((1, 2)).tolist()


def main():
    module_path, class_name, weights, images_path, labels_path, report_path = sys.argv[1:]
    spec = importlib.util.spec_from_file_location("exported", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, class_name)().eval()
    model.load_state_dict(load_safetensors(weights))
    with open(report_path) as f:
        report = json.load(f)
    images = torch.from_numpy(np.load(images_path))
    labels = None if labels_path == "-" else np.load(labels_path).astype(np.int64)
    r, batch, passes, seed = report["shift_range"], report["batch"], report["epochs"], report["seed"]
    n, side = images.shape[0], images.shape[2] - r
    batches = [(b, min(b + batch, n)) for b in range(0, n, batch)]
    result = report["models"][0]
    dense = result.get("output") == "pixels"
    with torch.no_grad():
        step = side // model(images[:1, :, :side, :side]).shape[2] if dense else 1

    def views(x0, x1, a, b, circular):
        """The two views' agreement per image: top-1 classes, or per pixel for a dense output."""
        with torch.no_grad():
            o0, o1 = model(x0), model(x1)
        if dense:
            return pixel_agreement(o0.argmax(1), o1.argmax(1), a, b, step, circular)
        return [float(v) for v in (o0.argmax(1) == o1.argmax(1)).numpy()]

    def top(x):
        with torch.no_grad():
            return model(x).argmax(1).numpy()

    def crop(x, dy, dx):
        return x[:, :, dy:dy + side, dx:dx + side]

    mismatches = {}
    drawn = offsets(seed, passes, len(batches), r, step)
    for name, circular in [("shift", False), ("circular", True)]:
        reported = [[tuple(map(tuple, pair)) for pair in p] for p in result[name]["offsets"]]
        mismatches[name + "_offsets"] = int(reported != drawn)
        agree = []
        for p in range(passes):
            row = []
            for (first, end), (a, b) in zip(batches, drawn[p]):
                x = images[first:end]
                if circular:
                    centre = crop(x, r // 2, r // 2)
                    row += views(torch.roll(centre, a, (2, 3)), torch.roll(centre, b, (2, 3)), a, b, True)
                else:
                    row += views(crop(x, *a), crop(x, *b), a, b, False)
            agree.append(row)
        mismatches[name] = int(sum(abs(x - float(y)) > 1e-9 for pa, pb in zip(agree, result[name]["agree"]) for x, y in zip(pa, pb)))
    if dense:
        print(json.dumps(mismatches))
        return
    predicted = [np.concatenate([top(crop(images[first:end], d, d)) for first, end in batches]) for d in range(r + 1)]
    mismatches["diagonal"] = int(sum((np.array(p) != np.array(q)).sum() for p, q in zip(predicted, result["diagonal"]["predicted"])))
    accuracy = float(np.mean(np.concatenate([top(crop(images[first:end], r // 2, r // 2)) for first, end in batches]) == labels))
    mismatches["accuracy"] = int(abs(accuracy - result["accuracy"]) > 1e-9)
    print(json.dumps(mismatches))


if __name__ == "__main__":
    main()
