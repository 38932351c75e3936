/// How much a graph computes and stores: parameter counts and multiply-adds.
extension VerifiedGraph {
    /// Learnable parameters, counted as PyTorch's `sum(p.numel() for p in model.parameters())` does:
    /// BatchNorm's running statistics are buffers, and inline constants are not parameters.
    public var parameterCount: Int {
        var buffers = Set<String>()
        for node in graph.nodes where node.op == .batchNormalization { buffers.formUnion(node.inputs.dropFirst(3)) }
        return graph.parameters.filter { $0.inlineData == nil && !buffers.contains($0.name) }
            .reduce(0) { $0 &+ saturatingProduct($1.type.fixedShape ?? []) }
    }

    /// Every stored element: parameters, buffers and inline constants.
    public var storedElementCount: Int {
        graph.parameters.reduce(0) { $0 &+ saturatingProduct($1.type.fixedShape ?? []) }
    }

    /// Multiply-adds of one node for one sample (symbolic batch dimensions count as 1): convolutions,
    /// matrix products, and BlurPool as the depthwise convolution it is. Element-wise work is not counted.
    public func multiplyAdds(of node: Node) -> Int {
        func shape(_ value: String) -> [Int] { types[value].map { $0.shape.map { $0.value ?? 1 } } ?? [] }
        guard let output = node.outputs.first else { return 0 }
        let out = shape(output)
        switch node.op {
        case .conv:
            let w = shape(node.inputs[1])
            guard w.count == 4 else { return 0 }
            return saturatingProduct(out + w[1...])
        case .gemm, .matMul:
            let a = shape(node.inputs[0])
            guard let last = a.last, a.count >= 2 else { return 0 }
            let transA = node.op == .gemm && (try? node.int("transA")) == 1
            return saturatingProduct(out + [transA ? a[a.count - 2] : last])
        case .blurPool:
            let taps = (try? node.blurPoolSpec().filterSize) ?? 0
            return saturatingProduct(out + [taps, taps])
        default:
            return 0
        }
    }

    public var totalMultiplyAdds: Int {
        graph.nodes.reduce(0) { total, node in
            let (sum, overflow) = total.addingReportingOverflow(multiplyAdds(of: node))
            return overflow ? Int.max : sum
        }
    }
}
