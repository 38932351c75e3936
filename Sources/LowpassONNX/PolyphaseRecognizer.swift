import LowpassIR

/// Finds adaptive polyphase sampling as `ONNXExporter` writes it for opset 17, before the nodes are
/// translated (its ReduceSumSquare, GatherElements and integer Cast have no Lowpass op of their own):
///
///     choice:    Reshape(x, [0, C, Ho, sH, Wo, sW]) -> Transpose([0, 3, 5, 1, 2, 4]) -> Reshape([0, sH*sW, C, Ho, Wo])
///                -> ReduceSumSquare | ReduceL1 (axes [2, 3, 4]) -> ArgMax(axis 1) -> Cast(float)
///     selection: the same components of x; Cast(index, int64) -> Clip(0, sH*sW-1) -> Reshape([-1, 1, 1, 1, 1])
///                -> Expand -> GatherElements(components, axis 1) -> Squeeze([1])
///
/// Each becomes one node of domain `ai.lowpass` (PolyphaseIndex, PolyphaseSelect) that the translator
/// emits as the op. Intermediate values must have no other reader; anything else is left as it is.
struct PolyphaseRecognizer {
    static let domain = "ai.lowpass"

    private var nodes: [Onnx_NodeProto]
    private let constants: [String: ONNXConstant]
    private var producer: [String: Int] = [:]
    private var readers: [String: Int] = [:]
    private var dropped = Set<Int>()
    private(set) var raised = 0

    init(_ nodes: [Onnx_NodeProto], constants: [String: ONNXConstant], graphOutputs: [String]) {
        (self.nodes, self.constants) = (nodes, constants)
        for (i, node) in nodes.enumerated() {
            for output in node.output { producer[output] = i }
            for input in node.input { readers[input, default: 0] += 1 }
        }
        for output in graphOutputs { readers[output, default: 0] += 1 }
    }

    /// The nodes with every recognized pattern replaced, in the original order.
    mutating func raise() -> [Onnx_NodeProto] {
        var replacements: [Int: Onnx_NodeProto] = [:]
        for (i, node) in nodes.enumerated() {
            if node.opType == "Cast", let raisedNode = choice(endingAt: i) { replacements[i] = raisedNode }
            if node.opType == "Squeeze", let raisedNode = selection(endingAt: i) { replacements[i] = raisedNode }
        }
        return nodes.indices.compactMap { i in replacements[i] ?? (dropped.contains(i) ? nil : nodes[i]) }
    }

    // MARK: Patterns

    private mutating func choice(endingAt i: Int) -> Onnx_NodeProto? {
        let cast = nodes[i]
        guard ONNXAttributes(cast).int("to") == Int(ONNXDataType.float.rawValue),
              let (argmax, a) = single("ArgMax", cast.input.first), ONNXAttributes(argmax).int("axis") == 1, ONNXAttributes(argmax).int("keepdims") == 0,
              (ONNXAttributes(argmax).int("select_last_index") ?? 0) == 0,
              let r = producer[argmax.input.first ?? ""], ["ReduceSumSquare", "ReduceL1"].contains(nodes[r].opType),
              let (reduce, _) = single(nodes[r].opType, argmax.input.first),
              ONNXAttributes(reduce).ints("axes") == [2, 3, 4], ONNXAttributes(reduce).int("keepdims") == 0,
              let (input, strides, chain) = components(reduce.input.first) else { return nil }
        dropped.formUnion(chain + [a, r])
        raised += 1
        return Self.node("PolyphaseIndex", cast, inputs: [input],
                         strides: strides, norm: reduce.opType == "ReduceL1" ? "l1" : "l2")
    }

    private mutating func selection(endingAt i: Int) -> Onnx_NodeProto? {
        let squeeze = nodes[i]
        guard squeeze.input.count == 2, constants[squeeze.input[1]]?.ints == [1],
              let (gather, g) = single("GatherElements", squeeze.input.first), ONNXAttributes(gather).int("axis") == 1, gather.input.count == 2,
              let (expand, e) = single("Expand", gather.input[1]),
              let (reshape, s) = single("Reshape", expand.input.first), reshape.input.count == 2, constants[reshape.input[1]]?.ints == [-1, 1, 1, 1, 1],
              let (clip, c) = single("Clip", reshape.input.first), clip.input.count == 3, constants[clip.input[1]]?.ints == [0],
              let (toInteger, t) = single("Cast", clip.input.first), toInteger.input.count == 1, ONNXAttributes(toInteger).int("to") == Int(ONNXDataType.int64.rawValue),
              let (input, strides, chain) = components(gather.input.first),
              constants[clip.input[2]]?.ints == [strides[0] * strides[1] - 1] else { return nil }
        dropped.formUnion(chain + [g, e, s, c, t])
        raised += 1
        return Self.node("PolyphaseSelect", squeeze, inputs: [input, toInteger.input[0]], strides: strides, norm: nil)
    }

    /// Reshape -> Transpose -> Reshape ending in `value`: the map, its strides, and the three nodes.
    private func components(_ value: String?) -> (input: String, strides: [Int], nodes: [Int])? {
        guard let (last, l) = single("Reshape", value), last.input.count == 2, let shape = constants[last.input[1]]?.ints, shape.count == 5,
              let (transpose, t) = single("Transpose", last.input.first), ONNXAttributes(transpose).ints("perm") == [0, 3, 5, 1, 2, 4],
              let (grid, g) = single("Reshape", transpose.input.first), grid.input.count == 2, let gridShape = constants[grid.input[1]]?.ints,
              gridShape.count == 6, gridShape[0] == 0, shape[0] == 0, gridShape[3] >= 1, gridShape[5] >= 1,
              shape[1] == gridShape[3] * gridShape[5], shape[2] == gridShape[1], shape[3] == gridShape[2], shape[4] == gridShape[4] else { return nil }
        return (grid.input[0], [gridShape[3], gridShape[5]], [l, t, g])
    }

    /// The node of `opType` that writes `value`, read by nothing else.
    private func single(_ opType: String, _ value: String?) -> (Onnx_NodeProto, Int)? {
        guard let value, let i = producer[value], nodes[i].opType == opType, nodes[i].domain.isEmpty || nodes[i].domain == "ai.onnx",
              readers[value] == 1, !dropped.contains(i) else { return nil }
        return (nodes[i], i)
    }

    private static func node(_ op: String, _ last: Onnx_NodeProto, inputs: [String], strides: [Int], norm: String?) -> Onnx_NodeProto {
        var node = ONNXExporter.onnxNode(op, last.name, inputs, last.output, [ONNXExporter.attribute("strides", .ints(strides))]
                                         + (norm.map { [ONNXExporter.attribute("norm", .string($0))] } ?? []))
        node.domain = domain
        return node
    }
}
