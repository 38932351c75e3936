/// ConvTranspose (the gradient of a Conv with respect to its input; PyTorch's ConvTranspose2d):
/// decoders and segmentation heads upsample with it. Input pixel (iy, ix) adds W[c, m, ky, kx] times
/// itself into output pixel (iy * s - pad + ky * d, likewise x).
extension OpSchema {
    static let transposedConvolutions: [OpSchema] = [
        OpSchema(kind: .convTranspose, summary: "transposed 2-D convolution, optional bias; W is [C, M/group, kH, kW]",
                 inputs: [input("X"), input("W", parameter: true), input("B", optional: true, parameter: true)],
                 attributes: [attr("kernel_shape", .ints, optional: true, "[kH, kW]; taken from W when absent")
                                .checked(entries: 2, minimum: 1, "must equal W's `[kH, kW]` (`shape-mismatch`)"),
                              strides, pads, dilations,
                              attr("group", .int, .int(1), "number of channel groups").checked(minimum: 1, "divides C and M (`shape-mismatch`)"),
                              attr("output_padding", .ints, .ints([0, 0]), "added to the bottom and right of the output")
                                .checked(entries: 2, minimum: 0, "each < its stride or its dilation")],
                 shape: ShapeRules.convTranspose, output: "`[N, M, s(H-1) + d(kH-1) + 1 - pads + output_padding, ...]`"),
    ]
}

/// A ConvTranspose node resolved for an input of `shape` and weights of `weightShape`.
public struct TransposedConvGeometry: Hashable, Sendable {
    public var window: WindowGeometry
    public var outputPadding: [Int]
    public var groups: Int
    /// Output channels (M) and output height and width.
    public var filters: Int, outHeight: Int, outWidth: Int
}

extension Node {
    public func transposedConvGeometry(input shape: [Int], weightShape: [Int]) throws(NodeError) -> TransposedConvGeometry {
        guard shape.count == 4, weightShape.count == 4 else { throw NodeError(.shapeMismatch, "ConvTranspose needs NCHW input and a 4-D W") }
        let window = try convGeometry(weightShape: weightShape.map(Dim.fixed))
        let groups = try int("group"), outputPadding = try ints("output_padding", count: 2, minimum: 0)
        guard groups >= 1, shape[1] % groups == 0, weightShape[0] == shape[1] else {
            throw NodeError(.shapeMismatch, "ConvTranspose's W has \(weightShape[0]) input channels and group \(groups), the input \(shape[1]) channels")
        }
        for axis in 0..<2 where outputPadding[axis] >= max(window.strides[axis], window.dilations[axis]) {
            throw NodeError(.badAttribute, "output_padding \(outputPadding) must be below the stride or the dilation")
        }
        let size = try (0..<2).map { (axis) throws(NodeError) -> Int in
            let (n, s, d, k) = (shape[2 + axis], window.strides[axis], window.dilations[axis], window.kernel[axis])
            let extent = try ShapeRules.dimension(max(n - 1, 0), times: s, "ConvTranspose's output") + d * (k - 1) + 1 + outputPadding[axis]
            let out = extent - window.pads[axis] - window.pads[axis + 2]
            guard out >= 1, out <= Limits.maximumDimension else {
                throw NodeError(.windowTooLarge, "ConvTranspose's output along axis \(axis + 2) would have \(out) elements")
            }
            return out
        }
        return TransposedConvGeometry(window: window, outputPadding: outputPadding, groups: groups,
                                      filters: weightShape[1] * groups, outHeight: size[0], outWidth: size[1])
    }
}

extension ShapeRules {
    static let convTranspose: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0], w = inputs[1]
        try requireRank(x, 4, "ConvTranspose input X")
        try requireRank(w, 4, "ConvTranspose weight W")
        let shape = try [1] + (1..<4).map { (axis) throws(NodeError) in try fixed(x.shape[axis], "ConvTranspose input axis \(axis)") }
        let weights = try (0..<4).map { (axis) throws(NodeError) in try fixed(w.shape[axis], "ConvTranspose weight axis \(axis)") }
        let g = try node.transposedConvGeometry(input: shape, weightShape: weights)
        if inputs.count > 2 && inputs[2].shape != [.fixed(g.filters)] {
            throw NodeError(.shapeMismatch, "bias must have shape [\(g.filters)], has \(inputs[2].shape)")
        }
        return [TensorType(x.dtype, [x.shape[0], .fixed(g.filters), .fixed(g.outHeight), .fixed(g.outWidth)])]
    }
}
