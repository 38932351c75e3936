import LowpassIR
import LowpassTensor

/// Finds GroupNorm as torch.onnx writes it for opsets before 21 (`nn.GroupNorm` has no ONNX op there):
///
///     Reshape(x, [N, G, -1]) -> InstanceNormalization(ones, zeros) -> Reshape(back to x's shape)
///         [-> Mul(scale per channel) -> Add(shift per channel)]
///
/// and makes it one `GroupNormalization`, one kernel instead of a normalization and an element-wise
/// pass. Anything that only looks similar (other InstanceNormalization weights, a reshape to another
/// grouping, a value read elsewhere) stays as it is.
enum GroupNormRecognizer {
    static func raise(_ graph: inout Graph, weights: inout [String: Tensor], types: [String: TensorType], remarks: inout [String]) {
        var raised = 0, removed = Set<String>()
        for name in graph.nodes.filter({ $0.op == .instanceNormalization }).map(\.name) {
            guard let index = graph.index(ofNodeNamed: name), let match = match(at: index, in: graph, weights: weights, types: types) else { continue }
            let last = match.nodes[match.nodes.count - 1]
            let scaleName = graph.freshName(last.name + ".scale"), shiftName = graph.freshName(last.name + ".shift")
            for (parameter, values) in [(scaleName, match.scale), (shiftName, match.shift)] {
                weights[parameter] = Tensor(shape: [values.count], values: values)
                graph.parameters.append(Parameter(name: parameter, type: TensorType(fixed: [values.count])))
            }
            let groupNorm = Node(name: last.name, op: .groupNormalization, inputs: [match.input, scaleName, shiftName], outputs: last.outputs,
                                 attributes: ["num_groups": .int(match.groups), "epsilon": .float(match.epsilon)])
            guard let lastIndex = graph.index(ofNodeNamed: last.name) else { continue }
            graph.replaceNode(at: lastIndex, with: [groupNorm])
            removed.formUnion(match.nodes.dropLast().map(\.name))
            raised += 1
        }
        guard raised > 0 else { return }
        graph.nodes.removeAll { removed.contains($0.name) }
        let unused = Set(graph.parameters.map(\.name).filter { graph.useCount(of: $0) == 0 })
        graph.parameters.removeAll { unused.contains($0.name) }
        for name in unused { weights[name] = nil }
        remarks.append("raised \(raised) GroupNorm(s) written out as Reshape + InstanceNormalization + Reshape [+ Mul + Add] to GroupNormalization")
    }

    struct Match {
        var nodes: [Node]
        var input: String
        var groups: Int
        var epsilon: Double
        var scale: [Float], shift: [Float]
    }

    static func match(at index: Int, in graph: Graph, weights: [String: Tensor], types: [String: TensorType]) -> Match? {
        let norm = graph.nodes[index]
        guard let group = graph.producerIndex(of: norm.inputs[0]).map({ graph.nodes[$0] }), group.op == .reshape,
              graph.hasSingleUse(norm.inputs[0]), let x = types[group.inputs[0]]?.fixedShape, x.count >= 3,
              let grouped = types[norm.inputs[0]]?.fixedShape, grouped.count == 3, grouped[0] == x[0],
              let ones = weights[norm.inputs[1]], let zeros = weights[norm.inputs[2]],
              ones.values.allSatisfy({ $0 == 1 }), zeros.values.allSatisfy({ $0 == 0 }),
              graph.hasSingleUse(norm.outputs[0]), let ungroupIndex = graph.consumers(of: norm.outputs[0]).first,
              graph.nodes[ungroupIndex].op == .reshape, types[graph.nodes[ungroupIndex].outputs[0]]?.fixedShape == x,
              let epsilon = try? norm.float("epsilon") else { return nil }
        let channels = x[1], groups = grouped[1]
        guard groups > 0, channels % groups == 0 else { return nil }
        var nodes = [group, norm, graph.nodes[ungroupIndex]]
        var scale = [Float](repeating: 1, count: channels), shift = [Float](repeating: 0, count: channels)
        // The affine part, when there is one: per-channel constants of shape [C, 1, ...] (or with leading 1s).
        func perChannel(_ node: Node, _ op: OpKind) -> [Float]? {
            guard node.op == op, node.inputs.count == 2, let value = nodes.last?.outputs[0], node.inputs.contains(value),
                  let other = node.inputs.first(where: { $0 != value }), let tensor = weights[other] else { return nil }
            let broadcastShape = [Int](repeating: 1, count: max(0, x.count - tensor.rank)) + tensor.shape
            guard tensor.rank <= x.count, broadcastShape == [1, channels] + [Int](repeating: 1, count: x.count - 2) else { return nil }
            return tensor.values
        }
        for (op, isScale) in [(OpKind.mul, true), (.add, false)] {
            guard let value = nodes.last?.outputs[0], graph.hasSingleUse(value), let next = graph.consumers(of: value).first,
                  let values = perChannel(graph.nodes[next], op) else { break }
            if isScale { scale = values } else { shift = values }
            nodes.append(graph.nodes[next])
        }
        return Match(nodes: nodes, input: group.inputs[0], groups: groups, epsilon: epsilon, scale: scale, shift: shift)
    }
}
