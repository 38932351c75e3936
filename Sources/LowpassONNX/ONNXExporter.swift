import Foundation
import LowpassIR
import LowpassTensor
import SwiftProtobuf

/// Writes Lowpass graphs as standard ONNX (opset 17), runnable in ONNX Runtime, OpenVINO or TensorRT:
/// `BlurPool` becomes `Pad` + a depthwise `Conv` with the fixed filter as an initializer; attributes that
/// ONNX takes as inputs (Clip bounds, Pad pads, Reshape shapes) become int64/float initializers; a
/// symbolic batch dimension stays symbolic.
public enum ONNXExporter {
    public static let opset: Int64 = 17

    public struct Options: Sendable {
        /// Express zero-padded blurs with the Conv's own pads instead of a Pad node (older TensorRT).
        public var foldZeroPadding = true
        public init() {}
    }

    public static func export(_ graph: Graph, weights: Weights, options: Options = Options()) throws(Diagnostics) -> Data {
        let verified = try graph.verify(parameterDataShapes: weights.tensors.mapValues(\.shape))
        var onnxGraph = Onnx_GraphProto()
        onnxGraph.name = graph.name
        var findings: [Diagnostic] = []
        var initializers: [Onnx_TensorProto] = []
        for parameter in graph.parameters {
            guard let tensor = weights[parameter.name] else {
                findings.append(Diagnostic(.missingParameter, "no data for parameter '\(parameter.name)'"))
                continue
            }
            initializers.append(Onnx_TensorProto(name: parameter.name, tensor: tensor))
        }
        onnxGraph.input = graph.inputs.map { valueInfo($0.name, $0.type) }
        onnxGraph.output = graph.outputs.compactMap { name in verified.types[name].map { valueInfo(name, $0) } }
        for index in verified.order {
            let node = graph.nodes[index]
            do throws(NodeError) {
                let (nodes, constants) = try lower(node, types: verified.types, options: options)
                onnxGraph.node += nodes
                initializers += constants
            } catch {
                findings.append(Diagnostic(error.id, error.message, at: .node(node.name)))
            }
        }
        guard findings.isEmpty else { throw Diagnostics(findings) }
        onnxGraph.initializer = initializers
        var model = Onnx_ModelProto()
        model.irVersion = 8
        model.producerName = "lowpass"
        var opsetImport = Onnx_OperatorSetIdProto()
        opsetImport.domain = ""
        opsetImport.version = opset
        model.opsetImport = [opsetImport]
        model.graph = onnxGraph
        do {
            return try model.serializedBytes()
        } catch {
            throw Diagnostics([Diagnostic(.writeFailed, "cannot encode the ONNX model: \(error)")])
        }
    }

