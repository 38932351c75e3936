/// Typed reads of a node's attributes, with the schema's defaults filled in.
///
/// Shape rules, the interpreter and the passes read attributes through these, never by guessing
/// at the dictionary: a missing required attribute or a value of the wrong type is a `NodeError`.
extension Node {
    public func attribute(_ name: String) throws(NodeError) -> AttributeValue {
        if let value = attributes[name] { return value }
        if let spec = schema.attribute(name), let value = spec.defaultValue { return value }
        throw NodeError(.missingAttribute, "\(op.rawValue) needs attribute '\(name)'")
    }

    /// Integer reads are bounded by `Limits.maximumDimension`, here where every shape rule and kernel
    /// reads them, so no arithmetic on a hostile attribute can overflow.
    public func int(_ name: String) throws(NodeError) -> Int {
        guard case .int(let v) = try attribute(name) else { throw wrongType(name, "an integer") }
        guard abs(v) <= Limits.maximumDimension else { throw outOfRange(name) }
        return v
    }

    /// What one output element of an element-wise node is, its attributes filled in.
    public func scalarExpression() throws(NodeError) -> ScalarExpression {
        guard let rule = schema.scalar else { throw NodeError(.unknownOp, "\(op.rawValue) is not an element-wise op") }
        return try rule(self)
    }

    /// The `axis` attribute of an op over tensors of `rank` dimensions, a negative one counted from the end.
    public func axis(rank: Int) throws(NodeError) -> Int {
        try ShapeRules.normalizedAxis(try int("axis"), rank: rank)
    }

    public func float(_ name: String) throws(NodeError) -> Double {
        switch try attribute(name) {
        case .float(let v): return v
        case .int(let v): return Double(v)
        default: throw wrongType(name, "a number")
        }
    }

    public func ints(_ name: String) throws(NodeError) -> [Int] {
        guard case .ints(let v) = try attribute(name) else { throw wrongType(name, "a list of integers") }
        guard v.allSatisfy({ abs($0) <= Limits.maximumDimension }) else { throw outOfRange(name) }
        return v
    }

    public func string(_ name: String) throws(NodeError) -> String {
        guard case .string(let v) = try attribute(name) else { throw wrongType(name, "a string") }
        return v
    }

    /// A list attribute that must have exactly `count` entries, each at least `minimum`.
    public func ints(_ name: String, count: Int, minimum: Int) throws(NodeError) -> [Int] {
        let v = try ints(name)
        guard v.count == count else {
            throw NodeError(.badAttribute, "attribute '\(name)' must have \(count) entries, has \(v.count)")
        }
        guard v.allSatisfy({ $0 >= minimum }) else {
            throw NodeError(.badAttribute, "attribute '\(name)' entries must be >= \(minimum), got \(v)")
        }
        return v
    }

    private func outOfRange(_ name: String) -> NodeError {
        NodeError(.badAttribute, "attribute '\(name)' holds a value beyond +-\(Limits.maximumDimension)")
    }

    private func wrongType(_ name: String, _ expected: String) -> NodeError {
        NodeError(.badAttribute, "attribute '\(name)' must be \(expected)")
    }
}

/// The geometry shared by Conv, MaxPool, AveragePool and BlurPool: a 2-D window sliding with a
/// stride over a padded input. `pads` is [top, left, bottom, right].
public struct WindowGeometry: Hashable, Sendable {
    public var kernel: [Int]
    public var strides: [Int]
    public var pads: [Int]
    public var dilations: [Int]
    public var ceilMode: Bool = false

    public init(kernel: [Int], strides: [Int], pads: [Int], dilations: [Int], ceilMode: Bool = false) {
        (self.kernel, self.strides, self.pads, self.dilations, self.ceilMode) = (kernel, strides, pads, dilations, ceilMode)
    }

    /// Output extent along spatial axis `axis` (0 = H, 1 = W) for an input of extent `size`.
    public func outputSize(_ size: Int, axis: Int) throws(NodeError) -> Int {
        let padded = size + pads[axis] + pads[axis + 2]
        let span = dilations[axis] * (kernel[axis] - 1) + 1
        guard padded >= span else {
            throw NodeError(.windowTooLarge,
                            "window of \(span) does not fit the padded input of \(padded) on axis \(axis == 0 ? "H" : "W")")
        }
        if !ceilMode { return (padded - span) / strides[axis] + 1 }
        var out = (padded - span + strides[axis] - 1) / strides[axis] + 1
        // As PyTorch and ONNX: the last window must start inside the input or its leading padding.
        if (out - 1) * strides[axis] >= size + pads[axis] { out -= 1 }
        return out
    }
}

