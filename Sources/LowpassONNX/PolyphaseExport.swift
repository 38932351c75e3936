import LowpassIR
import LowpassTensor

/// Adaptive polyphase sampling and circular padding in opset 17, which has neither: the components are
/// a Reshape and Transpose of the map, the choice ReduceSumSquare (or ReduceL1) then ArgMax, the
/// selection GatherElements; wrap padding is Slices of the far edges concatenated around the map.
/// `PolyphaseRecognizer` turns these patterns back into the ops on import.
extension ONNXExporter {
    /// Nodes that pad `input` circularly by `pads` ([begin..., end...] per axis), ending in `output`.
    static func wrapPadding(_ input: String, pads: [Int], shape: [Int], output: String, name: String) throws(NodeError) -> ([Onnx_NodeProto], [Onnx_TensorProto]) {
        let rank = shape.count
        var nodes: [Onnx_NodeProto] = [], constants: [Onnx_TensorProto] = []
        var current = input
        let padded = (0..<rank).filter { pads[$0] != 0 || pads[$0 + rank] != 0 }
        for axis in padded {
            let (before, after, n) = (pads[axis], pads[axis + rank], shape[axis])
            guard before >= 0, after >= 0, before <= n, after <= n else {
                throw NodeError(.unsupportedExport, "wrap padding (\(before), \(after)) of an axis of \(n) has no opset-17 form (at most the axis size, not negative)")
            }
            var parts: [String] = []
            for (side, start, end) in [("before", n - before, n), ("after", 0, after)] where end > start {
                let base = "\(name).wrap\(axis).\(side)"
                constants += [Onnx_TensorProto(name: base + ".starts", ints: [start]), Onnx_TensorProto(name: base + ".ends", ints: [end]),
                              Onnx_TensorProto(name: base + ".axes", ints: [axis])]
                nodes.append(onnxNode("Slice", base, [current, base + ".starts", base + ".ends", base + ".axes"], [base]))
                parts.append(base)
            }
            let joined = axis == padded.last ? output : "\(name).wrap\(axis)"
            let ordered = (before > 0 ? [parts[0]] : []) + [current] + (after > 0 ? [parts[parts.count - 1]] : [])
            nodes.append(onnxNode("Concat", joined, ordered, [joined], [attribute("axis", .int(axis))]))
            current = joined
        }
        if padded.isEmpty { nodes.append(onnxNode("Identity", output, [input], [output])) }
        return (nodes, constants)
    }

    /// The map's polyphase components as [N, sH*sW, C, Ho, Wo], wrapped first where the map is not a
    /// whole number of strides.
    static func polyphaseComponents(_ node: Node, types: [String: TensorType]) throws(NodeError) -> (nodes: [Onnx_NodeProto], constants: [Onnx_TensorProto], output: String) {
        guard let shape = types[node.inputs[0]]?.shape, shape.count == 4, let c = shape[1].value, let h = shape[2].value, let w = shape[3].value else {
            throw NodeError(.unsupportedExport, "\(node.op.rawValue) needs a fixed channel count, height and width")
        }
        let grid = try node.polyphaseGrid(height: h, width: w)
        let (sH, sW, ho, wo) = (grid.strides[0], grid.strides[1], grid.outputHeight, grid.outputWidth)
        let name = node.name
        var (nodes, constants) = ([Onnx_NodeProto](), [Onnx_TensorProto]())
        var map = node.inputs[0]
        if ho * sH != h || wo * sW != w {
            let padding = try wrapPadding(map, pads: [0, 0, 0, 0, 0, 0, ho * sH - h, wo * sW - w], shape: [1, c, h, w], output: name + ".wrapped", name: name)
            (nodes, constants, map) = (padding.0, padding.1, name + ".wrapped")
        }
        constants += [Onnx_TensorProto(name: name + ".grid_shape", ints: [0, c, ho, sH, wo, sW]),
                      Onnx_TensorProto(name: name + ".components_shape", ints: [0, sH * sW, c, ho, wo])]
        nodes += [onnxNode("Reshape", name + ".grid", [map, name + ".grid_shape"], [name + ".grid"]),
                  onnxNode("Transpose", name + ".phases", [name + ".grid"], [name + ".phases"], [attribute("perm", .ints([0, 3, 5, 1, 2, 4]))]),
                  onnxNode("Reshape", name + ".components", [name + ".phases", name + ".components_shape"], [name + ".components"])]
        return (nodes, constants, name + ".components")
    }

    static func lowerPolyphaseIndex(_ node: Node, types: [String: TensorType]) throws(NodeError) -> ([Onnx_NodeProto], [Onnx_TensorProto]) {
        var (nodes, constants, components) = try polyphaseComponents(node, types: types)
        let name = node.name
        let reduce = try node.polyphaseNorm() == .l2 ? "ReduceSumSquare" : "ReduceL1"
        nodes += [onnxNode(reduce, name + ".norms", [components], [name + ".norms"], [attribute("axes", .ints([2, 3, 4])), attribute("keepdims", .int(0))]),
                  onnxNode("ArgMax", name + ".argmax", [name + ".norms"], [name + ".argmax"], [attribute("axis", .int(1)), attribute("keepdims", .int(0))]),
                  onnxNode("Cast", name, [name + ".argmax"], node.outputs, [attribute("to", .int(Int(ONNXDataType.float.rawValue)))])]
        return (nodes, constants)
    }

    static func lowerPolyphaseSelect(_ node: Node, types: [String: TensorType]) throws(NodeError) -> ([Onnx_NodeProto], [Onnx_TensorProto]) {
        var (nodes, constants, components) = try polyphaseComponents(node, types: types)
        guard let shape = types[node.outputs[0]]?.shape.compactMap(\.value), shape.count >= 3 else {
            throw NodeError(.unsupportedExport, "PolyphaseSelect needs a fixed output size")
        }
        let name = node.name
        let count = try node.ints("strides", count: 2, minimum: 1).reduce(1, *)
        constants += [Onnx_TensorProto(name: name + ".low", ints: [0], shape: []), Onnx_TensorProto(name: name + ".high", ints: [count - 1], shape: []),
                      Onnx_TensorProto(name: name + ".index_shape", ints: [-1, 1, 1, 1, 1]),
                      Onnx_TensorProto(name: name + ".index_expanded", ints: [1, 1] + shape.suffix(3)),
                      Onnx_TensorProto(name: name + ".squeezed", ints: [1])]
        nodes += [onnxNode("Cast", name + ".k", [node.inputs[1]], [name + ".k"], [attribute("to", .int(Int(ONNXDataType.int64.rawValue)))]),
                  onnxNode("Clip", name + ".clamped", [name + ".k", name + ".low", name + ".high"], [name + ".clamped"]),
                  onnxNode("Reshape", name + ".k5", [name + ".clamped", name + ".index_shape"], [name + ".k5"]),
                  onnxNode("Expand", name + ".k_map", [name + ".k5", name + ".index_expanded"], [name + ".k_map"]),
                  onnxNode("GatherElements", name + ".chosen", [components, name + ".k_map"], [name + ".chosen"], [attribute("axis", .int(1))]),
                  onnxNode("Squeeze", name, [name + ".chosen", name + ".squeezed"], node.outputs)]
        return (nodes, constants)
    }
}
