/// The shape rule of every op: input types in, output types out, or a `NodeError` saying why not.
/// Symbolic dimensions (a batch size `N`) pass through wherever the op does not need their value.
enum ShapeRules {
    static func requireRank(_ type: TensorType, _ rank: Int, _ what: String) throws(NodeError) {
        guard type.rank == rank else {
            throw NodeError(.shapeMismatch, "\(what) must have rank \(rank), has shape \(type)")
        }
    }

    /// A mean over no pixels has no value (PyTorch's gives NaN, Lowpass's reference gave 0): every engine refuses it.
    static func requireNonEmptyMap(_ type: TensorType, _ op: String) throws(NodeError) {
        if type.shape[2] == .fixed(0) || type.shape[3] == .fixed(0) {
            throw NodeError(.emptyWindow, "\(op) averages over an empty \(type.shape[2])x\(type.shape[3]) map, which has no mean")
        }
    }

    static func fixed(_ dim: Dim, _ what: String) throws(NodeError) -> Int {
        guard let n = dim.value else { throw NodeError(.symbolicDimension, "\(what) must be a fixed size, is '\(dim)'") }
        return n
    }

    static func normalizedAxis(_ axis: Int, rank: Int, allowEnd: Bool = false) throws(NodeError) -> Int {
        // Negative axes count from the end as in ONNX (axis + rank); Flatten may also name the end itself.
        let limit = allowEnd ? rank + 1 : rank
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < limit else { throw NodeError(.badAttribute, "axis \(axis) is out of range for rank \(rank)") }
        return a
    }

    static let sameAsFirst: ShapeRule = { _, inputs throws(NodeError) in [inputs[0]] }

    static let softmax: ShapeRule = { node, inputs throws(NodeError) in
        _ = try normalizedAxis(try node.int("axis"), rank: inputs[0].rank)
        return [inputs[0]]
    }

