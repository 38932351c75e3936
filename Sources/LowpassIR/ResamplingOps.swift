import Foundation

/// Resize (ONNX's, as PyTorch's `F.interpolate` and `nn.Upsample` export it): nearest or bilinear over
/// the two spatial axes of NCHW. Where each output pixel reads is one `ResizeAxis` per axis, computed
/// in double and shared by the reference and the JIT (which bakes it into tables).
extension OpSchema {
    static let resampling: [OpSchema] = [
        OpSchema(kind: .resize, summary: "nearest or bilinear resampling of H and W; ONNX's coordinate transformations",
                 inputs: unary,
                 attributes: [attr("sizes", .ints, "the output shape; N and C as the input's (0: not given)").checked("rank 4; N and C unchanged"),
                              attr("scales", .floats, optional: true, "per-axis scale for the coordinate transformation; default: output / input size"),
                              attr("mode", .string, .string("nearest"), allowed: ["nearest", "linear"], "interpolation"),
                              attr("coordinate_transformation_mode", .string, .string("half_pixel"),
                                   allowed: ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"],
                                   "how an output coordinate maps into the input"),
                              attr("nearest_mode", .string, .string("round_prefer_floor"),
                                   allowed: ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"], "rounding of the mapped coordinate in nearest mode")],
                 shape: ShapeRules.resize, output: "`sizes`", onnxSince: nil),
    ]
}

/// Where the outputs of one resized axis read: the two input indices around the mapped coordinate
/// and the weight of the upper one (nearest mode: one index, weight 0).
public struct ResizeAxis: Hashable, Sendable {
    public var lower: [Int], upper: [Int], weight: [Double]

    public init(input n: Int, output m: Int, scale: Double, linear: Bool, transformation: String, nearestMode: String) {
        (lower, upper, weight) = ([], [], [])
        for x in 0..<m {
            let position = Double(x)
            var source: Double
            switch transformation {
            case "align_corners": source = m == 1 ? 0 : position * Double(n - 1) / Double(m - 1)
            case "asymmetric": source = position / scale
            case "pytorch_half_pixel": source = m > 1 ? (position + 0.5) / scale - 0.5 : 0
            default: source = (position + 0.5) / scale - 0.5
            }
            if linear {
                source = Swift.min(Swift.max(source, 0), Double(n - 1))
                let low = Int(source.rounded(.down))
                lower.append(low)
                upper.append(Swift.min(low + 1, n - 1))
                weight.append(source - Double(low))
            } else {
                let rounded: Double
                switch nearestMode {
                case "floor": rounded = source.rounded(.down)
                case "ceil": rounded = source.rounded(.up)
                case "round_prefer_ceil": rounded = (source + 0.5).rounded(.down)
                default: rounded = (source - 0.5).rounded(.up)
                }
                let index = Swift.min(Swift.max(Int(rounded), 0), n - 1)
                lower.append(index)
                upper.append(index)
                weight.append(0)
            }
        }
    }
}

extension Node {
    /// The resize of an input of `shape`: each spatial axis' reads, and whether the mode is linear.
    public func resizeAxes(input shape: [Int]) throws(NodeError) -> (rows: ResizeAxis, columns: ResizeAxis, linear: Bool) {
        let sizes = try ints("sizes")
        guard shape.count == 4, sizes.count == 4 else {
            throw NodeError(.badAttribute, "Resize resizes H and W of an NCHW tensor: sizes \(sizes) for an input of shape \(shape)")
        }
        let scales: [Double]
        if attributes["scales"] != nil {
            guard case .floats(let given) = try attribute("scales"), given.count == 4, given.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw NodeError(.badAttribute, "Resize's scales must be 4 positive numbers")
            }
            scales = given
        } else {
            scales = (0..<4).map { shape[$0] == 0 ? 1 : Double(sizes[$0]) / Double(shape[$0]) }
        }
        let linear = try string("mode") == "linear"
        let (transformation, nearest) = (try string("coordinate_transformation_mode"), try string("nearest_mode"))
        return (ResizeAxis(input: shape[2], output: sizes[2], scale: scales[2], linear: linear, transformation: transformation, nearestMode: nearest),
                ResizeAxis(input: shape[3], output: sizes[3], scale: scales[3], linear: linear, transformation: transformation, nearestMode: nearest),
                linear)
    }
}

extension ShapeRules {
    static let resize: ShapeRule = { node, inputs throws(NodeError) in
        let x = inputs[0]
        let sizes = try node.ints("sizes")
        guard x.rank == 4, sizes.count == 4, sizes.allSatisfy({ $0 >= 0 }) else {
            throw NodeError(.badAttribute, "Resize needs an NCHW input and 4 sizes, got \(x) and \(sizes)")
        }
        for axis in 0..<2 where sizes[axis] != 0 && x.shape[axis].value.map({ $0 != sizes[axis] }) ?? false {
            throw NodeError(.badAttribute, "Resize changes axis \(axis) (\(x.shape[axis]) -> \(sizes[axis])); only H and W are resized")
        }
        for axis in 2..<4 where sizes[axis] > 0 {
            guard try fixed(x.shape[axis], "Resize's input axis \(axis)") > 0 else {
                throw NodeError(.emptyWindow, "Resize of an empty axis \(axis) to \(sizes[axis]) elements: there is nothing to sample")
            }
        }
        return [TensorType(x.dtype, [x.shape[0], x.shape[1], .fixed(sizes[2]), .fixed(sizes[3])])]
    }
}
