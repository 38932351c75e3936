"""Runs a module written by `lowpass export ... -o MODEL.py` on .npy inputs, as the tests and docs/pytorch.md do.

    python3 run_exported.py MODEL.py CLASS WEIGHTS.safetensors|- OUT_DIR INPUT.npy... [--train STEPS] [--onnx]

Eval mode: writes each output as OUT_DIR/output<i>.npy. With --train STEPS: runs STEPS of SGD on the
inputs against random targets, prints the losses as JSON, saves the trained weights to
OUT_DIR/trained.safetensors and writes the trained model's eval outputs. With --onnx: also exports the
module with torch.onnx.export (opset 17), runs that in ONNX Runtime and reports the largest relative
difference from PyTorch's first output as "onnx_error".
"""
import importlib.util
import json
import struct
import sys

import numpy as np
import torch


def load_safetensors(path):
    """The format's own few lines, so the tests need no `safetensors` package."""
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", entry
        begin, end = entry["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(data[begin:end], dtype="<f4").copy()).reshape(entry["shape"])
    return tensors


def save_safetensors(tensors, path):
    header, offset, blobs = {}, 0, []
    for name, tensor in tensors.items():
        blob = tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    args = sys.argv[1:]
    steps = 0
    to_onnx = "--onnx" in args
    if to_onnx:
        args.remove("--onnx")
    if "--train" in args:
        at = args.index("--train")
        steps = int(args[at + 1])
        del args[at:at + 2]
    module_path, class_name, weights, out_dir, *inputs = args
    spec = importlib.util.spec_from_file_location("exported", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    model = getattr(module, class_name)()
    if weights != "-":
        model.load_state_dict(load_safetensors(weights))
    xs = [torch.from_numpy(np.load(path)) for path in inputs]
    report = {"keys": list(model.state_dict().keys())}
    if steps:
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        target = None
        losses = []
        for _ in range(steps):
            optimizer.zero_grad()
            y = model(*xs)
            y = y[0] if isinstance(y, tuple) else y
            if target is None:
                target = torch.randn_like(y)
            loss = torch.nn.functional.mse_loss(y, target)
            loss.backward()
            losses.append(loss.item())
            report["without_grad"] = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
            optimizer.step()
        report["losses"] = losses
        save_safetensors({k: v for k, v in model.state_dict().items() if v.dtype == torch.float32}, f"{out_dir}/trained.safetensors")
    model.eval()
    with torch.no_grad():
        ys = model(*xs)
    for i, y in enumerate(ys if isinstance(ys, tuple) else (ys,)):
        np.save(f"{out_dir}/output{i}.npy", np.ascontiguousarray(y.numpy(), dtype=np.float32))
    if to_onnx:
        import onnxruntime
        path = f"{out_dir}/model.onnx"
        torch.onnx.export(model, tuple(xs), path, dynamo=False, opset_version=17)
        session = onnxruntime.InferenceSession(path)
        feeds = {i.name: x.numpy() for i, x in zip(session.get_inputs(), xs)}
        first = (ys if isinstance(ys, tuple) else (ys,))[0].numpy()
        ort = session.run(None, feeds)[0]
        report["onnx_error"] = float(np.abs(ort - first).max() / max(np.abs(first).max(), 1e-30))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
