/// Reductions over any set of axes (ONNX ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceL2): what
/// squeeze-and-excitation blocks, LayerNorm written out by exporters, and attention pooling use.
extension OpSchema {
    static let reductions: [OpSchema] = [
        reduction(.reduceMean, "mean over the axes", onnxSince: 1),
        reduction(.reduceSum, "sum over the axes", onnxSince: nil),
        reduction(.reduceMax, "maximum over the axes", onnxSince: 1),
        reduction(.reduceMin, "minimum over the axes", onnxSince: 1),
        reduction(.reduceL2, "square root of the sum of squares over the axes", onnxSince: 1),
        indexReduction(.argMax, "largest"),
        indexReduction(.argMin, "smallest"),
    ]

    /// ONNX's ArgMax and ArgMin give int64; Lowpass's tensors are float, so the index is a float
    /// (exact up to 2^24), and the exporter writes the ONNX op followed by a Cast to float.
    private static func indexReduction(_ kind: OpKind, _ which: String) -> OpSchema {
        OpSchema(kind: kind, summary: "the index of the \(which) element along an axis (the first such; the last with select_last_index=1; NaN counts as \(which)), as a float",
                 inputs: unary,
                 attributes: [attr("axis", .int, .int(0), "the axis searched; negative counts from the end").checked("in [-r, r-1]; not empty"),
                              attr("keepdims", .int, .int(1), "1: the axis stays, with size 1; 0: it is removed").flag,
                              attr("select_last_index", .int, .int(0), "1: the last index among equal values").flag],
                 shape: ShapeRules.indexReduction, output: "X's, the axis 1 (keepdims) or removed; float indices", onnxSince: nil)
    }

    /// `onnxSince`: ONNX took the axes as an input from opset 13 (ReduceSum) or 18 (the others); the
    /// exporter's opset 17 still has them as an attribute except for ReduceSum.
    private static func reduction(_ kind: OpKind, _ summary: String, onnxSince: Int?) -> OpSchema {
        OpSchema(kind: kind, summary: summary, inputs: unary,
                 attributes: [attr("axes", .ints, optional: true, "the axes reduced, negative ones counted from the end; default: all").checked("distinct, in [-r, r-1]"),
                              attr("keepdims", .int, .int(1), "1: reduced axes stay, with size 1; 0: they are removed").flag],
                 shape: ShapeRules.reduce, output: "X's, the axes 1 (keepdims) or removed", onnxSince: onnxSince)
    }
}

/// A reduction node resolved against its input's rank.
public struct Reduction: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable { case mean, sum, max, min, l2 }

    public var kind: Kind
    /// Distinct, ascending.
    public var axes: [Int]
    public var keepDims: Bool

    /// The value a reduction starts from, and how it folds in one element (the l2 sums squares).
    public var identity: Double {
        switch kind {
        case .mean, .sum, .l2: return 0
        case .max: return -.infinity
        case .min: return .infinity
        }
    }

    public func combine(_ accumulator: Double, _ value: Double) -> Double {
        switch kind {
        case .mean, .sum: return accumulator + value
        case .l2: return accumulator + value * value
        case .max: return Swift.max(accumulator, value)
        case .min: return Swift.min(accumulator, value)
        }
    }

    /// The result from the accumulated value over `count` elements.
    public func finish(_ accumulator: Double, count: Int) -> Double {
        switch kind {
        case .mean: return accumulator / Double(count)
        case .l2: return accumulator.squareRoot()
        case .sum, .max, .min: return accumulator
        }
    }

    /// The output shape for an input of `shape`.
    public func outputShape<D>(_ shape: [D], one: D) -> [D] {
        keepDims ? shape.enumerated().map { axes.contains($0.offset) ? one : $0.element }
            : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    }
}

extension Node {
    public func reduction(rank: Int) throws(NodeError) -> Reduction {
        let kinds: [OpKind: Reduction.Kind] = [.reduceMean: .mean, .reduceSum: .sum, .reduceMax: .max, .reduceMin: .min, .reduceL2: .l2]
        guard let kind = kinds[op] else { throw NodeError(.unknownOp, "\(op.rawValue) is not a reduction") }
        let raw = attributes["axes"] == nil ? Array(0..<rank) : try ints("axes")
        let axes = try raw.map { (axis) throws(NodeError) in try ShapeRules.normalizedAxis(axis, rank: rank) }
        guard Set(axes).count == axes.count else { throw NodeError(.badAttribute, "axes \(raw) repeat an axis") }
        return Reduction(kind: kind, axes: axes.sorted(), keepDims: try int("keepdims") != 0)
    }
}

/// An ArgMax or ArgMin node resolved against its input's rank.
public struct IndexReduction: Hashable, Sendable {
    public var axis: Int
    public var keepDims: Bool
    public var largest: Bool
    public var lastIndex: Bool

    /// Whether `value` at a later index replaces `best`: strictly better, or equal with
    /// select_last_index; NaN beats any number (as NumPy's and PyTorch's argmax have it).
    public func replaces(_ best: Float, with value: Float) -> Bool {
        if best.isNaN { return lastIndex && value.isNaN }
        if value.isNaN { return true }
        return largest ? (lastIndex ? value >= best : value > best) : (lastIndex ? value <= best : value < best)
    }
}

extension Node {
    public func indexReduction(rank: Int) throws(NodeError) -> IndexReduction {
        guard op == .argMax || op == .argMin else { throw NodeError(.unknownOp, "\(op.rawValue) is not ArgMax or ArgMin") }
        return IndexReduction(axis: try ShapeRules.normalizedAxis(try int("axis"), rank: rank), keepDims: try int("keepdims") != 0,
                              largest: op == .argMax, lastIndex: try int("select_last_index") != 0)
    }
}

extension ShapeRules {
    static let indexReduction: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        let r = try node.indexReduction(rank: x.rank)
        if x.shape[r.axis] == .fixed(0) { throw NodeError(.emptyWindow, "\(node.op.rawValue) over axis \(r.axis) of \(x), which is empty") }
        var shape = x.shape
        if r.keepDims { shape[r.axis] = .fixed(1) } else { shape.remove(at: r.axis) }
        return [TensorType(x.dtype, shape)]
    }

    static let reduce: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        let reduction = try node.reduction(rank: x.rank)
        for axis in reduction.axes where x.shape[axis] == .fixed(0) && (reduction.kind == .max || reduction.kind == .min || reduction.kind == .mean) {
            throw NodeError(.emptyWindow, "\(node.op.rawValue) over axis \(axis) of \(x), which is empty")
        }
        return [TensorType(x.dtype, reduction.outputShape(x.shape, one: .fixed(1)))]
    }
}
