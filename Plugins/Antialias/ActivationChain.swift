import LowpassIR

extension Graph {
    /// Where a conv's layer ends: its output, then the BatchNormalization that alone reads it, then the
    /// activation after that: one node, or the nodes an exporter wrote it out as (SiLU as x * Sigmoid(x),
    /// HardSwish as x * Clip(x+3, 0, 6) / 6). Returns the last value, the ops after the conv by name
    /// (for reports), and whether an activation was found.
    func normalizationAndActivation(after conv: Node, types: [String: TensorType]) -> (last: String, chain: [String], hasActivation: Bool) {
        var chain: [String] = []
        var last = conv.outputs[0]
        if hasSingleUse(last), let next = consumers(of: last).first,
           nodes[next].op == .batchNormalization, nodes[next].inputs.first == last {
            last = nodes[next].outputs[0]
            chain.append(nodes[next].op.rawValue)
        }
        let activation = scalarFunctionRegion(after: last) { isBroadcastConstant($0, to: last, types: types) }
        let hasActivation = activation.contains { nodes[$0].schema.isActivation }
        if hasActivation, let result = activation.last {
            last = nodes[result].outputs[0]
            chain.append(Self.activationName(activation.map { nodes[$0].op }))
        }
        return (last, chain, hasActivation)
    }

    /// A parameter that broadcasts to `value`'s shape without enlarging it (a scalar, PReLU's slopes).
    func isBroadcastConstant(_ name: String, to value: String, types: [String: TensorType]) -> Bool {
        guard producerIndex(of: name) == nil, !inputs.contains(where: { $0.name == name }), let p = types[name]?.shape, let v = types[value]?.shape,
              p.count <= v.count else { return false }
        return zip(p.reversed(), v.reversed()).allSatisfy { $0.value == 1 || $0 == $1 }
    }

    /// How a report names an activation region: its op, or a common written-out form by name.
    static func activationName(_ ops: [OpKind]) -> String {
        switch ops {
        case [.sigmoid, .mul]: return "SiLU"
        case let ops where ops.count == 1: return ops[0].rawValue
        default: return "(" + ops.map(\.rawValue).joined(separator: ", ") + ")"
        }
    }
}