    static func valueInfo(_ name: String, _ type: TensorType) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = name
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = ONNXDataType.float.rawValue
        var shape = Onnx_TensorShapeProto()
        shape.dim = type.shape.map { dim in
            var d = Onnx_TensorShapeProto.Dimension()
            switch dim {
            case .fixed(let n): d.dimValue = Int64(n)
            case .symbol(let s): d.dimParam = s
            }
            return d
        }
        tensor.shape = shape
        var proto = Onnx_TypeProto()
        proto.tensorType = tensor
        info.type = proto
        return info
    }

    static func attribute(_ name: String, _ value: AttributeValue) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        switch value {
        case .int(let v): a.type = .int; a.i = Int64(v)
        case .ints(let v): a.type = .ints; a.ints = v.map(Int64.init)
        case .float(let v): a.type = .float; a.f = Float(v)
        case .floats(let v): a.type = .floats; a.floats = v.map(Float.init)
        case .string(let v): a.type = .string; a.s = Data(v.utf8)
        }
        return a
    }

    static func onnxNode(_ op: String, _ name: String, _ inputs: [String], _ outputs: [String], _ attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = name
        n.input = inputs
        n.output = outputs
        n.attribute = attributes
        return n
    }

    /// The ONNX nodes (and constant initializers) for one Lowpass node.
    static func lower(_ node: Node, types: [String: TensorType], options: Options) throws(NodeError) -> ([Onnx_NodeProto], [Onnx_TensorProto]) {
        let out = node.outputs
        let attributes = node.attributes.sorted.map { attribute($0.name, $0.value) }
        switch node.op {
        case .conv, .convTranspose, .maxPool, .averagePool, .globalAveragePool, .batchNormalization, .gemm, .matMul, .flatten, .concat, .identity, .softmax, .logSoftmax,
             .transpose, .reduceMean, .reduceMax, .reduceMin, .reduceL2, .layerNormalization, .instanceNormalization, .depthToSpace, .spaceToDepth:
            return ([onnxNode(node.op.rawValue, node.name, node.inputs, out, attributes)], [])
        case .relu, .sigmoid, .hardSigmoid, .hardSwish, .leakyRelu, .elu, .selu, .celu, .gelu, .mish, .softplus, .tanh, .neg, .abs,
             .reciprocal, .sqrt, .exp, .log, .erf, .floor, .ceil, .sin, .cos, .add, .sub, .mul, .div, .pow, .prelu, .max, .min, .sum, .mean:
            if let since = node.schema.onnxSince, since <= opset {
                return ([onnxNode(node.op.rawValue, node.name, node.inputs, out, attributes)], [])
            }
            return try decomposed(node)
        case .reduceSum, .slice, .squeeze, .unsqueeze, .expand, .tile:
            return try lowerWithListInputs(node)
        case .argMax, .argMin:
            // ONNX gives int64 indices; Lowpass's are float.
            let indices = node.name + ".indices"
            return ([onnxNode(node.op.rawValue, node.name, node.inputs, [indices], attributes),
                     onnxNode("Cast", node.name + ".cast", [indices], out, [attribute("to", .int(Int(ONNXDataType.float.rawValue)))])], [])
        case .groupNormalization:
            return try lowerGroupNorm(node, types: types)
        case .gather:
            let name = node.name + ".indices"
            let indices = Onnx_TensorProto(name: name, ints: try node.ints("indices"), shape: try node.ints("indices_shape"))
            return ([onnxNode("Gather", node.name, [node.inputs[0], name], out, [attribute("axis", .int(try node.int("axis")))])], [indices])
        case .resize:
            // ONNX takes either scales or sizes; the scales, when the node has them, say how coordinates map.
            let attributes = try ["mode", "coordinate_transformation_mode", "nearest_mode"].map { (key) throws(NodeError) in attribute(key, .string(try node.string(key))) }
            if case .floats(let scales)? = node.attributes["scales"] {
                let name = node.name + ".scales"
                return ([onnxNode("Resize", node.name, [node.inputs[0], "", name], out, attributes)],
                        [Onnx_TensorProto(name: name, tensor: Tensor(shape: [scales.count], values: scales.map(Float.init)))])
            }
            let name = node.name + ".sizes"
            return ([onnxNode("Resize", node.name, [node.inputs[0], "", "", name], out, attributes)], [Onnx_TensorProto(name: name, ints: try node.ints("sizes"))])
        case .dropout:
            // Identity at inference; ONNX's Dropout takes its ratio as an input since opset 12.
            return ([onnxNode("Identity", node.name, [node.inputs[0]], out)], [])
        case .clip:
            let low = node.name + ".min", high = node.name + ".max"
            let bounds = [Onnx_TensorProto(name: low, tensor: Tensor(shape: [], values: [Float(try node.float("min"))])),
                          Onnx_TensorProto(name: high, tensor: Tensor(shape: [], values: [Float(try node.float("max"))]))]
            return ([onnxNode("Clip", node.name, [node.inputs[0], low, high], out)], bounds)
        case .pad where try node.string("mode") == "wrap":
            guard let shape = types[node.inputs[0]]?.shape.map({ $0.value ?? 0 }) else { throw NodeError(.unsupportedExport, "Pad needs a known input shape") }
            return try wrapPadding(node.inputs[0], pads: try node.ints("pads"), shape: shape, output: out[0], name: node.name)
        case .pad:
            let pads = node.name + ".pads", value = node.name + ".value"
            let constants = [Onnx_TensorProto(name: pads, ints: try node.ints("pads")),
                             Onnx_TensorProto(name: value, tensor: Tensor(shape: [], values: [Float(try node.float("value"))]))]
            return ([onnxNode("Pad", node.name, [node.inputs[0], pads, value], out, [attribute("mode", .string(try node.string("mode")))])], constants)
        case .reshape:
            let shape = node.name + ".shape"
            let allowZero = try node.int("allowzero")
            return ([onnxNode("Reshape", node.name, [node.inputs[0], shape], out, allowZero != 0 ? [attribute("allowzero", .int(1))] : [])],
                    [Onnx_TensorProto(name: shape, ints: try node.ints("shape"))])
        case .adaptiveAveragePool:
            // Exact only when the output size divides the input size: then it is a plain average pool.
            guard let input = types[node.inputs[0]]?.shape.suffix(2).compactMap(\.value), input.count == 2 else {
                throw NodeError(.unsupportedExport, "AdaptiveAveragePool needs a fixed input size")
            }
            let size = try node.ints("output_size")
            guard input[0] % size[0] == 0, input[1] % size[1] == 0 else {
                throw NodeError(.unsupportedExport, "AdaptiveAveragePool from \(input) to \(size) has no exact ONNX form (the output size must divide the input size)")
            }
            let kernel = [input[0] / size[0], input[1] / size[1]]
            return ([onnxNode("AveragePool", node.name, node.inputs, out, [attribute("kernel_shape", .ints(kernel)), attribute("strides", .ints(kernel))])], [])
        case .blurPool:
            return try lowerBlur(node, types: types, options: options)
        case .polyphaseIndex:
            return try lowerPolyphaseIndex(node, types: types)
        case .polyphaseSelect:
            return try lowerPolyphaseSelect(node, types: types)
        }
    }

    /// Ops whose integer lists are inputs in opset 17 (attributes in Lowpass): ReduceSum's and
    /// Squeeze's and Unsqueeze's axes, Slice's starts, ends, axes and steps, Expand's shape and
    /// Tile's repeats, as initializers.
    static func lowerWithListInputs(_ node: Node) throws(NodeError) -> ([Onnx_NodeProto], [Onnx_TensorProto]) {
        let lists = [.slice: ["starts", "ends", "axes", "steps"], .expand: ["shape"], .tile: ["repeats"]][node.op] ?? ["axes"]
        var inputs = [node.inputs[0]], constants: [Onnx_TensorProto] = []
        for key in lists {
            guard let value = node.attributes[key] else { inputs.append(""); continue }
            guard case .ints(let values) = value else { throw NodeError(.badAttribute, "attribute '\(key)' must be a list of integers") }
            let name = "\(node.name).\(key)"
            constants.append(Onnx_TensorProto(name: name, ints: values))
            inputs.append(name)
        }
        while inputs.last == "" { inputs.removeLast() }
        let attributes = node.op == .reduceSum ? [attribute("keepdims", .int(try node.int("keepdims")))] : []
        return ([onnxNode(node.op.rawValue, node.name, inputs, node.outputs, attributes)], constants)
    }

    /// An element-wise op the target opset lacks (Gelu, Mish) as the ONNX ops of its scalar expression.
    static func decomposed(_ node: Node) throws(NodeError) -> ([Onnx_NodeProto], [Onnx_TensorProto]) {
        var nodes: [Onnx_NodeProto] = [], constants: [Onnx_TensorProto] = []
        func fresh() -> String { "\(node.name).\(nodes.count + constants.count)" }
        func apply(_ op: String, _ inputs: [String]) -> String {
            let name = fresh()
            nodes.append(onnxNode(op, name, inputs, [name]))
            return name
        }
        func lower(_ e: ScalarExpression) -> String {
            switch e {
            case .input(let i): return node.inputs[i]
            case .constant(let c):
                let name = fresh()
                constants.append(Onnx_TensorProto(name: name, tensor: Tensor(shape: [], values: [Float(c)])))
                return name
            case .unary(let f, let a):
                let names: [ScalarExpression.UnaryFunction: String] = [.negate: "Neg", .abs: "Abs", .exp: "Exp", .log: "Log", .sqrt: "Sqrt", .tanh: "Tanh", .erf: "Erf", .sin: "Sin", .cos: "Cos",
                                                                            .floor: "Floor", .ceil: "Ceil"]
                return apply(names[f] ?? f.rawValue, [lower(a)])
            case .binary(let f, let a, let b):
                let names: [ScalarExpression.BinaryFunction: String] = [.add: "Add", .subtract: "Sub", .multiply: "Mul", .divide: "Div", .power: "Pow", .max: "Max", .min: "Min"]
                return apply(names[f] ?? f.rawValue, [lower(a), lower(b)])
            case .ifLess(let a, let b, let then, let otherwise):
                let condition = apply("Less", [lower(a), lower(b)])
                return apply("Where", [condition, lower(then), lower(otherwise)])
            }
        }
        let result = lower(try node.scalarExpression())
        nodes.append(onnxNode("Identity", node.name, [result], node.outputs))
        return (nodes, constants)
    }

    /// GroupNormalization as torch.onnx writes it for opset 17 (which lacks the op): the groups
    /// normalized as InstanceNormalization over `[N, G, rest]`, then the per-channel scale and shift.
    static func lowerGroupNorm(_ node: Node, types: [String: TensorType]) throws(NodeError) -> ([Onnx_NodeProto], [Onnx_TensorProto]) {
        guard let shape = types[node.inputs[0]]?.fixedShape, shape.count >= 3 else {
            throw NodeError(.unsupportedExport, "GroupNormalization needs a fixed input shape to be written for opset 17")
        }
        let groups = try node.int("num_groups"), name = node.name
        let perChannel = [shape[1]] + Array(repeating: 1, count: shape.count - 2)
        let constants = [
            Onnx_TensorProto(name: name + ".grouped_shape", ints: [shape[0], groups, -1]),
            Onnx_TensorProto(name: name + ".shape", ints: shape),
            Onnx_TensorProto(name: name + ".per_channel", ints: perChannel),
            Onnx_TensorProto(name: name + ".ones", tensor: Tensor(shape: [groups], values: Array(repeating: 1, count: groups))),
            Onnx_TensorProto(name: name + ".zeros", tensor: Tensor(zeros: [groups])),
        ]
        let nodes = [
            onnxNode("Reshape", name + ".group", [node.inputs[0], name + ".grouped_shape"], [name + ".grouped"]),
            onnxNode("InstanceNormalization", name + ".normalize", [name + ".grouped", name + ".ones", name + ".zeros"], [name + ".normalized"],
                     [attribute("epsilon", .float(try node.float("epsilon")))]),
            onnxNode("Reshape", name + ".ungroup", [name + ".normalized", name + ".shape"], [name + ".ungrouped"]),
            onnxNode("Reshape", name + ".scale", [node.inputs[1], name + ".per_channel"], [name + ".scale_c"]),
            onnxNode("Reshape", name + ".bias", [node.inputs[2], name + ".per_channel"], [name + ".bias_c"]),
            onnxNode("Mul", name + ".mul", [name + ".ungrouped", name + ".scale_c"], [name + ".scaled"]),
            onnxNode("Add", name, [name + ".scaled", name + ".bias_c"], node.outputs),
        ]
        return (nodes, constants)
    }

    /// BlurPool -> [Pad] + depthwise Conv with the normalized binomial filter (constant channel count, static pads).
    static func lowerBlur(_ node: Node, types: [String: TensorType], options: Options) throws(NodeError) -> ([Onnx_NodeProto], [Onnx_TensorProto]) {
        let spec = try node.blurPoolSpec()
        guard let channels = types[node.inputs[0]]?.shape.dropFirst().first?.value else {
            throw NodeError(.unsupportedExport, "BlurPool needs a fixed channel count")
        }
        let m = spec.filterSize, taps = spec.taps
        let filterName = node.name + ".filter"
        let filter = Tensor(shape: [channels, 1, m, m]) { i in Float(taps[(i / m) % m] * taps[i % m]) }
        var convAttributes = [attribute("group", .int(channels)), attribute("strides", .ints(spec.strides)), attribute("kernel_shape", .ints([m, m]))]
        var nodes: [Onnx_NodeProto] = []
        var constants = [Onnx_TensorProto(name: filterName, tensor: filter)]
        var convInput = node.inputs[0]
        if spec.padMode == .zero && options.foldZeroPadding {
            convAttributes.append(attribute("pads", .ints(spec.pads)))
        } else if spec.padMode == .circular {
            guard let shape = types[node.inputs[0]]?.shape.map({ $0.value ?? 0 }) else { throw NodeError(.unsupportedExport, "BlurPool needs a known input shape") }
            let p = spec.pads
            let (padding, paddingConstants) = try wrapPadding(node.inputs[0], pads: [0, 0, p[0], p[1], 0, 0, p[2], p[3]], shape: shape,
                                                              output: node.name + ".padded", name: node.name)
            nodes += padding
            constants += paddingConstants
            convInput = node.name + ".padded"
        } else if spec.pads != [0, 0, 0, 0] {
            let padsName = node.name + ".pads", padded = node.name + ".padded"
            let p = spec.pads
            constants.append(Onnx_TensorProto(name: padsName, ints: [0, 0, p[0], p[1], 0, 0, p[2], p[3]]))
            let mode = spec.padMode == .reflect ? "reflect" : spec.padMode == .replicate ? "edge" : "constant"
            nodes.append(onnxNode("Pad", node.name + ".pad", [node.inputs[0], padsName], [padded], [attribute("mode", .string(mode))]))
            convInput = padded
        }
        nodes.append(onnxNode("Conv", node.name, [convInput, filterName], node.outputs, convAttributes))
        return (nodes, constants)
    }
}
