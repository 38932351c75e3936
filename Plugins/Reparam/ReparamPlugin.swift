import LowpassIR
import LowpassPasses
import LowpassTensor

/// Structural re-parameterization: training-time structures that are linear collapse into one conv.
public enum ReparamPlugin: PassPlugin {
    public static let name = "Reparam"

    public static func register(into registry: inout PassRegistry) {
        registry.register(FoldBatchNorm.self, plugin: name)
        registry.register(FuseBranches.self, plugin: name)
    }
}

/// A convolution's weights as plain arrays, in double, for exact re-parameterization arithmetic.
struct ConvWeights {
    /// [out, in/group, kh, kw]
    var shape: [Int]
    var kernel: [Double]
    var bias: [Double]

    var outputs: Int { shape[0] }
    var perOutput: Int { shape[1] * shape[2] * shape[3] }

    init(shape: [Int], kernel: [Double], bias: [Double]?) {
        self.shape = shape
        self.kernel = kernel
        self.bias = bias ?? Array(repeating: 0, count: shape[0])
    }

    /// Folds an inference-form BatchNormalization that follows: w' = w * g / sqrt(v + eps),
    /// b' = beta + (b - mean) * g / sqrt(v + eps).
    mutating func fold(_ bn: BatchNormAffine) {
        for o in 0..<outputs {
            let scale = bn.scale[o]
            for i in 0..<perOutput { kernel[o * perOutput + i] *= scale }
            bias[o] = bn.offset[o] + bias[o] * scale
        }
    }

    /// The same kernel placed at the centre of a larger [kh, kw] window.
    func embedded(in size: [Int]) -> ConvWeights {
        let (kh, kw) = (shape[2], shape[3])
        let (top, left) = ((size[0] - kh) / 2, (size[1] - kw) / 2)
        var out = [Double](repeating: 0, count: shape[0] * shape[1] * size[0] * size[1])
        for oc in 0..<(shape[0] * shape[1]) {
            for y in 0..<kh { for x in 0..<kw { out[(oc * size[0] + top + y) * size[1] + left + x] = kernel[(oc * kh + y) * kw + x] } }
        }
        return ConvWeights(shape: [shape[0], shape[1], size[0], size[1]], kernel: out, bias: bias)
    }

    func tensors() -> (kernel: Tensor, bias: Tensor) {
        (Tensor(shape: shape, values: kernel.map(Float.init)), Tensor(shape: [outputs], values: bias.map(Float.init)))
    }
}

extension BatchNormAffine {
    /// The affine map of `node`, whose statistics must be parameters with data.
    init(_ node: Node, weights: [String: Tensor]) throws(NodeError) {
        try self.init(node) { i throws(NodeError) in
            guard let tensor = weights[node.inputs[i]] else {
                throw NodeError("missing-parameter", "BatchNormalization's statistics must be parameters with data")
            }
            return tensor
        }
    }
}

extension PassContext {
    /// The weights, or an error naming the pass that needs them.
    func requireWeights(_ pass: String) throws(PassError) -> [String: Tensor] {
        guard let weights else {
            throw PassError(pass: pass, "it computes new weights, and the graph names no weight file (give --weights)")
        }
        return weights
    }
}