extension Node {
    /// Geometry of a Conv; the kernel comes from `kernel_shape` or else from the weight's shape.
    public func convGeometry(weightShape: [Dim]) throws(NodeError) -> WindowGeometry {
        var kernel = weightShape.count == 4 ? weightShape[2...].compactMap(\.value) : []
        if attributes["kernel_shape"] != nil {
            let declared = try ints("kernel_shape", count: 2, minimum: 1)
            if kernel.count == 2 && declared != kernel {
                throw NodeError(.shapeMismatch, "kernel_shape \(declared) disagrees with the weight's \(kernel)")
            }
            kernel = declared
        }
        guard kernel.count == 2, kernel.allSatisfy({ $0 >= 1 }) else {
            throw NodeError(.shapeMismatch, "Conv weight must be [M, C/group, kH, kW] with fixed sizes")
        }
        return WindowGeometry(kernel: kernel, strides: try ints("strides", count: 2, minimum: 1),
                              pads: try ints("pads", count: 4, minimum: 0),
                              dilations: try ints("dilations", count: 2, minimum: 1))
    }

    public func poolGeometry() throws(NodeError) -> WindowGeometry {
        let dilations = op == .maxPool ? try ints("dilations", count: 2, minimum: 1) : [1, 1]
        let geometry = WindowGeometry(kernel: try ints("kernel_shape", count: 2, minimum: 1),
                                      strides: try ints("strides", count: 2, minimum: 1),
                                      pads: try ints("pads", count: 4, minimum: 0),
                                      dilations: dilations, ceilMode: try int("ceil_mode") != 0)
        for axis in 0..<2 where geometry.pads[axis] >= geometry.kernel[axis] || geometry.pads[axis + 2] >= geometry.kernel[axis] {
            throw NodeError(.badAttribute, "pool padding \(geometry.pads) must be smaller than the kernel \(geometry.kernel)")
        }
        return geometry
    }
}

/// How BlurPool fills the border.
public enum BlurPadMode: String, Sendable, CaseIterable {
    case reflect, replicate, zero, circular
}

/// A BlurPool node's parameters, resolved: the normalized 1-D taps, stride, border mode and pads.
public struct BlurPoolSpec: Hashable, Sendable {
    public var filterSize: Int
    public var strides: [Int]
    public var padMode: BlurPadMode
    public var pads: [Int]

    /// Row M-1 of Pascal's triangle divided by its sum, 2^(M-1); the 2-D filter is its outer product.
    public var taps: [Double] { Self.binomialTaps(filterSize) }

    public static func binomialTaps(_ size: Int) -> [Double] {
        var row: [Double] = [1]
        for _ in 1..<max(size, 1) { row = zip(row + [0], [0] + row).map { $0 + $1 } }
        let sum = row.reduce(0, +)
        return row.map { $0 / sum }
    }

    /// The reference's default padding: floor((M-1)/2) + padOff before, ceil((M-1)/2) + padOff after.
    public static func defaultPads(filterSize: Int, padOff: Int) -> [Int] {
        let before = (filterSize - 1) / 2 + padOff
        let after = filterSize / 2 + padOff
        return [before, before, after, after]
    }

    public var geometry: WindowGeometry {
        WindowGeometry(kernel: [filterSize, filterSize], strides: strides, pads: pads, dilations: [1, 1])
    }
}

extension Node {
    public func blurPoolSpec() throws(NodeError) -> BlurPoolSpec {
        let size = try int("filter_size")
        guard (1...64).contains(size) else {
            throw NodeError(.badAttribute, "filter_size must be between 1 and 64, got \(size)")
        }
        let modeName = try string("pad_mode")
        guard let mode = BlurPadMode(rawValue: modeName) else {
            throw NodeError(.badAttribute, "pad_mode must be one of \(BlurPadMode.allCases.map(\.rawValue).joined(separator: ", ")); got '\(modeName)'")
        }
        let padOff = try int("pad_off")
        guard padOff >= 0 else { throw NodeError(.badAttribute, "pad_off must be >= 0, got \(padOff)") }
        let pads = attributes["pads"] != nil
            ? try ints("pads", count: 4, minimum: 0)
            : BlurPoolSpec.defaultPads(filterSize: size, padOff: padOff)
        return BlurPoolSpec(filterSize: size, strides: try ints("strides", count: 2, minimum: 1), padMode: mode, pads: pads)
    }
}
