import LowpassIR

/// Finds circular padding as opset 17 spells it (Lowpass's export of `Pad` wrap, the circular convs of
/// `aps`): Concat(Slice(x, [n-b, n)), x, Slice(x, [0, a))) along one axis, either slice absent. Each
/// becomes Pad(mode=wrap), and a wrap Pad of a wrap Pad on other axes merges into it, so an imported
/// APS network pads in one pass per conv as the graph it was exported from did.
enum WrapPadRecognizer {
    static func raise(_ graph: inout Graph, types: [String: TensorType], remarks: inout [String]) {
        var raised = 0, removed = Set<String>()
        for name in graph.nodes.filter({ $0.op == .concat }).map(\.name) {
            guard let index = graph.index(ofNodeNamed: name), let (pad, slices) = match(graph.nodes[index], in: graph, types: types) else { continue }
            var replacement = pad
            // Pad(Pad(x)) on other axes (the inner one read only by this Concat and its Slices): one Pad.
            if let inner = graph.producerIndex(of: pad.inputs[0]).map({ graph.nodes[$0] }), inner.op == .pad, (try? inner.string("mode")) == "wrap",
               graph.useCount(of: pad.inputs[0]) == 1 + slices.count, !graph.isGraphOutput(pad.inputs[0]), let outer = try? pad.ints("pads"), let first = try? inner.ints("pads"), outer.count == first.count,
               zip(outer, first).allSatisfy({ $0 == 0 || $1 == 0 }) {
                replacement.inputs = inner.inputs
                replacement.attributes["pads"] = .ints(zip(outer, first).map { $0 + $1 })
                removed.insert(inner.name)
            }
            graph.replaceNode(at: index, with: [replacement])
            removed.formUnion(slices)
            raised += 1
        }
        guard raised > 0 else { return }
        graph.nodes.removeAll { removed.contains($0.name) }
        remarks.append("raised \(raised) circular padding(s) written as Slice + Concat to Pad(mode=wrap)")
    }

    /// The wrap Pad a Concat computes, and the Slice nodes it replaces.
    static func match(_ concat: Node, in graph: Graph, types: [String: TensorType]) -> (Node, [String])? {
        guard (2...3).contains(concat.inputs.count), let rank = types[concat.outputs[0]]?.rank, let rawAxis = try? concat.int("axis") else { return nil }
        let axis = rawAxis < 0 ? rawAxis + rank : rawAxis
        // The map is the input that no Slice of the others reads from: try each position.
        for position in concat.inputs.indices {
            let x = concat.inputs[position]
            guard let shape = types[x]?.shape, shape.indices.contains(axis), let n = shape[axis].value, n > 0 else { continue }
            let before = concat.inputs[..<position], after = concat.inputs[(position + 1)...]
            guard before.count <= 1, after.count <= 1 else { continue }
            var pads = [Int](repeating: 0, count: 2 * rank), slices: [String] = []
            var matched = true
            for (side, value) in [(0, before.first), (1, after.first)] {
                guard let value else { continue }
                guard let (count, slice) = sliceLength(value, of: x, axis: axis, size: n, fromEnd: side == 0, graph: graph) else { matched = false; break }
                pads[side == 0 ? axis : axis + rank] = count
                slices.append(slice)
            }
            guard matched, !slices.isEmpty else { continue }
            return (Node(name: concat.name, op: .pad, inputs: [x], outputs: concat.outputs, attributes: ["mode": .string("wrap"), "pads": .ints(pads)]), slices)
        }
        return nil
    }

    /// How many elements `value` takes from the end (or the start) of `x` along `axis`, if it is such a Slice read only here.
    static func sliceLength(_ value: String, of x: String, axis: Int, size n: Int, fromEnd: Bool, graph: Graph) -> (Int, String)? {
        guard graph.hasSingleUse(value), let producer = graph.producerIndex(of: value) else { return nil }
        let slice = graph.nodes[producer]
        guard slice.op == .slice, slice.inputs.first == x, let starts = try? slice.ints("starts"), let ends = try? slice.ints("ends"), starts.count == 1,
              ends.count == 1, (try? slice.ints("axes")) ?? [0] == [axis], slice.attributes["steps"] == nil || (try? slice.ints("steps")) == [1] else { return nil }
        let start = starts[0] < 0 ? starts[0] + n : starts[0], end = min(ends[0] < 0 ? ends[0] + n : ends[0], n)
        if fromEnd { return end == n && (0..<n).contains(start) ? (n - start, slice.name) : nil }
        return start == 0 && (1...n).contains(end) ? (end, slice.name) : nil
    }
}
