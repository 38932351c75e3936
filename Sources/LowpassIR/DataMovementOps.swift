/// Ops that move elements without computing: each output element is one input element, found by a
/// `StridedView` (Transpose, Slice), or the same elements under another shape (Squeeze, Unsqueeze).
/// The reference and the JIT both read the view, so they cannot disagree on what a slice means.
extension OpSchema {
    static let dataMovement: [OpSchema] = [
        OpSchema(kind: .transpose, summary: "permute the axes: output axis i is input axis perm[i]", inputs: unary,
                 attributes: [attr("perm", .ints, optional: true, "a permutation of 0..<rank; default: the axes reversed").checked("a permutation of the input's axes")],
                 shape: ShapeRules.transpose, output: "X's dimensions permuted"),
        OpSchema(kind: .slice, summary: "every step-th element from start up to (not including) end, per axis; negative indices count from the end",
                 inputs: unary,
                 attributes: [attr("starts", .ints, "first index per axis (clamped into the axis)").checked("one entry per sliced axis"),
                              attr("ends", .ints, "end per axis (clamped; past the axis means to its end)").checked("one entry per sliced axis"),
                              attr("axes", .ints, optional: true, "the axes sliced; default 0..<count(starts)").checked("distinct, in [-r, r-1]; the sliced axes' sizes must be fixed"),
                              attr("steps", .ints, optional: true, "step per axis, negative to go backwards; default 1").checked("nonzero")],
                 shape: ShapeRules.slice, output: "X's, each sliced axis its count of elements", onnxSince: nil),
        OpSchema(kind: .expand, summary: "broadcast to a shape (NumPy rules); the input is read, not copied, along broadcast axes", inputs: unary,
                 attributes: [attr("shape", .ints, "the shape to broadcast to").checked(minimum: 0, "broadcastable with the input's")],
                 shape: ShapeRules.expand, output: "broadcast of X and `shape`", onnxSince: nil),
        OpSchema(kind: .tile, summary: "the input repeated along each axis (`x.repeat(...)`); a view that reads the input again for each copy", inputs: unary,
                 attributes: [attr("repeats", .ints, "copies per axis").checked(minimum: 0, "one entry per input axis; the input's shape must be fixed")],
                 shape: ShapeRules.tile, output: "X's, each axis times its repeats", onnxSince: nil),
        OpSchema(kind: .depthToSpace, summary: "move blocks of channels into b x b spatial blocks (PixelShuffle is mode CRD)", inputs: unary,
                 attributes: [attr("blocksize", .int, "b").checked(minimum: 1, "C divisible by b^2"),
                              attr("mode", .string, .string("DCR"), allowed: ["DCR", "CRD"], "channel order of a block: depth-column-row or column-row-depth")],
                 shape: ShapeRules.depthToSpace, output: "`[N, C/b^2, H b, W b]`", onnxSince: 11),
        OpSchema(kind: .spaceToDepth, summary: "move b x b spatial blocks into channels, block position major (the inverse of DepthToSpace in DCR mode)", inputs: unary,
                 attributes: [attr("blocksize", .int, "b").checked(minimum: 1, "H and W divisible by b")],
                 shape: ShapeRules.spaceToDepth, output: "`[N, C b^2, H/b, W/b]`"),
        OpSchema(kind: .gather, summary: "the entries at constant indices along an axis (`x[:, 0]`, `x[..., [2, 0]]`)", inputs: unary,
                 attributes: [attr("indices", .ints, "the indices, flattened; negative ones count from the axis' end").checked("each in [-n, n-1] for the axis' size n"),
                              attr("indices_shape", .ints, .ints([]), "the indices' shape ([] for one index, which removes the axis)"),
                              attr("axis", .int, .int(0), "the axis indexed").checked("in [-r, r-1]")],
                 shape: ShapeRules.gather, output: "X's with the axis replaced by `indices_shape`", onnxSince: nil),
        OpSchema(kind: .squeeze, summary: "remove axes of size 1", inputs: unary,
                 attributes: [attr("axes", .ints, optional: true, "the axes to remove; default: every axis of size 1").checked("distinct; each of size 1 (`shape-mismatch`)")],
                 shape: ShapeRules.squeeze, output: "X's without the axes", onnxSince: nil),
        OpSchema(kind: .unsqueeze, summary: "insert axes of size 1", inputs: unary,
                 attributes: [attr("axes", .ints, "positions of the new axes in the output").checked("distinct, in [-r, r-1] for the output's rank r")],
                 shape: ShapeRules.unsqueeze, output: "X's with 1s inserted", onnxSince: nil),
    ]
}