    static let conv: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0], w = inputs[1]
        try requireRank(x, 4, "Conv input X")
        try requireRank(w, 4, "Conv weight W")
        let geometry = try node.convGeometry(weightShape: w.shape)
        let group = try node.int("group")
        let channels = try fixed(x.shape[1], "Conv input channels")
        let filters = try fixed(w.shape[0], "Conv output channels")
        let perGroup = try fixed(w.shape[1], "Conv weight's input channels")
        guard group >= 1, channels % group == 0, filters % group == 0 else {
            throw NodeError(.shapeMismatch, "group \(group) must divide both \(channels) input and \(filters) output channels")
        }
        guard perGroup * group == channels else {
            throw NodeError(.shapeMismatch, "weight expects \(perGroup * group) input channels (\(perGroup) x group \(group)), input has \(channels)")
        }
        if inputs.count > 2 && inputs[2].shape != [.fixed(filters)] {
            throw NodeError(.shapeMismatch, "bias must have shape [\(filters)], has \(inputs[2].shape)")
        }
        let h = try geometry.outputSize(try fixed(x.shape[2], "Conv input height"), axis: 0)
        let wOut = try geometry.outputSize(try fixed(x.shape[3], "Conv input width"), axis: 1)
        return [TensorType(x.dtype, [x.shape[0], .fixed(filters), .fixed(h), .fixed(wOut)])]
    }

    static let pool: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        try requireRank(x, 4, "\(node.op.rawValue) input")
        let geometry = try node.poolGeometry()
        let h = try geometry.outputSize(try fixed(x.shape[2], "input height"), axis: 0)
        let w = try geometry.outputSize(try fixed(x.shape[3], "input width"), axis: 1)
        return [TensorType(x.dtype, [x.shape[0], x.shape[1], .fixed(h), .fixed(w)])]
    }

    static let globalPool: ShapeRule = { _, inputs throws(NodeError) in
        let x = inputs[0]
        try requireRank(x, 4, "GlobalAveragePool input")
        try requireNonEmptyMap(x, "GlobalAveragePool")
        return [TensorType(x.dtype, [x.shape[0], x.shape[1], .fixed(1), .fixed(1)])]
    }

    static let adaptivePool: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        try requireRank(x, 4, "AdaptiveAveragePool input")
        let size = try node.ints("output_size", count: 2, minimum: 1)
        _ = try fixed(x.shape[2], "input height")
        _ = try fixed(x.shape[3], "input width")
        try requireNonEmptyMap(x, "AdaptiveAveragePool")
        return [TensorType(x.dtype, [x.shape[0], x.shape[1], .fixed(size[0]), .fixed(size[1])])]
    }

    static let batchNorm: ShapeRule = { _, inputs throws(NodeError) in
        let x = inputs[0]
        guard x.rank >= 2 else { throw NodeError(.shapeMismatch, "BatchNormalization input needs a channel axis, has shape \(x)") }
        for (i, name) in ["scale", "B", "mean", "var"].enumerated() where inputs[i + 1].shape != [x.shape[1]] {
            throw NodeError(.shapeMismatch, "\(name) must have shape [\(x.shape[1])], has \(inputs[i + 1].shape)")
        }
        return [x]
    }

    /// NumPy broadcasting. A symbol meets a 1 or itself; a symbol against a number > 1 takes the number.
    static func broadcast(_ a: [Dim], _ b: [Dim]) throws(NodeError) -> [Dim] {
        let rank = max(a.count, b.count)
        let pa = Array(repeating: Dim.fixed(1), count: rank - a.count) + a
        let pb = Array(repeating: Dim.fixed(1), count: rank - b.count) + b
        var out: [Dim] = []
        for (x, y) in zip(pa, pb) {
            switch (x, y) {
            case _ where x == y: out.append(x)
            case (.fixed(1), _): out.append(y)
            case (_, .fixed(1)): out.append(x)
            case (.symbol, .fixed): out.append(y)
            case (.fixed, .symbol): out.append(x)
            default: throw NodeError(.shapeMismatch, "shapes \(a) and \(b) do not broadcast")
            }
        }
        return out
    }

    static let broadcast: ShapeRule = { _, inputs throws(NodeError) in
        var shape = inputs[0].shape
        for input in inputs.dropFirst() { shape = try broadcast(shape, input.shape) }
        return [TensorType(inputs[0].dtype, shape)]
    }

    static let gemm: ShapeRule = { node, inputs throws(NodeError) in
        let a = inputs[0], b = inputs[1]
        try requireRank(a, 2, "Gemm input A")
        try requireRank(b, 2, "Gemm input B")
        let transA = try node.int("transA") != 0, transB = try node.int("transB") != 0
        let (m, ka) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (kb, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard ka == kb else { throw NodeError(.shapeMismatch, "Gemm inner dimensions differ: A gives \(ka), B gives \(kb)") }
        if inputs.count > 2 {
            let c = try broadcast([m, n], inputs[2].shape)
            guard c == [m, n] else { throw NodeError(.shapeMismatch, "Gemm C of shape \(inputs[2].shape) does not broadcast to [\(m),\(n)]") }
        }
        return [TensorType(a.dtype, [m, n])]
    }

    static let matMul: ShapeRule = { _, inputs throws(NodeError) in
        let a = inputs[0], b = inputs[1]
        guard a.rank >= 2, b.rank >= 2 else { throw NodeError(.shapeMismatch, "MatMul inputs need rank >= 2, have \(a) and \(b)") }
        guard a.shape[a.rank - 1] == b.shape[b.rank - 2] else {
            throw NodeError(.shapeMismatch, "MatMul inner dimensions differ: \(a.shape[a.rank - 1]) and \(b.shape[b.rank - 2])")
        }
        let batch = try broadcast(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)))
        return [TensorType(a.dtype, batch + [a.shape[a.rank - 2], b.shape[b.rank - 1]])]
    }

    /// A product of dimensions: a number times the symbols that could not be multiplied out.
    struct Product: Equatable {
        var number = 1
        var symbols: [String] = []
        init(_ dims: some Sequence<Dim>) {
            for dim in dims {
                switch dim {
                case .fixed(let n): number = number.multipliedReportingOverflow(by: n).overflow ? -1 : number * n
                case .symbol(let s): symbols.append(s)
                }
            }
            symbols.sort()
        }
        var dim: Dim? {
            if symbols.isEmpty { return number >= 0 ? .fixed(number) : nil }
            return symbols.count == 1 && number == 1 ? .symbol(symbols[0]) : nil
        }
    }

    static let flatten: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        let axis = try normalizedAxis(try node.int("axis"), rank: x.rank, allowEnd: true)
        guard let outer = Product(x.shape[..<axis]).dim, let inner = Product(x.shape[axis...]).dim else {
            throw NodeError(.symbolicDimension, "Flatten at axis \(axis) of \(x) would multiply a symbolic dimension")
        }
        return [TensorType(x.dtype, [outer, inner])]
    }

    static let reshape: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        let target = try node.ints("shape")
        let allowZero = try node.int("allowzero") != 0
        var out: [Dim?] = []
        for (i, n) in target.enumerated() {
            switch n {
            case -1: out.append(nil)
            case 0 where !allowZero:
                guard i < x.rank else { throw NodeError(.badAttribute, "shape entry \(i) is 0 but the input has rank \(x.rank)") }
                out.append(x.shape[i])
            case let n where n >= 0: out.append(.fixed(n))
            default: throw NodeError(.badAttribute, "shape entry \(n) is invalid; use -1 to infer a dimension")
            }
        }
        guard out.filter({ $0 == nil }).count <= 1 else { throw NodeError(.badAttribute, "shape \(target) has more than one -1") }
        var total = Product(x.shape)
        let known = Product(out.compactMap { $0 })
        for s in known.symbols {
            guard let i = total.symbols.firstIndex(of: s) else {
                throw NodeError(.shapeMismatch, "reshape of \(x) to \(target) invents the symbolic dimension '\(s)'")
            }
            total.symbols.remove(at: i)
        }
        if let hole = out.firstIndex(where: { $0 == nil }) {
            guard known.number > 0, total.number % known.number == 0 else {
                throw NodeError(.shapeMismatch, "cannot reshape \(x) to \(target): sizes do not divide")
            }
            var rest = total
            rest.number /= known.number
            guard let dim = rest.dim else { throw NodeError(.symbolicDimension, "cannot infer the -1 of \(target) from \(x)") }
            out[hole] = dim
        } else if !(total.symbols.isEmpty && total.number == known.number) {
            throw NodeError(.shapeMismatch, "cannot reshape \(x) to \(target): element counts differ")
        }
        return [TensorType(x.dtype, out.compactMap { $0 })]
    }

    static let concat: ShapeRule = { node, inputs throws(NodeError) in
        let first = inputs[0]
        let axis = try normalizedAxis(try node.int("axis"), rank: first.rank)
        var sum = 0
        for (i, t) in inputs.enumerated() {
            guard t.rank == first.rank else { throw NodeError(.shapeMismatch, "Concat input \(i) has rank \(t.rank), input 0 has \(first.rank)") }
            for d in 0..<t.rank where d != axis && t.shape[d] != first.shape[d] {
                throw NodeError(.shapeMismatch, "Concat input \(i) has shape \(t), which differs from \(first) off the axis \(axis)")
            }
            sum += try fixed(t.shape[axis], "Concat input \(i)'s extent along the axis")
        }
        var shape = first.shape
        shape[axis] = .fixed(sum)
        return [TensorType(first.dtype, shape)]
    }

    static let pad: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        let pads = try node.ints("pads")
        guard pads.count == 2 * x.rank else {
            throw NodeError(.badAttribute, "pads must have \(2 * x.rank) entries for rank \(x.rank), has \(pads.count)")
        }
        let mode = try node.string("mode")
        var shape = x.shape
        for axis in 0..<x.rank where pads[axis] != 0 || pads[axis + x.rank] != 0 {
            let n = try fixed(x.shape[axis], "padded axis \(axis)")
            let (before, after) = (pads[axis], pads[axis + x.rank])
            if mode == "reflect" && (before >= n || after >= n || before < 0 || after < 0) {
                throw NodeError(.badAttribute, "reflect padding (\(before), \(after)) must be smaller than the axis size \(n)")
            }
            if mode == "wrap" && n == 0 { throw NodeError(.badAttribute, "wrap padding of the empty axis \(axis)") }
            guard n + before + after >= 0 else { throw NodeError(.badAttribute, "pads \(pads) crop axis \(axis) below zero") }
            shape[axis] = .fixed(n + before + after)
        }
        return [TensorType(x.dtype, shape)]
    }

    static let blurPool: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        try requireRank(x, 4, "BlurPool input")
        let spec = try node.blurPoolSpec()
        var shape = x.shape
        for axis in 0..<2 {
            let n = try fixed(x.shape[axis + 2], "BlurPool input spatial size")
            if spec.padMode == .reflect && max(spec.pads[axis], spec.pads[axis + 2]) >= n {
                throw NodeError(.badAttribute, "reflect padding \(spec.pads) needs an input larger than the pad, input is \(n) on axis \(axis == 0 ? "H" : "W")")
            }
            if spec.padMode == .circular && n == 0 { throw NodeError(.badAttribute, "circular padding of an empty map") }
            shape[axis + 2] = .fixed(try spec.geometry.outputSize(n, axis: axis))
        }
        return [TensorType(x.dtype, shape)]
    }
}
