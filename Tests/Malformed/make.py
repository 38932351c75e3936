#!/usr/bin/env python3
"""Writes the malformed-input corpus: Tests/Malformed/<reader>/<case>.<ext> and <case>.expected.

Each .expected file lists, one per line, pieces that Lowpass's error output must contain for that
input (the diagnostic id in brackets, and the phrase that says what is wrong). Tests/LowpassCLITests/
MalformedCorpusTests.swift feeds every case to the `lowpass` command and checks: a failure exit (not a
crash), every expected piece on standard error, and no output file. Rerun after adding a case:
    python3 Tests/Malformed/make.py
"""
import json, os, shutil, struct

HERE = os.path.dirname(os.path.abspath(__file__))

def graph(**over):
    g = {"format": "lowpass-graph", "version": 1, "name": "g",
         "inputs": [{"name": "x", "dtype": "f32", "shape": ["N", 3, 8, 8]}], "outputs": ["y"],
         "parameters": [], "nodes": [{"name": "relu", "op": "Relu", "inputs": ["x"], "outputs": ["y"]}]}
    g.update(over)
    return g

def nodes(*ns): return list(ns)
def node(name, op, inputs, outputs, **attributes):
    n = {"name": name, "op": op, "inputs": inputs, "outputs": outputs}
    if attributes: n["attributes"] = attributes
    return n

cases = {}
def case(reader, name, content, *expected, ext=None):
    ext = ext or {"graph": "json", "npy": "npy", "safetensors": "safetensors", "pipeline": "txt"}[reader]
    if isinstance(content, (dict, list)): content = json.dumps(content, indent=1).encode()
    if isinstance(content, str): content = content.encode()
    cases[(reader, name)] = (ext, content, expected)

# --- graph files (lowpass verify FILE) ---
case("graph", "empty", b"", "[malformed-json]", "unexpected end of input")
case("graph", "truncated", json.dumps(graph())[:-20], "[malformed-json]", "truncated.json: not valid JSON: line 1")
case("graph", "not-an-object", [1, 2, 3], "[bad-graph-file]", "$: expected an object, found an array")
case("graph", "wrong-format", graph(format="onnx"), "$.format: expected \"lowpass-graph\"", "[bad-graph-file]")
case("graph", "future-version", graph(version=2), "$.version: unsupported version 2", "[bad-graph-file]")
case("graph", "version-as-string", graph(version="1"), "$.version: expected the integer 1, found a string")
case("graph", "missing-nodes", {k: v for k, v in graph().items() if k != "nodes"}, "$.nodes: missing; expected an array")
case("graph", "unknown-top-level-key", graph(layers=[]), "$.layers: unknown key")
case("graph", "unknown-op", graph(nodes=[node("relu", "ReLU", ["x"], ["y"])]), "unknown op 'ReLU' (did you mean 'Relu'?)", "[unknown-op]")
case("graph", "node-without-name", graph(nodes=[{"op": "Relu", "inputs": ["x"], "outputs": ["y"]}]), "$.nodes[0].name: missing; expected a string")
case("graph", "inputs-not-an-array", graph(inputs={"x": 1}), "$.inputs: expected an array, found an object")
case("graph", "negative-dimension", graph(inputs=[{"name": "x", "shape": [1, -3, 8, 8]}]), "$.inputs[0].shape[1]: expected an integer from 0 to 2147483647")
case("graph", "huge-dimension", graph(inputs=[{"name": "x", "shape": [1, 3, 5000000000, 8]}]), "$.inputs[0].shape[2]")
case("graph", "unsupported-dtype", graph(inputs=[{"name": "x", "dtype": "f64", "shape": [1, 3, 8, 8]}]), "unsupported dtype 'f64'")
case("graph", "duplicate-node-names", graph(outputs=["z"], nodes=[node("a", "Relu", ["x"], ["y"]), node("a", "Relu", ["y"], ["z"])]),
     "node name 'a' is used twice", "[duplicate-name]")