/// Which input element each output element is: `output[c] = input[offset + sum(c[i] * strides[i])]`.
public struct StridedView: Hashable, Sendable {
    public var shape: [Int]
    public var offset: Int
    /// Input elements between neighbours along each output axis (negative for a backwards slice).
    public var strides: [Int]

    public init(shape: [Int], offset: Int, strides: [Int]) {
        (self.shape, self.offset, self.strides) = (shape, offset, strides)
    }

    /// The input index of output element `index` (row-major).
    public func source(of index: Int) -> Int {
        var rest = index, source = offset
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            source += rest % shape[axis] * strides[axis]
            rest /= shape[axis]
        }
        return source
    }
}

/// Row-major element strides of `shape`.
public func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    for axis in stride(from: shape.count - 2, through: 0, by: -1) { strides[axis] = strides[axis + 1] * shape[axis + 1] }
    return strides
}

/// One axis of a slice, resolved against the axis' size as ONNX does: first index, step and count.
public struct SliceRange: Hashable, Sendable {
    public var start: Int, step: Int, count: Int

    public init(start rawStart: Int, end rawEnd: Int, step: Int, size n: Int) {
        func clamped(_ i: Int, _ low: Int, _ high: Int) -> Int { Swift.min(Swift.max(i < 0 ? i + n : i, low), high) }
        let (start, end) = step > 0 ? (clamped(rawStart, 0, n), clamped(rawEnd, 0, n)) : (clamped(rawStart, -1, n - 1), clamped(rawEnd, -1, n - 1))
        self.start = start
        self.step = step
        count = step > 0 ? Swift.max(0, (end - start + step - 1) / step) : Swift.max(0, (start - end - step - 1) / -step)
    }
}

extension Node {
    /// Transpose's permutation, checked against `rank`.
    public func permutation(rank: Int) throws(NodeError) -> [Int] {
        let perm = attributes["perm"] == nil ? Array((0..<rank).reversed()) : try ints("perm")
        guard perm.sorted() == Array(0..<rank) else {
            throw NodeError(.badAttribute, "perm \(perm) is not a permutation of the \(rank) axes")
        }
        return perm
    }

