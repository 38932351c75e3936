#!/usr/bin/env python3
"""Times Lowpass against its peers on the same work, in one run, and prints the ratios.

    python3 bench/bench.py blur      # BlurPool, MaxBlurPool and APS kernels vs memcpy bandwidth and PyTorch
    python3 bench/bench.py movement  # transpose, slice, concat, expand, tile, gather, ... vs memcpy bandwidth
    python3 bench/bench.py models    # whole networks vs ONNX Runtime, OpenVINO (f32) and PyTorch
    python3 bench/bench.py models --precision bf16   # Lowpass bf16 vs OpenVINO in its default precision (bf16 where the CPU has it) and Lowpass f32
    python3 bench/bench.py reparam   # the seed ACNet before and after fold-bn + fuse-branches
    python3 bench/bench.py goals     # Lowpass's own profile against the machine's matrix-multiply peak
    python3 bench/bench.py accuracy  # bf16 against f32 on whole models: top-1 agreement, relative error, and against the bf16 reference
    python3 bench/bench.py compile   # cold start: `lowpass run` end to end, cold and warm cache, vs peers' load + first run

Lowpass runs through `lowpass bench --json` (built with `swift build` when --lowpass is not given).
ONNX Runtime and OpenVINO run the very graph Lowpass runs, exported with `lowpass export`, so the
weights and the antialiasing are identical. Peers that are not installed are reported as missing.
Every engine gets the same thread count (--threads, default 2).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_times(fn, runs, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_time(fn, runs, warmup=3):
    return statistics.median(run_times(fn, runs, warmup))


def p90(times):
    """The 90th percentile as `lowpass bench` computes it (nearest rank)."""
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def machine():
    """The CPU as a table should name it: virtual machines often report only "AMD EPYC", so the
    family and model numbers (Zen 3 is family 25, Zen 5 family 26) and the features that pick code
    paths (vector width, AVX512_BF16, AMX) come with it."""
    model, family, number = "unknown CPU", "?", "?"
    flags = set()
    try:
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name" and model == "unknown CPU":
                model = value
            elif key == "cpu family" and family == "?":
                family = value
            elif key == "model" and number == "?":
                number = value
            elif key == "flags":
                flags = set(value.split())
    except OSError:
        pass
    vector = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "sse"
    extras = "".join(f" {name}" for name, flag in [("bf16", "avx512_bf16"), ("amx", "amx_bf16")] if flag in flags)
    return (f"{model} (family {family} model {number}), {os.cpu_count()} cores, {vector}{extras}, "
            f"{platform.system()} {platform.release()}")


def memcpy_bandwidth(threads):
    """GB/s of a large copy (bytes read + bytes written) split over `threads` threads."""
    a = np.ones(64 * 1024 * 1024, dtype=np.float32)
    b = np.empty_like(a)
    parts = np.array_split(np.arange(a.size), threads)
    pool = ThreadPoolExecutor(threads)

    def copy():
        list(pool.map(lambda p: np.copyto(b[p[0]:p[-1] + 1], a[p[0]:p[-1] + 1]), parts))

    return 2 * a.nbytes / median_time(copy, 10) / 1e9


class Lowpass:
    def __init__(self, binary, threads):
        self.binary = binary
        self.threads = threads

    def run(self, *args):
        result = subprocess.run([self.binary, *args], capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"lowpass {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def bench(self, graph, batch=None, runs=20, profile=False, extra=()):
        args = ["bench", graph, "--json", "--runs", str(runs), "--threads", str(self.threads), *extra]
        if batch:
            args += ["--batch", str(batch)]
        if profile:
            args.append("--profile")
        return json.loads(self.run(*args))


def find_lowpass(explicit):
    if explicit:
        return explicit
    subprocess.run(["swift", "build", "--product", "lowpass"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    path = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    return os.path.join(path, "lowpass")


def graph_file(folder, name, shape, nodes):
    path = os.path.join(folder, name + ".json")
    with open(path, "w") as f:
        json.dump({"format": "lowpass-graph", "version": 1, "name": name,
                   "inputs": [{"name": "x", "dtype": "f32", "shape": shape}], "outputs": [nodes[-1]["outputs"][0]],
                   "parameters": [], "nodes": nodes}, f)
    return path


def polyphase_sampling(x):
    """Adaptive polyphase sampling by 2 in PyTorch (the l2 choice, then the gather), as APS's code does it."""
    n, c, h, w = x.shape
    components = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(n, 4, c, h // 2, w // 2)
    return components[np.arange(n), components.square().sum((2, 3, 4)).argmax(1)]


def bench_blur(args, lowpass):
    import torch
    try:
        import antialiased_cnns
    except ImportError:
        antialiased_cnns = None
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cases = []
        for (c, h) in [(64, 112), (256, 56), (512, 28)]:
            shape = [8, c, h, h]
            blur = {"name": "blur", "op": "BlurPool", "inputs": ["x"], "outputs": ["y"],
                    "attributes": {"filter_size": 4, "strides": [2, 2]}}
            pool = {"name": "max", "op": "MaxPool", "inputs": ["x"], "outputs": ["m"],
                    "attributes": {"kernel_shape": [2, 2], "strides": [1, 1]}}
            choose = {"name": "choose", "op": "PolyphaseIndex", "inputs": ["x"], "outputs": ["k"]}
            select = {"name": "select", "op": "PolyphaseSelect", "inputs": ["x", "k"], "outputs": ["y"]}
            for op, nodes in [("blurpool", [blur]), ("maxblurpool", [pool, dict(blur, inputs=["m"])]), ("aps", [choose, select])]:
                module = None
                if op == "aps":
                    module = polyphase_sampling
                elif antialiased_cnns is not None:
                    module = antialiased_cnns.BlurPool(c, filt_size=4, stride=2)
                    if op == "maxblurpool":
                        module = torch.nn.Sequential(torch.nn.MaxPool2d(kernel_size=2, stride=1), module)
                cases.append((op, shape, graph_file(folder, f"{op}-{c}", shape, nodes), module))
        # Interleaved rounds, medians of the round medians: the machine may be shared.
        bandwidths, ours, theirs = [], {}, {}
        for _ in range(args.rounds):
            bandwidths.append(memcpy_bandwidth(args.threads))
            for op, shape, graph, module in cases:
                ours.setdefault(graph, []).append(lowpass.bench(graph, runs=args.runs)["median_ms"] / 1000)
                if module is not None:
                    x = torch.randn(*shape)
                    with torch.inference_mode():
                        theirs.setdefault(graph, []).append(1000 * median_time(lambda: module(x), args.runs))
        bandwidth = statistics.median(bandwidths)
        print(f"machine: {machine()}")
        print(f"memcpy bandwidth ({args.threads} threads, numpy, read + write): {bandwidth:.1f} GB/s")
        print(f"PyTorch {torch.__version__}, antialiased_cnns {'present' if antialiased_cnns else 'missing'}; "
              f"{args.threads} threads each; median of {args.rounds} interleaved rounds of {args.runs} runs\n")
        print(f"{'op':<12} {'shape':<16} {'Lowpass ms':>10} {'GB/s':>6} {'% memcpy':>9} {'PyTorch ms':>11} {'speedup':>8} {'/ blurpool':>10}")
        blur_seconds = {}
        for op, shape, graph, module in cases:
            seconds = statistics.median(ours[graph])
            blur_seconds.setdefault(str(shape), seconds)
            moved = 4 * (np.prod(shape) + shape[0] * shape[1] * (shape[2] // 2) * (shape[3] // 2))
            torch_ms = statistics.median(theirs[graph]) if graph in theirs else None
            rate = moved / seconds / 1e9
            speedup = f"{torch_ms / (seconds * 1000):.1f}x" if torch_ms else "-"
            print(f"{op:<12} {str(shape):<16} {seconds * 1000:>10.3f} {rate:>6.1f} {100 * rate / bandwidth:>8.0f}% "
                  f"{torch_ms if torch_ms else float('nan'):>11.3f} {speedup:>8} {seconds / blur_seconds[str(shape)]:>9.2f}x")
            rows.append({"op": op, "shape": shape, "lowpass_ms": seconds * 1000, "gbs": rate,
                         "memcpy_gbs": bandwidth, "torch_ms": torch_ms, "relative_to_blurpool": seconds / blur_seconds[str(shape)]})
    return rows


def bench_movement(args, lowpass):
    """Data-movement kernels (transpose, slice, concat, expand, tile, gather, depth-to-space, resize) on
    feature maps of a batch of 8: bytes read and written per second against numpy's memcpy in the same
    rounds (the ceiling for work that only moves memory)."""
    with tempfile.TemporaryDirectory() as folder:
        def node(op, inputs=("x",), **attributes):
            return {"name": "n", "op": op, "inputs": list(inputs), "outputs": ["y"], "attributes": attributes}
        n, c, h = 8, 64, 56
        full = n * c * h * h
        cases = [  # name, input shape, node, floats read + written
            ("transpose NCHW->NHWC", [n, c, h, h], node("Transpose", perm=[0, 2, 3, 1]), 2 * full),
            ("transpose H<->W", [n, c, h, h], node("Transpose", perm=[0, 1, 3, 2]), 2 * full),
            ("slice step 2 (H, W)", [n, c, h, h], node("Slice", starts=[0, 0], ends=[h, h], axes=[2, 3], steps=[2, 2]), full + full // 4),
            ("slice channels 0-31", [n, c, h, h], node("Slice", starts=[0], ends=[c // 2], axes=[1]), full),
            ("concat 2 (channels)", [n, c, h, h], node("Concat", ("x", "x"), axis=1), 4 * full),
            ("expand [8,64,1,56]", [n, c, 1, h], node("Expand", shape=[n, c, h, h]), full + full // h),
            ("tile 2x2", [n, c, h // 2, h // 2], node("Tile", repeats=[1, 1, 2, 2]), full + full // 4),
            ("gather 32 channels", [n, c, h, h], node("Gather", indices=list(range(c - 1, -1, -2)), indices_shape=[c // 2], axis=1), full),
            ("depth-to-space 2", [n, 4 * c, h // 2, h // 2], node("DepthToSpace", blocksize=2), 2 * full),
            ("resize nearest 2x", [n, c, h // 2, h // 2], node("Resize", sizes=[n, c, h, h], mode="nearest"), full + full // 4),
        ]
        graphs = [(name, graph_file(folder, f"move{i}", shape, [spec]), floats) for i, (name, shape, spec, floats) in enumerate(cases)]
        bandwidths, times = [], {}
        for _ in range(args.rounds):
            bandwidths.append(memcpy_bandwidth(args.threads))
            for name, graph, _ in graphs:
                times.setdefault(name, []).append(lowpass.bench(graph, runs=args.runs)["median_ms"] / 1000)
        bandwidth = statistics.median(bandwidths)
        print(f"machine: {machine()}")
        print(f"memcpy bandwidth ({args.threads} threads, numpy, read + write): {bandwidth:.1f} GB/s; median of {args.rounds} interleaved rounds of {args.runs} runs\n")
        print(f"{'op':<24} {'Lowpass ms':>10} {'GB/s':>6} {'% memcpy':>9}")
        rows = []
        for name, graph, floats in graphs:
            seconds = statistics.median(times[name])
            rate = 4 * floats / seconds / 1e9
            print(f"{name:<24} {seconds * 1000:>10.3f} {rate:>6.1f} {100 * rate / bandwidth:>8.0f}%")
            rows.append({"op": name, "lowpass_ms": seconds * 1000, "gbs": rate, "memcpy_gbs": bandwidth})
    return rows


def openvino_default(onnx_path, threads):
    """OpenVINO as a user gets it: no precision hint (bf16 on CPUs with AVX512_BF16 or AMX).
    Returns (runner, the precision it chose), or None where OpenVINO is not installed."""
    try:
        import openvino as ov
    except ImportError:
        return None
    compiled = ov.Core().compile_model(onnx_path, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    return (lambda x: request.infer([x])), str(compiled.get_property("INFERENCE_PRECISION_HINT"))


def model_variants(args, lowpass, folder, export=True, antialias=lambda name: True):
    """Each model of --models, then (where `antialias(name)`) its antialiased variant, rewritten with
    --antialias into `folder`: (name, label, antialiased, graph path, exported ONNX path or None)."""
    for name in args.models:
        for antialiased in ([False, True] if antialias(name) else [False]):
            graph = os.path.join(ROOT, "Graphs", name + ".json")
            label = name
            if antialiased:
                label = name + "-aa"
                rewritten = os.path.join(folder, label + ".json")
                lowpass.run("rewrite", graph, "--passes", args.antialias, "-o", rewritten)
                graph = rewritten
            onnx_path = None
            if export:
                onnx_path = os.path.join(folder, label + ".onnx")
                lowpass.run("export", graph, "-o", onnx_path)
            yield name, label, antialiased, graph, onnx_path

def peers(onnx_path, threads):
    """Runners for the exported ONNX model: name -> function(x)."""
    found = {}
    try:
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        found["ONNX Runtime"] = lambda x: session.run(None, {name: x})
    except ImportError:
        pass
    try:
        import openvino as ov
        core = ov.Core()
        compiled = core.compile_model(onnx_path, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads,
                                                         "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()
        found["OpenVINO"] = lambda x: request.infer([x])
    except ImportError:
        pass
    return found


def torch_model(name, antialiased):
    import torch
    if antialiased:
        import antialiased_cnns
        return getattr(antialiased_cnns, name)(pretrained=False, filter_size=4).eval()
    import types
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    import torchvision
    return getattr(torchvision.models, name)().eval()


def bench_models(args, lowpass):
    if args.precision == "bf16":
        return bench_models_bf16(args, lowpass)
    print(f"machine: {machine()}; {args.threads} threads for every engine; fp32; 224x224; "
          f"median of {args.rounds} interleaved rounds of {args.runs} runs\n")
    print("spread: p90 / median of each engine's runs, the median over rounds (1.00 = every run alike)\n")
    header = (f"{'model':<22} {'batch':>5} {'Lowpass ms':>11} {'ORT ms':>9} {'OpenVINO ms':>12} {'PyTorch ms':>11} {'Lowpass/best peer':>18}"
              f" {'spread Lowpass':>15} {'ORT':>5} {'OpenVINO':>9}")
    print(header)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, label, antialiased, graph, onnx_path in model_variants(args, lowpass, folder):
            try:
                import torch
                torch.set_num_threads(args.threads)
                module = torch_model(name, antialiased)
            except Exception as error:  # a missing torchvision or antialiased_cnns
                print(f"  (PyTorch skipped for {label}: {error})", file=sys.stderr)
                module = None
            # Rounds interleave the engines, so a noisy neighbour on a shared machine slows all of
            # them alike; each engine's number is the median of its per-round medians.
            samples = {batch: {} for batch in args.batches}
            spreads = {batch: {} for batch in args.batches}
            for _ in range(args.rounds):
                for batch in args.batches:
                    report = lowpass.bench(graph, batch=batch, runs=args.runs)
                    samples[batch].setdefault("Lowpass", []).append(report["median_ms"])
                    spreads[batch].setdefault("Lowpass", []).append(report["p90_ms"] / report["median_ms"])
                runners = peers(onnx_path, args.threads)
                for batch in args.batches:
                    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)
                    for peer, run in runners.items():
                        times = run_times(lambda: run(x), args.runs)
                        samples[batch].setdefault(peer, []).append(1000 * statistics.median(times))
                        spreads[batch].setdefault(peer, []).append(p90(times) / statistics.median(times))
                    if module is not None:
                        tensor = torch.from_numpy(x)
                        with torch.inference_mode():
                            samples[batch].setdefault("PyTorch", []).append(1000 * median_time(lambda: module(tensor), args.runs))
                del runners
            for batch in args.batches:
                times = {engine: statistics.median(values) for engine, values in samples[batch].items()}
                ours = times.pop("Lowpass")
                best = min((times[p] for p in ("ONNX Runtime", "OpenVINO") if p in times), default=None)
                ratio = f"{ours / best:.2f}" if best else "-"
                cells = [f"{times[p]:.1f}" if p in times else "-" for p in ("ONNX Runtime", "OpenVINO", "PyTorch")]
                spread = {engine: statistics.median(values) for engine, values in spreads[batch].items()}
                spread_cells = [f"{spread[p]:.2f}" if p in spread else "-" for p in ("Lowpass", "ONNX Runtime", "OpenVINO")]
                print(f"{label:<22} {batch:>5} {ours:>11.1f} {cells[0]:>9} {cells[1]:>12} {cells[2]:>11} {ratio:>18}"
                      f" {spread_cells[0]:>15} {spread_cells[1]:>5} {spread_cells[2]:>9}")
                rows.append({"model": label, "batch": batch, "lowpass_ms": ours, **times,
                             "spread": spread})
    return rows


def bench_models_bf16(args, lowpass):
    """Lowpass in bf16 against OpenVINO in its default precision and Lowpass's own f32, interleaved."""
    print(f"machine: {machine()}; {args.threads} threads for every engine; 224x224; "
          f"median of {args.rounds} rounds of {args.runs} runs, each round per batch Lowpass bf16, OpenVINO, "
          f"Lowpass f32 back to back; ratios: the median of each round's ratio\n")
    header = (f"{'model':<22} {'batch':>5} {'Lowpass bf16 ms':>16} {'OpenVINO default ms':>20} {'Lowpass f32 ms':>15}"
              f" {'bf16/OpenVINO':>14} {'f32/bf16':>9} {'spread bf16':>12} {'OpenVINO':>9}")
    print(header)
    rows = []
    chosen = set()
    with tempfile.TemporaryDirectory() as folder:
        for name, label, antialiased, graph, onnx_path in model_variants(args, lowpass, folder):
            samples = {batch: {} for batch in args.batches}
            spreads = {batch: {} for batch in args.batches}
            for _ in range(args.rounds):
                openvino = openvino_default(onnx_path, args.threads)
                if openvino:
                    chosen.add(openvino[1])
                # Per batch, Lowpass bf16, OpenVINO, Lowpass f32 back to back: the ratios compare
                # measurements seconds apart, not a minute (this machine's speed drifts by the minute).
                for batch in args.batches:
                    def lowpass_run(engine, extra):
                        report = lowpass.bench(graph, batch=batch, runs=args.runs, extra=extra)
                        samples[batch].setdefault(engine, []).append(report["median_ms"])
                        spreads[batch].setdefault(engine, []).append(report["p90_ms"] / report["median_ms"])
                    lowpass_run("bf16", ["--precision", "bf16"])
                    if openvino:
                        x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)
                        times = run_times(lambda: openvino[0](x), args.runs)
                        samples[batch].setdefault("OpenVINO", []).append(1000 * statistics.median(times))
                        spreads[batch].setdefault("OpenVINO", []).append(p90(times) / statistics.median(times))
                    lowpass_run("f32", [])
                del openvino
            for batch in args.batches:
                times = {engine: statistics.median(values) for engine, values in samples[batch].items()}
                spread = {engine: statistics.median(values) for engine, values in spreads[batch].items()}
                peer = times.get("OpenVINO")

                def ratio(a, b):
                    """The median over rounds of each round's a / b: engines measured seconds apart."""
                    return statistics.median(x / y for x, y in zip(samples[batch][a], samples[batch][b]))
                cells = [f"{peer:.1f}" if peer else "-", f"{ratio('bf16', 'OpenVINO'):.2f}" if peer else "-",
                         f"{spread['OpenVINO']:.2f}" if peer else "-"]
                line = (f"{label:<22} {batch:>5} {times['bf16']:>16.1f} {cells[0]:>20} {times['f32']:>15.1f}"
                        f" {cells[1]:>14} {ratio('f32', 'bf16'):>9.2f} {spread['bf16']:>12.2f} {cells[2]:>9}")
                print(line, flush=True)
                rows.append({"model": label, "batch": batch, "lowpass_bf16_ms": times["bf16"], "lowpass_f32_ms": times["f32"],
                             "openvino_default_ms": peer, "spread": spread})
        print(f"\nOpenVINO's default precision here: {', '.join(sorted(chosen)) or 'not installed'}")
    return rows


def smooth_images(count, seed):
    """`count` fixed 224x224 RGB inputs with an image's statistics rather than white noise's: sums of
    random low-frequency waves plus a little noise, normalized like ImageNet inputs."""
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(np.linspace(0, 1, 224), np.linspace(0, 1, 224), indexing="ij")
    images = np.zeros((count, 3, 224, 224), dtype=np.float32)
    for i in range(count):
        for c in range(3):
            for _ in range(6):
                fy, fx, phase = rng.uniform(0.5, 6), rng.uniform(0.5, 6), rng.uniform(0, 2 * np.pi)
                images[i, c] += rng.uniform(0.2, 1) * np.sin(2 * np.pi * (fy * y + fx * x) + phase)
    images += 0.1 * rng.standard_normal(images.shape).astype(np.float32)
    return (images - images.mean()) / images.std()


def bench_accuracy(args, lowpass):
    """bf16 against f32 on whole models, as issue 23 asks: top-1 agreement over a fixed set of inputs,
    the relative error of the logits, and for the first two inputs the JIT's bf16 against the bf16
    reference interpreter (slow: a minute or more per large model)."""
    count = args.images
    print(f"machine: {machine()}; {count} fixed smooth-random 224x224 inputs (seed 23); seeded weights "
          f"(the graphs name no weight files); relative error = max |a - b| / max |b| over the logits\n")
    header = (f"{'model':<16} {'top-1 agreement':>16} {'bf16 vs f32 rel':>16} {'JIT bf16 vs reference bf16':>27}"
              f" {'reference bf16 vs f32':>22}")
    print(header)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        images = smooth_images(count, 23)
        inputs = os.path.join(folder, "inputs.npy")
        np.save(inputs, images)
        np.save(os.path.join(folder, "two.npy"), images[:2])
        variants = model_variants(args, lowpass, folder, export=False, antialias=lambda name: name.startswith("resnet"))
        for name, label, antialiased, graph, _ in variants:
            def logits(precision, engine="jit", source=inputs):
                out = os.path.join(folder, f"{label}-{precision}-{engine}-{os.path.basename(source)}")
                lowpass.run("run", graph, "--input", source, "--output-dir", out, "--precision", precision,
                            "--engine", engine, "--threads", str(args.threads))
                (file,) = [f for f in os.listdir(out) if f.endswith(".npy")]
                return np.load(os.path.join(out, file))

            def relative(a, b):
                return float(np.abs(a - b).max() / np.abs(b).max())

            f32, bf16 = logits("f32"), logits("bf16")
            agreement = float((f32.argmax(1) == bf16.argmax(1)).mean())
            cells = ["-", "-"]
            row = {"model": label, "top1_agreement": agreement, "bf16_vs_f32": relative(bf16, f32)}
            if args.reference:
                two = os.path.join(folder, "two.npy")
                reference_bf16, reference_f32 = logits("bf16", "reference", two), logits("f32", "reference", two)
                row["jit_vs_reference_bf16"] = relative(bf16[:2], reference_bf16)
                row["reference_bf16_vs_f32"] = relative(reference_bf16, reference_f32)
                cells = [f"{row['jit_vs_reference_bf16']:.1e}", f"{row['reference_bf16_vs_f32']:.1e}"]
            print(f"{label:<16} {100 * agreement:>15.1f}% {row['bf16_vs_f32']:>16.1e} {cells[0]:>27} {cells[1]:>22}", flush=True)
            rows.append(row)
    return rows


ORT_END_TO_END = """
import sys, numpy as np, onnxruntime as ort
options = ort.SessionOptions(); options.intra_op_num_threads = int(sys.argv[3])
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
np.save(sys.argv[4], session.run(None, {session.get_inputs()[0].name: np.load(sys.argv[2])})[0])
"""


def bench_compile(args, lowpass):
    """Cold start, as a user meets it, on the same .onnx file (weights included) for every engine:
    `lowpass run` of one image end to end (process start, load, compile, run, write the output) with an
    empty compile cache and again with the cache it filled; ONNX Runtime the same way (a fresh Python
    process: import, session, run, write); and, timed inside this process with nothing imported to pay
    for, ONNX Runtime's session creation + first run and OpenVINO's compile_model + first inference."""
    print(f"machine: {machine()}; {args.threads} threads for every engine; fp32; batch 1; 224x224; median of {args.rounds} rounds\n")
    print(f"{'model':<18} {'cold s':>7} {'warm s':>7} {'compile s':>10} {'ORT process s':>14} {'ORT s':>6} {'OpenVINO s':>11}"
          f" {'cold/ORT process':>17} {'warm/ORT process':>17}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
        x_path = os.path.join(folder, "x.npy")
        np.save(x_path, x)
        for name in args.models:
            for antialiased in [False, True]:
                graph = os.path.join(ROOT, "Graphs", name + ".json")
                label = name + ("-aa" if antialiased else "")
                if antialiased:
                    rewritten = os.path.join(folder, label + ".json")
                    lowpass.run("rewrite", graph, "--passes", args.antialias, "-o", rewritten)
                    graph = rewritten
                onnx_path = os.path.join(folder, label + ".onnx")
                lowpass.run("export", graph, "-o", onnx_path)
                samples = {}
                for round in range(args.rounds):
                    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(folder, f"cache-{label}-{round}"))
                    command = [lowpass.binary, "run", onnx_path, "--input", "input=" + x_path, "--output-dir",
                               os.path.join(folder, "out"), "--threads", str(args.threads), "--print-kernels"]
                    for state in ["cold", "warm"]:
                        start = time.perf_counter()
                        result = subprocess.run(command, env=env, capture_output=True, text=True)
                        samples.setdefault(state, []).append(time.perf_counter() - start)
                        if result.returncode != 0:
                            sys.exit(f"lowpass run failed:\n{result.stderr}")
                        if state == "cold":
                            line = next(line for line in result.stdout.splitlines() if "compiled in" in line)
                            samples.setdefault("compile", []).append(float(line.split("compiled in ")[1].split(" s")[0]))
                    start = time.perf_counter()
                    process = subprocess.run([sys.executable, "-c", ORT_END_TO_END, onnx_path, x_path, str(args.threads),
                                              os.path.join(folder, "ort.npy")], capture_output=True, text=True)
                    if process.returncode == 0:
                        samples.setdefault("ORT process", []).append(time.perf_counter() - start)
                    try:
                        import onnxruntime as ort
                        start = time.perf_counter()
                        options = ort.SessionOptions()
                        options.intra_op_num_threads = args.threads
                        session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
                        session.run(None, {session.get_inputs()[0].name: x})
                        samples.setdefault("ORT", []).append(time.perf_counter() - start)
                        del session
                    except ImportError:
                        pass
                    try:
                        import openvino as ov
                        start = time.perf_counter()
                        compiled_model = ov.Core().compile_model(onnx_path, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": args.threads})
                        compiled_model.create_infer_request().infer([x])
                        samples.setdefault("OpenVINO", []).append(time.perf_counter() - start)
                        del compiled_model
                    except ImportError:
                        pass
                times = {key: statistics.median(values) for key, values in samples.items()}
                peer = times.get("ORT process")
                cells = [f"{times[k]:.2f}" if k in times else "-" for k in ("ORT process", "ORT", "OpenVINO")]
                ratios = [f"{times[k] / peer:.2f}" if peer else "-" for k in ("cold", "warm")]
                print(f"{label:<18} {times['cold']:>7.2f} {times['warm']:>7.2f} {times['compile']:>10.2f} {cells[0]:>14} {cells[1]:>6} {cells[2]:>11}"
                      f" {ratios[0]:>17} {ratios[1]:>17}")
                rows.append({"model": label, **times})
    return rows


MATMUL_PEAK = """
import time, numpy as np
a = np.random.rand(4096, 4096).astype(np.float32); b = np.random.rand(4096, 4096).astype(np.float32)
a @ b
times = []
for _ in range(5):
    start = time.perf_counter(); a @ b; times.append(time.perf_counter() - start)
print(2 * 4096 ** 3 / sorted(times)[2] / 1e9)
"""


def matmul_peak(threads):
    """GFLOP/s of numpy's (OpenBLAS's) fp32 4096x4096 matrix product on `threads` threads, median of 5."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return float(subprocess.run([sys.executable, "-c", MATMUL_PEAK], env=env, check=True, capture_output=True, text=True).stdout)


def kernel_family(kind):
    """`direct conv` for every conv not computed by Winograd, else the kind's first word."""
    if kind.startswith("conv"):
        return "direct conv"
    return kind.split(" ")[0].split("+")[0]


def bench_goals(args, lowpass):
    """The three goal lines of whole-network speed, from Lowpass's own per-kernel profile: direct convs
    against the matrix-multiply peak measured in the same round, the blurs' share of the antialiased
    network, and the antialiased/baseline time ratio."""
    print(f"machine: {machine()}; {args.threads} threads; fp32; 224x224; median of {args.rounds} interleaved rounds of {args.runs} runs\n")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        graphs = {}
        for name in args.models:
            graphs[name] = os.path.join(ROOT, "Graphs", name + ".json")
            graphs[name + "-aa"] = os.path.join(folder, name + "-aa.json")
            lowpass.run("rewrite", graphs[name], "--passes", args.antialias, "-o", graphs[name + "-aa"])
        peaks, profiles = [], {}
        for _ in range(args.rounds):
            peaks.append(matmul_peak(args.threads))
            for label, graph in graphs.items():
                for batch in args.batches:
                    profiles.setdefault((label, batch), []).append(lowpass.bench(graph, batch=batch, runs=args.runs, profile=True))
        peak = statistics.median(peaks)
        print(f"matrix-multiply peak (numpy/OpenBLAS fp32 4096, {args.threads} threads): median {peak:.1f} GFLOP/s "
              f"(rounds: {', '.join(f'{p:.1f}' for p in peaks)}); 80% = {0.8 * peak:.1f}\n")
        print(f"{'model':<14} {'batch':>5} {'ms':>8} {'direct GFLOP/s':>15} {'% peak':>7} {'below 80%':>10} "
              f"{'Winograd GFLOP/s':>17} {'blur %':>7} {'aa/base':>8}")
        for (label, batch), samples in profiles.items():
            ms = statistics.median(r["median_ms"] for r in samples)
            kernels = samples[0]["kernels"]
            # Per family and kernel: medians over the rounds of each round's time.
            def family_rate(family):
                time = statistics.median(sum(k["median_ms"] for k in r["kernels"] if kernel_family(k["kind"]) == family) for r in samples)
                flop = sum(k["gflop"] for k in kernels if kernel_family(k["kind"]) == family)
                return flop / time * 1e3 if flop else None
            direct, winograd = family_rate("direct conv"), family_rate("winograd3x3")
            share = statistics.median(
                sum(k["median_ms"] for k in r["kernels"] if kernel_family(k["kind"]) in ("blurpool", "maxblurpool"))
                / sum(k["median_ms"] for k in r["kernels"]) for r in samples)
            slow = []
            for i, k in enumerate(kernels):
                if kernel_family(k["kind"]) != "direct conv":
                    continue
                rate = k["gflop"] / statistics.median(r["kernels"][i]["median_ms"] for r in samples) * 1e3
                if rate < 0.8 * peak:
                    slow.append((k["name"], k["kind"], rate))
            base = profiles.get((label[:-3], batch)) if label.endswith("-aa") else None
            ratio = f"{ms / statistics.median(r['median_ms'] for r in base):.2f}" if base else "-"
            print(f"{label:<14} {batch:>5} {ms:>8.1f} {direct or 0:>15.1f} {100 * (direct or 0) / peak:>6.0f}% "
                  f"{len(slow):>4} of {sum(kernel_family(k['kind']) == 'direct conv' for k in kernels):<3} "
                  f"{winograd or 0:>17.1f} {100 * share:>6.2f}% {ratio:>8}")
            rows.append({"model": label, "batch": batch, "median_ms": ms, "direct_gflops": direct, "peak_gflops": peak,
                         "winograd_gflops": winograd, "blur_share": share, "below_80": slow})
        for row in rows:
            if row["below_80"]:
                print(f"\n{row['model']} batch {row['batch']}: direct convs below 80% of the peak")
                for name, kind, rate in row["below_80"]:
                    print(f"  {name:<36} {kind:<44} {rate:7.1f} GFLOP/s ({100 * rate / peak:.0f}%)")
    return rows


def random_weights(graph_path, weights_path, seed=0):
    """A .safetensors file of random parameters for a graph (BatchNorm variances positive)."""
    from safetensors.numpy import save_file
    rng = np.random.default_rng(seed)
    graph = json.load(open(graph_path))
    tensors = {}
    for parameter in graph["parameters"]:
        if "data" in parameter:
            continue
        shape = [int(d) for d in parameter["shape"]]
        values = rng.standard_normal(shape).astype(np.float32) * 0.2
        if parameter["name"].endswith("var"):
            values = np.abs(values) + 0.5
        tensors[parameter["name"]] = values
    save_file(tensors, weights_path)


def bench_reparam(args, lowpass):
    """ACNet trains 3x3 + 1x3 + 3x1 branches; fused, it is as many convs as the plain net."""
    print(f"machine: {machine()}; {args.threads} threads; median of {args.rounds} interleaved rounds of {args.runs} runs\n")
    print(f"{'graph':<34} {'batch':>5} {'kernels':>8} {'ms':>9} {'vs ACNet':>9}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        acnet = os.path.join(ROOT, "Graphs", "seed-acnet.json")
        weights = os.path.join(folder, "acnet.safetensors")
        random_weights(acnet, weights)
        fused = os.path.join(folder, "acnet-fused.json")
        lowpass.run("rewrite", acnet, "--weights", weights, "--passes", "fold-bn,fuse-branches", "-o", fused)
        plain = os.path.join(ROOT, "Graphs", "seed-mnist-net.json")
        graphs = [("seed-acnet (trained form)", acnet, ["--weights", weights]), ("seed-acnet fused", fused, []),
                  ("seed-mnist-net (plain)", plain, [])]
        for batch in args.batches:
            samples, kernels = {}, {}
            for _ in range(args.rounds):
                for label, graph, extra in graphs:
                    result = lowpass.bench(graph, batch=batch, runs=args.runs, profile=True, extra=extra)
                    samples.setdefault(label, []).append(result["median_ms"])
                    kernels[label] = len(result["kernels"])
            base = statistics.median(samples[graphs[0][0]])
            for label, _, _ in graphs:
                ms = statistics.median(samples[label])
                print(f"{label:<34} {batch:>5} {kernels[label]:>8} {ms:>9.2f} {base / ms:>8.2f}x")
                rows.append({"graph": label, "batch": batch, "kernels": kernels[label], "median_ms": ms})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["blur", "movement", "models", "reparam", "goals", "compile", "accuracy"])
    parser.add_argument("--lowpass", help="the lowpass binary (default: build it with swift build)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per engine (the median is reported)")
    parser.add_argument("--models", default="resnet18,resnet50", type=lambda text: text.split(","))
    parser.add_argument("--batches", default="1,8", type=lambda text: [int(b) for b in text.split(",")])
    parser.add_argument("--antialias", default="antialias{max-pool-kernel=2}",
                        help="the pipeline that makes the antialiased variant (default: antialiased_cnns' ResNet recipe, filter 4)")
    parser.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                        help="models: bf16 times Lowpass --precision bf16 against OpenVINO in its default precision and Lowpass f32")
    parser.add_argument("--images", type=int, default=100, help="accuracy: how many fixed inputs")
    parser.add_argument("--no-reference", dest="reference", action="store_false",
                        help="accuracy: skip the (slow) comparison with the bf16 reference interpreter")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    lowpass = Lowpass(find_lowpass(args.lowpass), args.threads)
    rows = {"blur": bench_blur, "models": bench_models, "reparam": bench_reparam, "goals": bench_goals, "compile": bench_compile, "movement": bench_movement,
            "accuracy": bench_accuracy}[args.what](args, lowpass)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