case("graph", "value-defined-twice", graph(nodes=[node("a", "Relu", ["x"], ["y"]), node("b", "Sigmoid", ["x"], ["y"])]),
     "value 'y' is defined by node 'b' and already by node 'a'", "[duplicate-name]")
case("graph", "respelled-value-names", graph(nodes=[node("a", "Relu", ["x"], ["\u00e9"]), node("b", "Sigmoid", ["e\u0301"], ["y"])]),
     "differ only in Unicode normalization", "[ambiguous-name]")
case("graph", "inline-data-beyond-f32", graph(parameters=[{"name": "k", "shape": [1], "data": [1e39]}],
                                          nodes=[node("add", "Add", ["x", "k"], ["y"])]),
     "$.parameters[0].data[0]: 1e+39 is beyond f32's range")
# A total-memory bomb: 16 parameters, each under the per-tensor limit (3.6e9 floats), 232 GB together.
case("graph", "memory-bomb", graph(inputs=[{"name": "x", "dtype": "f32", "shape": ["N", 3, 9, 8]}], outputs=["y%d" % i for i in range(16)],
                                   parameters=[{"name": "B%d" % i, "shape": [216, 16777216]} for i in range(16)],
                                   nodes=[node("flat", "Flatten", ["x"], ["f"])] + [node("fc%d" % i, "Gemm", ["f", "B%d" % i], ["y%d" % i]) for i in range(16)]),
     "[memory-budget]", "the parameters to seed hold", "the largest: 'B")