    /// Slice's axes (normalized, distinct) with each one's start, end and step, checked against `rank`.
    public func sliceAxes(rank: Int) throws(NodeError) -> [(axis: Int, start: Int, end: Int, step: Int)] {
        let starts = try ints("starts"), ends = try ints("ends")
        let axes = attributes["axes"] == nil ? Array(0..<starts.count) : try ints("axes")
        let steps = attributes["steps"] == nil ? Array(repeating: 1, count: starts.count) : try ints("steps")
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw NodeError(.badAttribute, "starts, ends, axes and steps must have one entry per sliced axis (\(starts.count), \(ends.count), \(axes.count), \(steps.count))")
        }
        guard steps.allSatisfy({ $0 != 0 }) else { throw NodeError(.badAttribute, "a slice step is 0") }
        let normalized = try axes.map { (axis) throws(NodeError) in try ShapeRules.normalizedAxis(axis, rank: rank) }
        guard Set(normalized).count == normalized.count else { throw NodeError(.badAttribute, "axes \(axes) repeat an axis") }
        return normalized.indices.map { (normalized[$0], starts[$0], ends[$0], steps[$0]) }
    }

    /// Gather's axis, and its indices made non-negative and checked against the axis' size `n`.
    public func gatherIndices(rank: Int, axisSize n: Int) throws(NodeError) -> (axis: Int, indices: [Int], shape: [Int]) {
        let axis = try ShapeRules.normalizedAxis(try int("axis"), rank: rank)
        let raw = try ints("indices"), shape = try ints("indices_shape")
        guard shape.allSatisfy({ $0 >= 0 }), Limits.elementCount(shape) == raw.count else {
            throw NodeError(.badAttribute, "Gather's indices_shape \(shape) does not hold the \(raw.count) indices")
        }
        let indices = try raw.map { (i) throws(NodeError) -> Int in
            guard (-n..<n).contains(i) else { throw NodeError(.badAttribute, "Gather index \(i) is outside an axis of size \(n)") }
            return i < 0 ? i + n : i
        }
        return (axis, indices, shape)
    }

    /// Tile's repeats, checked against `rank`.
    public func tileRepeats(rank: Int) throws(NodeError) -> [Int] {
        let repeats = try ints("repeats")
        guard repeats.count == rank, repeats.allSatisfy({ $0 >= 0 }) else {
            throw NodeError(.badAttribute, "Tile's repeats \(repeats) must be \(rank) counts of 0 or more, one per input axis")
        }
        return repeats
    }

    /// Squeeze's and Unsqueeze's axes, normalized against the rank they refer to.
    func shapeAxes(rank: Int) throws(NodeError) -> [Int] {
        let axes = try ints("axes").map { (axis) throws(NodeError) in try ShapeRules.normalizedAxis(axis, rank: rank) }
        guard Set(axes).count == axes.count else { throw NodeError(.badAttribute, "axes \(try ints("axes")) repeat an axis") }
        return axes.sorted()
    }

    /// The input elements a Transpose or Slice node reads, for an input of `shape`.
    public func stridedView(input shape: [Int]) throws(NodeError) -> StridedView {
        let strides = rowMajorStrides(shape)
        switch op {
        case .transpose:
            let perm = try permutation(rank: shape.count)
            return StridedView(shape: perm.map { shape[$0] }, offset: 0, strides: perm.map { strides[$0] })
        case .slice:
            var view = StridedView(shape: shape, offset: 0, strides: strides)
            for (axis, start, end, step) in try sliceAxes(rank: shape.count) {
                let range = SliceRange(start: start, end: end, step: step, size: shape[axis])
                view.shape[axis] = range.count
                view.strides[axis] = strides[axis] * step
                view.offset += range.count > 0 ? range.start * strides[axis] : 0
            }
            return view
        case .expand:
            let target = try ints("shape")
            let rank = Swift.max(target.count, shape.count)
            let padded = [Int](repeating: 1, count: rank - shape.count) + shape
            let paddedStrides = rowMajorStrides(padded)
            let out = (0..<rank).map { axis in padded[axis] == 1 ? (axis < rank - target.count ? 1 : target[axis - (rank - target.count)]) : padded[axis] }
            return StridedView(shape: out, offset: 0, strides: (0..<rank).map { padded[$0] == 1 ? 0 : paddedStrides[$0] })
        case .tile:
            // Twice the rank, [r0, n0, r1, n1, ...]: its row-major order is the output's, and the copy
            // axes (stride 0) read the input again.
            let repeats = try tileRepeats(rank: shape.count)
            return StridedView(shape: zip(repeats, shape).flatMap { [$0, $1] }, offset: 0, strides: strides.flatMap { [0, $0] })
        case .depthToSpace, .spaceToDepth:
            // A six-axis view whose row-major order is the output's: [N, C', H, b, W, b] or [N, b, b, C, H', W'].
            guard shape.count == 4 else { throw NodeError(.badAttribute, "\(op.rawValue) needs an NCHW input") }
            let b = try int("blocksize"), (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
            let (sN, sC, sH, sW) = (strides[0], strides[1], strides[2], strides[3])
            if op == .spaceToDepth {
                return StridedView(shape: [n, b, b, c, h / b, w / b], offset: 0, strides: [sN, sH, sW, sC, b * sH, b * sW])
            }
            let depth = c / (b * b)
            let crd = try string("mode") == "CRD"
            return StridedView(shape: [n, depth, h, b, w, b], offset: 0,
                               strides: crd ? [sN, b * b * sC, sH, b * sC, sW, sC] : [sN, sC, sH, b * depth * sC, sW, depth * sC])
        default:
            throw NodeError(.unknownOp, "\(op.rawValue) is not a strided view of its input")
        }
    }
}

