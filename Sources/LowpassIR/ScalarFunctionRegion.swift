/// Activations as exporters write them out: SiLU as `x * Sigmoid(x)`, HardSwish as
/// `x * Clip(x + 3, 0, 6) / 6`, GELU as `x * 0.5 * (1 + Erf(x / 1.414))`. Each is a small region of
/// element-wise nodes that together compute one function of a single value, so a producer can apply it
/// in its epilogue (the JIT's conv) and a rewrite can treat it as the layer's nonlinearity (antialias),
/// whatever spelling the exporter chose.
extension Graph {
    /// The element-wise nodes after `value` that compute one function of `value` alone: every input of
    /// every node is `value`, an output of an earlier node of the region, or a constant `isScalarConstant`
    /// accepts; and every value the region reads or makes is read only inside it, except its result,
    /// the output of the last node. The largest such region of at most `limit` nodes, in dataflow order;
    /// empty when none (as when `value` is also read elsewhere or is a graph output).
    public func scalarFunctionRegion(after value: String, limit: Int = 16, isScalarConstant: (String) -> Bool) -> [Int] {
        var region: [Int] = [], members = Set<Int>(), available: Set<String> = [value], best: [Int] = []
        var candidates = Set(consumers(of: value))
        func isStep(_ index: Int) -> Bool {
            let node = nodes[index]
            return node.schema.scalar != nil && node.outputs.count == 1
                && node.inputs.allSatisfy { available.contains($0) || isScalarConstant($0) }
        }
        while region.count < limit {
            // The earliest ready node keeps the region in dataflow order (nodes are topologically sorted).
            guard let next = candidates.filter({ !members.contains($0) && isStep($0) }).min() else { break }
            let result = nodes[next].outputs[0]
            region.append(next)
            members.insert(next)
            available.insert(result)
            candidates.formUnion(consumers(of: result))
            let closed = available.allSatisfy { v in
                v == result || (!isGraphOutput(v) && consumers(of: v).allSatisfy(members.contains))
            }
            if closed { best = region }
        }
        return best
    }
}