case("graph", "undefined-input", graph(nodes=[node("relu", "Relu", ["nowhere"], ["y"])]), "node 'relu': input 'nowhere' is not a graph input", "[undefined-value]")
case("graph", "cycle", graph(outputs=["b"], nodes=[node("a", "Relu", ["b"], ["a"]), node("b", "Relu", ["a"], ["b"])]), "[cycle]", "node 'a'")
case("graph", "wrong-arity", graph(nodes=[node("add", "Add", ["x"], ["y"])]), "Add takes 2 inputs (A, B), got 1", "[arity]")
case("graph", "missing-attribute", graph(nodes=[node("pool", "MaxPool", ["x"], ["y"])]), "MaxPool needs attribute 'kernel_shape'", "[missing-attribute]")
case("graph", "ill-typed-attribute", graph(nodes=[node("pool", "MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides="2")]),
     "$.nodes[0].attributes.strides: node 'pool': expected an array of integers, found a string", "[bad-attribute]")
case("graph", "unknown-attribute", graph(nodes=[node("relu", "Relu", ["x"], ["y"], inplace=1)]), "Relu has no attribute 'inplace'", "[unknown-attribute]")
case("graph", "attribute-beyond-range", graph(nodes=[node("pool", "MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[1000000000000, 2])]),
     "attribute 'strides' holds a value beyond", "[bad-attribute]")
case("graph", "pad-mode-not-allowed", graph(nodes=[node("blur", "BlurPool", ["x"], ["y"], pad_mode="mirror")]),
     "attribute 'pad_mode' must be one of reflect, replicate, zero, circular; got 'mirror'")
case("graph", "shape-mismatch", graph(parameters=[{"name": "w", "shape": [4, 5, 3, 3]}], nodes=[node("conv", "Conv", ["x", "w"], ["y"])]),
     "node 'conv'", "weight expects 5 input channels", "[shape-mismatch]")
case("graph", "reflect-pad-too-large", graph(inputs=[{"name": "x", "shape": [1, 3, 2, 2]}], nodes=[node("blur", "BlurPool", ["x"], ["y"], filter_size=7)]),
     "node 'blur'", "reflect padding [3, 3, 3, 3] needs an input larger than the pad")
case("graph", "window-larger-than-input", graph(nodes=[node("pool", "MaxPool", ["x"], ["y"], kernel_shape=[9, 9])]),
     "window of 9 does not fit the padded input of 8", "[window-too-large]")
case("graph", "tensor-too-large", graph(inputs=[{"name": "x", "shape": [1, 3, 8, 8]}],
     nodes=[node("pad", "Pad", ["x"], ["y"], pads=[0, 0, 0, 0, 0, 0, 2000000000, 2000000000])]), "more than 4294967296 elements", "[tensor-too-large]")
case("graph", "huge-parameter", graph(parameters=[{"name": "w", "shape": [100000, 100000, 3, 3]}]), "parameter 'w'", "[tensor-too-large]")
case("graph", "symbolic-parameter", graph(parameters=[{"name": "w", "shape": ["N", 3]}]), "parameter 'w' has symbolic shape", "[symbolic-parameter]")
case("graph", "inline-data-count", graph(parameters=[{"name": "w", "shape": [3], "data": [1, 2]}]), "declares f32[3] but carries 2 inline values")
case("graph", "softmax-axis-out-of-range", graph(nodes=[node("softmax", "Softmax", ["x"], ["y"], axis=7)]),
     "node 'softmax'", "axis 7 is out of range for rank 4", "[bad-attribute]")
case("graph", "no-outputs", graph(outputs=[]), "the graph declares no outputs", "[no-outputs]")
# The ops of the any-CNN work, each with an attribute a hostile file could carry.
case("graph", "space-to-depth-huge-block", graph(inputs=[{"name": "x", "shape": [1, 1073741824, 2, 2]}], nodes=[node("s", "SpaceToDepth", ["x"], ["y"], blocksize=2)]),
     "node 's'", "beyond the largest dimension", "[tensor-too-large]")
case("graph", "depth-to-space-zero-block", graph(nodes=[node("d", "DepthToSpace", ["x"], ["y"], blocksize=0)]), "blocksize must be at least 1", "[bad-attribute]")
case("graph", "transpose-bad-perm", graph(nodes=[node("t", "Transpose", ["x"], ["y"], perm=[0, 1, 1, 3])]), "is not a permutation of the 4 axes", "[bad-attribute]")
case("graph", "slice-step-zero", graph(nodes=[node("s", "Slice", ["x"], ["y"], starts=[0], ends=[2], steps=[0])]), "a slice step is 0", "[bad-attribute]")
case("graph", "reduce-repeated-axis", graph(nodes=[node("r", "ReduceMean", ["x"], ["y"], axes=[1, -3])]), "repeat an axis", "[bad-attribute]")
case("graph", "expand-huge", graph(inputs=[{"name": "x", "shape": [1, 3, 8, 8]}], nodes=[node("e", "Expand", ["x"], ["y"], shape=[2147483647, 3, 8, 8])]),
     "node 'e'", "[tensor-too-large]")
case("graph", "resize-huge", graph(inputs=[{"name": "x", "shape": [1, 3, 8, 8]}], nodes=[node("r", "Resize", ["x"], ["y"], sizes=[1, 3, 2147483647, 2147483647])]),
     "node 'r'", "[tensor-too-large]")
case("graph", "resize-empty-map", graph(inputs=[{"name": "x", "shape": [1, 3, 0, 8]}], nodes=[node("r", "Resize", ["x"], ["y"], sizes=[1, 3, 4, 16])]),
     "node 'r'", "nothing to sample", "[empty-window]")
case("graph", "layernorm-scale-shape", graph(inputs=[{"name": "x", "shape": [1, 3, 8, 8]}], parameters=[{"name": "s", "shape": [5]}],
     nodes=[node("ln", "LayerNormalization", ["x", "s"], ["y"])]), "node 'ln'", "do not broadcast", "[shape-mismatch]")
case("graph", "tile-huge", graph(inputs=[{"name": "x", "shape": [1000, 1000]}], nodes=[node("t", "Tile", ["x"], ["y"], repeats=[100000, 100000])]),
     "node 't'", "[tensor-too-large]")
case("graph", "tile-repeats-rank", graph(nodes=[node("t", "Tile", ["x"], ["y"], repeats=[2, 2])]), "node 't'", "one per input axis", "[bad-attribute]")
case("graph", "argmax-empty-axis", graph(inputs=[{"name": "x", "shape": [3, 0]}], nodes=[node("a", "ArgMax", ["x"], ["y"], axis=1)]),
     "node 'a'", "which is empty", "[empty-window]")
case("graph", "groupnorm-groups", graph(parameters=[{"name": "s", "shape": [3]}], nodes=[node("g", "GroupNormalization", ["x", "s", "s"], ["y"], num_groups=2)]),
     "node 'g'", "does not divide the 3 channels", "[bad-attribute]")
case("graph", "deep-nesting", '{"format": "lowpass-graph", "version": 1, "name": "g", "metadata": ' + "[" * 5000 + "]" * 5000 + "}",
     "nesting deeper than 256 levels", "[malformed-json]")
case("graph", "invalid-utf8", b'{"format": "lowpass-graph", "version": 1, "name": "\xff\xfe"}', "string is not valid UTF-8", "[malformed-json]")
case("graph", "duplicate-key", '{"format": "lowpass-graph", "format": "x"}', "duplicate key \"format\"", "[malformed-json]")
case("graph", "number-out-of-range", '{"format": "lowpass-graph", "version": 1e999}', "number out of range", "[malformed-json]")
case("graph", "leading-zero", '{"version": 01}', "leading zeros are not allowed", "[malformed-json]")
case("graph", "control-character", '{"name": "a\x01b"}', "control character in string", "[malformed-json]")

# --- .npy inputs (lowpass run <3x9x8 graph> --input FILE) ---
def npy(header, data=b"", version=(1, 0), magic=b"\x93NUMPY"):
    h = header.encode()
    h += b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    return magic + bytes(version) + struct.pack("<H", len(h)) + h + data
good = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 9, 8), }"
case("npy", "empty", b"", "not a .npy file", "[bad-npy]")
case("npy", "bad-magic", npy(good, bytes(4 * 216), magic=b"\x93NUMPX"), "not a .npy file", "[bad-npy]")
case("npy", "truncated-header", npy(good)[:30], "truncated header", "[bad-npy]")
case("npy", "integer-dtype", npy(good.replace("<f4", "<i8"), bytes(8 * 216)), "unsupported dtype '<i8'", "[bad-npy]")
case("npy", "big-endian", npy(good.replace("<f4", ">f4"), bytes(4 * 216)), "unsupported dtype '>f4'", "[bad-npy]")
case("npy", "fortran-order", npy(good.replace("False", "True"), bytes(4 * 216)), "Fortran-order arrays are not supported", "[bad-npy]")
case("npy", "short-data", npy(good, bytes(4 * 200)), "data holds 800 bytes, but shape [1, 3, 9, 8] of '<f4' needs 864", "[bad-npy]")
case("npy", "two-gib-declared", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (536870912,), }", bytes(16)),
     "needs 2147483648", "[bad-npy]")
case("npy", "wrong-shape", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 8, 9), }", bytes(4 * 216)),
     "input 'x' has shape [1, 3, 8, 9], but the graph declares f32[N,3,9,8]", "[input-shape]")
case("npy", "unknown-version", npy(good, bytes(4 * 216), version=(9, 0)), "unsupported .npy version 9", "[bad-npy]")
case("npy", "structured-dtype", npy("{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (1, 3, 9, 8), }", bytes(8 * 216)),
     "structured dtype [('a', '<f4'), ('b', '<f4')] is not supported", "[bad-npy]")
case("npy", "fortran-order-as-string", npy(good.replace("False", "'False'"), bytes(4 * 216)),
     "'fortran_order' must be True or False, found 'False'", "[bad-npy]")
case("npy", "shape-as-list", npy(good.replace("(1, 3, 9, 8)", "[1, 3, 9, 8]"), bytes(4 * 216)),
     "'shape' must be a tuple of integers such as (1, 3, 224, 224), found [1, 3, 9, 8]", "[bad-npy]")
case("npy", "f64-beyond-f32", npy(good.replace("<f4", "<f8"), struct.pack("<d", 1e300) + bytes(8 * 215)),
     "element 0 holds 1e+300, beyond f32's range", "[bad-npy]")
case("npy", "bad-shape-text", npy(good.replace("(1, 3, 9, 8)", "(1, three, 9, 8)"), bytes(4 * 216)), "invalid shape", "[bad-npy]")

# --- .safetensors weights (lowpass run small-convnet --weights FILE) ---
def st(header, data=b"", raw=None):
    h = raw if raw is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data
case("safetensors", "empty", b"", "too short for the 8-byte header length", "[bad-safetensors]")
case("safetensors", "header-length-huge", struct.pack("<Q", 1 << 40) + b"{}", "exceeds the 100 MB limit", "[bad-safetensors]")
case("safetensors", "truncated-header", struct.pack("<Q", 500) + b'{"a": {', "header claims 500 bytes", "[bad-safetensors]")
case("safetensors", "header-not-json", st(None, raw=b"{not json}"), "header is not valid JSON", "[bad-safetensors]")
case("safetensors", "header-not-object", st([1, 2]), "header must be a JSON object", "[bad-safetensors]")
case("safetensors", "two-gib-declared", st({"conv1.weight": {"dtype": "F32", "shape": [536870912], "data_offsets": [0, 2147483648]}}, bytes(16)),
     "runs past the end of the file", "the file is truncated", "[bad-safetensors]")
case("safetensors", "byte-count-mismatch", st({"conv1.weight": {"dtype": "F32", "shape": [8, 3, 3, 3], "data_offsets": [0, 100]}}, bytes(100)),
     "byte range holds 100 bytes but shape [8, 3, 3, 3] of F32 needs 864", "[bad-safetensors]")
case("safetensors", "offsets-reversed", st({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}, bytes(8)),
     "'data_offsets' must be [begin, end]", "[bad-safetensors]")
case("safetensors", "missing-dtype", st({"w": {"shape": [1], "data_offsets": [0, 4]}}, bytes(4)), "missing or non-string 'dtype'")
case("safetensors", "metadata-not-strings", st({"__metadata__": {"epoch": 3}}), "metadata value must be a string")
case("safetensors", "missing-parameters", st({"conv1.weigth": {"dtype": "F32", "shape": [8, 3, 3, 3], "data_offsets": [0, 864]}}, bytes(864)),
     "parameter 'conv1.weight' is not in the weight file (closest name in the file: 'conv1.weigth')", "[missing-parameter]")
case("safetensors", "integer-parameter", st({"conv1.weight": {"dtype": "I64", "shape": [8, 3, 3, 3], "data_offsets": [0, 1728]}}, bytes(1728)),
     "parameter 'conv1.weight' has dtype I64", "[unsupported-dtype]")
# The data must tile exactly (as the safetensors library checks): overlaps, gaps and trailing bytes.
case("safetensors", "overlapping-ranges", st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                             "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)),
     "b: data range [4, 12) overlaps another tensor's", "[bad-safetensors]")
case("safetensors", "gap-between-ranges", st({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                             "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, bytes(12)),
     "leaves bytes [4, 8) to no tensor", "[bad-safetensors]")
case("safetensors", "f64-beyond-f32", st({"conv1.weight": {"dtype": "F64", "shape": [8, 3, 3, 3], "data_offsets": [0, 1728]}},
                                        bytes(8 * 5) + struct.pack("<d", -1e300) + bytes(1728 - 48)),
     "conv1.weight: element 5 holds -1e+300, beyond f32's range", "[bad-safetensors]")
# Names equal as Unicode text but not as bytes (NFC and NFD spellings of "e acute").
case("safetensors", "respelled-names", st({"\u00e9": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                          "e\u0301": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)),
     "differ only in Unicode normalization", "[bad-safetensors]")
case("safetensors", "trailing-bytes", st({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, bytes(7)),
     "3 bytes after the last tensor's data belong to no tensor", "[bad-safetensors]")

# --- pipelines (lowpass rewrite GRAPH -o OUT --passes "$(cat FILE)") ---
case("pipeline", "empty", "", "the pipeline is empty", "[bad-pipeline]")
case("pipeline", "trailing-comma", "dce,", "pipeline:5: trailing ','", "[bad-pipeline]")
case("pipeline", "unknown-pass", "dce,antialais", "unknown pass 'antialais'; did you mean 'antialias'?", "[bad-pipeline]")
case("pipeline", "unknown-option", "antialias{filtr=3}", "pass 'antialias' has no option 'filtr'; did you mean 'filter'?")
case("pipeline", "bad-value", "antialias{filter=0}", "option 'filter' must be in 1...64, got 0")
case("pipeline", "unterminated-quote", 'antialias{exclude="layer1.*}', "unterminated quoted value")
case("pipeline", "unclosed-brace", "antialias{filter=3", "missing '}' to close the options opened here")

# --- ONNX models (lowpass import FILE -o OUT.json) ---
def onnx_cases():
    try:
        import onnx
        from onnx import helper, TensorProto, numpy_helper
        import numpy as np
    except ImportError:
        return False
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    def model(nodes, inits=(w,), opset=17):
        return helper.make_model(helper.make_graph(nodes, "g", [x], [y], list(inits)), opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()
    good = model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")])
    case("onnx", "empty", b"", "holds no graph", "[bad-onnx]", ext="onnx")
    case("onnx", "text-file", "graph { node { op_type: Relu } }", "not an ONNX model", "[bad-onnx]", ext="onnx")
    case("onnx", "truncated", good[: len(good) // 2], "[bad-onnx]", ext="onnx")
    case("onnx", "old-opset", model([helper.make_node("Relu", ["x"], ["y"])], inits=(), opset=7),
         "the model uses ONNX opset 7; Lowpass reads opsets 11 to", "[unsupported-opset]", ext="onnx")
    case("onnx", "unsupported-ops", model([helper.make_node("Relu", ["x"], ["a"], name="r"), helper.make_node("Hardmax", ["a"], ["y"], name="hard")], inits=()),
         "node 'hard': ONNX op Hardmax is not one Lowpass imports", "[unsupported-op]", ext="onnx")
    big = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)
    case("onnx", "range-overflow", model([helper.make_node("Range", ["lo", "hi", "one"], ["r"], name="range"),
                                          helper.make_node("Add", ["x", "r"], ["y"], name="add")],
                                         inits=(big("lo", -2**63), big("hi", 2**63 - 1), big("one", 1))),
         "node 'range': ONNX op Range is not one Lowpass imports", "[unsupported-op]", ext="onnx")
    case("onnx", "einsum-trace", model([helper.make_node("Einsum", ["x", "x"], ["y"], name="trace", equation="bcii,bcjj->bc")], inits=()),
         "node 'trace': Einsum 'bcii,bcjj->bc' is not a batched matrix product", "[unsupported-attribute]", ext="onnx")
    case("onnx", "resize-huge-scale", model([helper.make_node("Resize", ["x", "", "s"], ["y"], name="up")],
                                            inits=(numpy_helper.from_array(np.array([1, 1, 1e30, 1], np.float32), "s"),)),
         "node 'up'", "out of range", "[bad-attribute]", ext="onnx")
    case("onnx", "split-overflowing-sizes", model([helper.make_node("Split", ["x", "p"], ["y", "z"], axis=1, name="split")],
                                                  inits=(numpy_helper.from_array(np.array([2**63 - 1, 4], np.int64), "p"),)),
         "node 'split'", "do not divide axis 1", "[bad-attribute]", ext="onnx")
    case("onnx", "cast-of-nan-shape", model([helper.make_node("Cast", ["c"], ["i"], to=7, name="cast"), helper.make_node("Reshape", ["x", "i"], ["y"], name="r")],
                                            inits=(numpy_helper.from_array(np.array([1e30, np.nan], np.float32), "c"),)),
         "node 'cast'", "[unsupported-op]", ext="onnx")
    bad = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    bad.raw_data = bad.raw_data[:100]
    case("onnx", "short-initializer", model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], inits=(bad,)),
         "tensor 'w' holds 100 bytes but shape [4, 3, 3, 3] needs 432", "[bad-onnx]", ext="onnx")
    outside = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    outside.ClearField("raw_data")
    outside.data_location = TensorProto.EXTERNAL
    entry = outside.external_data.add(); entry.key = "location"; entry.value = "../../etc/passwd"
    case("onnx", "external-data-outside", model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], inits=(outside,)),
         "names external data outside the model's folder", "[bad-onnx]", ext="onnx")
    case("onnx", "dynamic-pads", model([helper.make_node("Shape", ["x"], ["s"], name="shape"), helper.make_node("Pad", ["x", "s"], ["y"], name="pad")], inits=()),
         "node 'pad'", "Pad's pads ('s') depends on a symbolic dimension", "[dynamic-constant]", ext="onnx")
    case("onnx", "undefined-input", model([helper.make_node("Relu", ["nowhere"], ["y"], name="r")], inits=()),
         "node 'r': input 'nowhere' is neither a graph input", ext="onnx")
    # Found by the ONNX fuzzer: a node with fewer inputs than its op reads.
    case("onnx", "node-without-inputs", model([helper.make_node("GlobalAveragePool", [], ["y"], name="gap")], inits=()),
         "node 'gap': GlobalAveragePool needs input 1, the node has 0", "[arity]", ext="onnx")
    # Found by the ONNX fuzzer: pads so large that the padded size overflowed.
    huge = helper.make_tensor("pads", TensorProto.INT64, [8], [0, 0, 0, 0, 0, 0, 2**62, 2**62])
    case("onnx", "pads-overflow", model([helper.make_node("Pad", ["x", "pads"], ["y"], name="pad")], inits=(huge,)),
         "node 'pad'", "attribute 'pads' holds a value beyond", "[bad-attribute]", ext="onnx")
    first = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    second = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    case("onnx", "duplicate-initializer", model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], inits=(first, second)),
         "two initializers are named 'w'", "[bad-onnx]", ext="onnx")
    case("onnx", "unknown-attribute", model([helper.make_node("Relu", ["x"], ["y"], name="r", alpha=0.1)], inits=()),
         "node 'r': Relu has no attribute 'alpha'", "[unknown-attribute]", ext="onnx")
    stats = [numpy_helper.from_array(np.ones(3, np.float32), n) for n in ("s", "b", "m", "v")]
    case("onnx", "training-mode-batchnorm", model([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn", training_mode=1)], inits=stats),
         "node 'bn': BatchNormalization with training_mode=1", "[unsupported-attribute]", ext="onnx")
    return True

def main():
    if not onnx_cases():
        print("onnx is not installed: ONNX cases not regenerated")
    for reader in {r for r, _ in cases}:
        folder = os.path.join(HERE, reader)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    for (reader, name), (ext, content, expected) in sorted(cases.items()):
        with open(os.path.join(HERE, reader, f"{name}.{ext}"), "wb") as f: f.write(content)
        with open(os.path.join(HERE, reader, f"{name}.expected"), "w") as f: f.write("".join(e + "\n" for e in expected))
    print(f"{len(cases)} cases")

main()