extension ShapeRules {
    static let transpose: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        return [TensorType(x.dtype, try node.permutation(rank: x.rank).map { x.shape[$0] })]
    }

    static let slice: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        var shape = x.shape
        for (axis, start, end, step) in try node.sliceAxes(rank: x.rank) {
            let size = try fixed(x.shape[axis], "Slice's axis \(axis)")
            shape[axis] = .fixed(SliceRange(start: start, end: end, step: step, size: size).count)
        }
        return [TensorType(x.dtype, shape)]
    }

    static let expand: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        let target = try node.ints("shape")
        guard target.allSatisfy({ $0 >= 0 }) else { throw NodeError(.badAttribute, "Expand's shape \(target) has a negative entry") }
        return [TensorType(x.dtype, try broadcast(x.shape, target.map(Dim.fixed)))]
    }

    static let tile: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        let repeats = try node.tileRepeats(rank: x.rank)
        let shape = try zip(x.shape, repeats).map { (d, r) throws(NodeError) in Dim.fixed(try dimension(try fixed(d, "Tile's input axis"), times: r, "a tiled axis")) }
        return [TensorType(x.dtype, shape)]
    }

    /// `a * b` as a dimension: an error where it passes `Limits.maximumDimension` (hostile block sizes).
    static func dimension(_ a: Int, times b: Int, _ what: String) throws(NodeError) -> Int {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow, product <= Limits.maximumDimension else {
            throw NodeError(.tensorTooLarge, "\(what) would be \(a) x \(b), beyond the largest dimension (\(Limits.maximumDimension))")
        }
        return product
    }

    static let depthToSpace: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        try requireRank(x, 4, "DepthToSpace input")
        let b = try node.int("blocksize"), c = try fixed(x.shape[1], "DepthToSpace's channels")
        guard b >= 1 else { throw NodeError(.badAttribute, "DepthToSpace's blocksize must be at least 1, is \(b)") }
        let area = try dimension(b, times: b, "DepthToSpace's block")
        guard c % area == 0 else { throw NodeError(.shapeMismatch, "DepthToSpace: \(c) channels are not a multiple of blocksize^2 = \(area)") }
        let h = try fixed(x.shape[2], "DepthToSpace's height"), w = try fixed(x.shape[3], "DepthToSpace's width")
        return [TensorType(x.dtype, [x.shape[0], .fixed(c / area), .fixed(try dimension(h, times: b, "the height")), .fixed(try dimension(w, times: b, "the width"))])]
    }

    static let spaceToDepth: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        try requireRank(x, 4, "SpaceToDepth input")
        let b = try node.int("blocksize"), c = try fixed(x.shape[1], "SpaceToDepth's channels")
        let h = try fixed(x.shape[2], "SpaceToDepth's height"), w = try fixed(x.shape[3], "SpaceToDepth's width")
        guard b >= 1 else { throw NodeError(.badAttribute, "SpaceToDepth's blocksize must be at least 1, is \(b)") }
        guard h % b == 0, w % b == 0 else { throw NodeError(.shapeMismatch, "SpaceToDepth: a \(h)x\(w) map is not a multiple of blocksize \(b)") }
        let channels = try dimension(c, times: try dimension(b, times: b, "SpaceToDepth's block"), "the channels")
        return [TensorType(x.dtype, [x.shape[0], .fixed(channels), .fixed(h / b), .fixed(w / b)])]
    }

    static let gather: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        let axis = try normalizedAxis(try node.int("axis"), rank: x.rank)
        let size = try fixed(x.shape[axis], "Gather's axis")
        let (_, _, shape) = try node.gatherIndices(rank: x.rank, axisSize: size)
        return [TensorType(x.dtype, Array(x.shape[..<axis]) + shape.map(Dim.fixed) + Array(x.shape[(axis + 1)...]))]
    }

    static let squeeze: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        guard node.attributes["axes"] != nil else {
            guard x.shape.allSatisfy({ $0.value != nil }) else {
                throw NodeError(.symbolicDimension, "Squeeze without axes of \(x), whose symbolic dimensions may or may not be 1")
            }
            return [TensorType(x.dtype, x.shape.filter { $0 != .fixed(1) })]
        }
        let axes = try node.shapeAxes(rank: x.rank)
        for axis in axes where x.shape[axis] != .fixed(1) {
            throw NodeError(.shapeMismatch, "Squeeze of axis \(axis) of \(x), whose size is not 1")
        }
        return [TensorType(x.dtype, x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element))]
    }

    static let unsqueeze: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        let axes = try node.shapeAxes(rank: x.rank + (try node.ints("axes")).count)
        var shape = x.shape
        for axis in axes { shape.insert(.fixed(1), at: axis) }
        return [TensorType(x.dtype, shape)]
    }
}
