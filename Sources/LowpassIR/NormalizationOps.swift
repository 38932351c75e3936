/// Normalizations over the trailing axes of a tensor (ONNX LayerNormalization): ConvNeXt's blocks and
/// downsamplers, timm's LayerNorm2d (between two Transposes), the transformers' norms.
extension OpSchema {
    static let normalizations: [OpSchema] = [
        OpSchema(kind: .layerNormalization,
                 summary: "(x - mean) / sqrt(variance + epsilon) * Scale + B, mean and variance over the axes from `axis` on",
                 inputs: [input("X"), input("Scale", parameter: true), input("B", optional: true, parameter: true)],
                 attributes: [attr("axis", .int, .int(-1), "the first normalized axis; negative counts from the end").checked("in [-r, r-1]"),
                              attr("epsilon", .float, .float(1e-5), "added to the variance"),
                              attr("stash_type", .int, .int(1), "precision of the statistics in training; ignored (Lowpass computes them in float or double)")],
                 shape: ShapeRules.layerNorm, onnxSince: 17),
        OpSchema(kind: .instanceNormalization,
                 summary: "each (image, channel) map normalized over H and W, then scale[c] and B[c] (style transfer, GAN generators)",
                 inputs: [input("X"), input("scale", parameter: true), input("B", parameter: true)],
                 attributes: [attr("epsilon", .float, .float(1e-5), "added to the variance")],
                 shape: ShapeRules.channelNorm, onnxSince: 6),
        OpSchema(kind: .groupNormalization,
                 summary: "the channels of each image split into num_groups groups, each normalized over its channels, H and W, then scale[c] and B[c] (timm's GroupNorm models, diffusion U-Nets)",
                 inputs: [input("X"), input("scale", parameter: true), input("B", parameter: true)],
                 attributes: [attr("num_groups", .int, "G").checked(minimum: 1, "dividing C"),
                              attr("epsilon", .float, .float(1e-5), "added to the variance"),
                              attr("stash_type", .int, .int(1), "precision of the statistics in training; ignored (Lowpass computes them in float or double)")],
                 shape: ShapeRules.channelNorm, output: "X's (scale and B are per channel, `[C]`, as in ONNX opset 21)", onnxSince: 21),
    ]
}

extension Node {
    /// LayerNormalization over an input of `shape`: the rows (the leading axes), and the normalized
    /// shape (the axes from `axis` on) and its element count.
    public func layerNormRows(shape: [Int]) throws(NodeError) -> (rows: Int, normalized: [Int], length: Int) {
        let axis = try ShapeRules.normalizedAxis(try int("axis"), rank: shape.count)
        return (shape[..<axis].reduce(1, *), Array(shape[axis...]), shape[axis...].reduce(1, *))
    }
}

/// Scale and B with one value per channel (InstanceNormalization, GroupNormalization): a row holds
/// `channelsPerRow` consecutive channels of `plane` elements each; image by image, the rows take the
/// channels in order, `rowsPerImage` rows an image.
public struct ChannelAffine: Hashable, Sendable {
    public var rowsPerImage: Int, channelsPerRow: Int, plane: Int

    /// The channel of element `j` of row `row`.
    public func channel(row: Int, element j: Int) -> Int { row % rowsPerImage * channelsPerRow + j / plane }
}

extension Node {
    /// What a normalization node normalizes for an input of `shape`: `rows` runs of `length` elements,
    /// and whether Scale and B are per channel (`affine`) or per element of the normalized shape (nil).
    public func normalizationRows(shape: [Int]) throws(NodeError) -> (rows: Int, length: Int, affine: ChannelAffine?) {
        switch op {
        case .instanceNormalization, .groupNormalization:
            let channels = shape.count > 1 ? shape[1] : 1, plane = shape.dropFirst(2).reduce(1, *)
            let groups = op == .groupNormalization ? try int("num_groups") : channels
            guard groups > 0, channels % groups == 0 else { throw NodeError(.badAttribute, "num_groups \(groups) does not divide the \(channels) channels") }
            let perGroup = channels / groups
            return (shape[0] * groups, perGroup * plane, ChannelAffine(rowsPerImage: groups, channelsPerRow: perGroup, plane: plane))
        default:
            let (rows, _, length) = try layerNormRows(shape: shape)
            return (rows, length, nil)
        }
    }
}

extension ShapeRules {
    /// InstanceNormalization and GroupNormalization: NCHW-like input, Scale and B one per channel.
    static let channelNorm: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        guard x.rank >= 3 else { throw NodeError(.shapeMismatch, "\(node.op.rawValue) needs N, C and at least one spatial axis, has \(x)") }
        if node.op == .groupNormalization, case .fixed(let c) = x.shape[1] {
            let groups = try node.int("num_groups")
            guard groups >= 1, c % groups == 0 else { throw NodeError(.badAttribute, "num_groups \(groups) does not divide the \(c) channels") }
        }
        for (i, name) in ["scale", "B"].enumerated() where inputs[i + 1].shape != [x.shape[1]] {
            throw NodeError(.shapeMismatch, "\(name) must have shape [\(x.shape[1])] (one value per channel), has \(inputs[i + 1].shape)")
        }
        return [x]
    }

    static let layerNorm: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        let axis = try normalizedAxis(try node.int("axis"), rank: x.rank)
        let normalized = Array(x.shape[axis...])
        for (i, name) in ["Scale", "B"].enumerated() where i + 1 < inputs.count {
            guard try broadcast(normalized, inputs[i + 1].shape) == normalized else {
                throw NodeError(.shapeMismatch, "LayerNormalization's \(name) of shape \(inputs[i + 1].shape) does not broadcast to the normalized shape \(normalized)")
            }
        }
        return [x]
    }
}
