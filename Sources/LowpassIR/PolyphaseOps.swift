/// Adaptive polyphase sampling (Chaman & Dokmanic, "Truly shift-invariant convolutional neural networks",
/// CVPR 2021). Subsampling by s keeps one of the s x s polyphase components of a map; always keeping
/// component (0, 0) is what makes a strided layer alias. APS keeps, per sample, the component with the
/// largest norm over all channels instead: a circular shift of the input shifts every component and
/// permutes them, so the same content wins wherever it landed, and the network's output is exactly
/// invariant to circular shifts.
///
/// Two ops, so that a residual block's shortcut can reuse the choice of its main path (both branches
/// must keep the same phase, or their sum is misaligned): `PolyphaseIndex` chooses, `PolyphaseSelect`
/// keeps the chosen component of any map with the same batch.
///
/// Component k = i * sW + j starts at row i and column j: element [n, c, r, q] of it is
/// x[n, c, (i + sH*r) mod H, (j + sW*q) mod W] for r < ceil(H/sH), q < ceil(W/sW) (a map that is not a
/// multiple of the stride wraps around, as APS's reference pads it circularly).
extension OpSchema {
    static let polyphaseStrides = attr("strides", .ints, .ints([2, 2]), "subsampling step [sH, sW]").checked(entries: 2, minimum: 1, maximum: PolyphaseGrid.maximumStride)

    static let polyphase: [OpSchema] = [
        OpSchema(kind: .polyphaseIndex,
                 summary: "adaptive polyphase sampling's choice: per sample, the polyphase component with the largest norm over all channels (lowest index on ties)",
                 inputs: unary,
                 attributes: [polyphaseStrides,
                              attr("norm", .string, .string("l2"), allowed: PolyphaseNorm.allCases.map(\.rawValue),
                                   "the criterion: sum of squares (l2) or of absolute values (l1)")],
                 shape: ShapeRules.polyphaseIndex, output: "`[N]`: k = i * sW + j for the component from row i, column j, as a float",
                 onnxSince: nil),
        OpSchema(kind: .polyphaseSelect,
                 summary: "per sample n, polyphase component index[n]: rows i, i+sH, ..., columns j, j+sW, ..., wrapping around",
                 inputs: [input("X"), input("index")],
                 attributes: [polyphaseStrides],
                 shape: ShapeRules.polyphaseSelect, output: "`[N, C, ceil(H/sH), ceil(W/sW)]`; an index outside [0, sH*sW) is clamped",
                 onnxSince: nil),
    ]
}

/// What `PolyphaseIndex` compares the components by.
public enum PolyphaseNorm: String, Sendable, CaseIterable {
    case l2, l1
}

/// The s x s grid of polyphase components of an H x W map.
public struct PolyphaseGrid: Hashable, Sendable {
    /// Strides above this have no use (APS subsamples by 2) and would make sH * sW components to compare.
    public static let maximumStride = 8

    public var strides: [Int]
    public var height: Int, width: Int

    public var components: Int { strides[0] * strides[1] }
    public var outputHeight: Int { (height + strides[0] - 1) / strides[0] }
    public var outputWidth: Int { (width + strides[1] - 1) / strides[1] }

    /// The row and column component `k` starts at.
    public func origin(of k: Int) -> (row: Int, column: Int) { (k / strides[1], k % strides[1]) }

    /// The component a stored index names: truncated, clamped into range (NaN: 0).
    public func component(_ index: Float) -> Int {
        guard !index.isNaN else { return 0 }
        return Int(max(0, min(Float(components - 1), index.rounded(.towardZero))))
    }

    /// The map row (column) that output row (column) `r` of a component starting at `origin` reads.
    public func source(_ r: Int, origin: Int, axis: Int) -> Int {
        (origin + strides[axis] * r) % (axis == 0 ? height : width)
    }
}

extension Node {
    /// The grid a PolyphaseIndex or PolyphaseSelect node subsamples a `height` x `width` map by.
    public func polyphaseGrid(height: Int, width: Int) throws(NodeError) -> PolyphaseGrid {
        let strides = try ints("strides", count: 2, minimum: 1)
        guard strides.allSatisfy({ $0 <= PolyphaseGrid.maximumStride }) else {
            throw NodeError(.badAttribute, "strides must be at most \(PolyphaseGrid.maximumStride), got \(strides)")
        }
        return PolyphaseGrid(strides: strides, height: height, width: width)
    }

    public func polyphaseNorm() throws(NodeError) -> PolyphaseNorm {
        let name = try string("norm")
        guard let norm = PolyphaseNorm(rawValue: name) else {
            throw NodeError(.badAttribute, "norm must be l2 or l1, got '\(name)'")
        }
        return norm
    }
}

extension ShapeRules {
    /// An NCHW map with a fixed, non-empty height and width.
    static func polyphaseMap(_ node: Node, _ x: TensorType) throws(NodeError) -> PolyphaseGrid {
        try requireRank(x, 4, "\(node.op.rawValue) input")
        let (h, w) = (try fixed(x.shape[2], "\(node.op.rawValue) input height"), try fixed(x.shape[3], "\(node.op.rawValue) input width"))
        guard h > 0 && w > 0 else { throw NodeError(.shapeMismatch, "\(node.op.rawValue) needs a non-empty map, got \(h)x\(w)") }
        return try node.polyphaseGrid(height: h, width: w)
    }

    static let polyphaseIndex: ShapeRule = { node, inputs throws(NodeError) in
        _ = try polyphaseMap(node, inputs[0])
        _ = try node.polyphaseNorm()
        return [TensorType(inputs[0].dtype, [inputs[0].shape[0]])]
    }

    static let polyphaseSelect: ShapeRule = { node, inputs throws(NodeError) in
        let (x, index) = (inputs[0], inputs[1])
        let grid = try polyphaseMap(node, x)
        guard index.rank == 1 else { throw NodeError(.shapeMismatch, "PolyphaseSelect's index must be [N], has shape \(index)") }
        if let n = x.shape[0].value, let m = index.shape[0].value, n != m {
            throw NodeError(.shapeMismatch, "PolyphaseSelect's index has \(m) entries for a batch of \(n)")
        }
        return [TensorType(x.dtype, [x.shape[0], x.shape[1], .fixed(grid.outputHeight), .fixed(grid.outputWidth)])]
    }
}
