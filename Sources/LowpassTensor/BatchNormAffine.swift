import LowpassIR

/// BatchNormalization at inference as the per-channel affine map y = x * scale + offset, with
/// scale = gamma / sqrt(variance + epsilon) and offset = beta - mean * scale, in double: the form
/// PyTorch's CPU kernel evaluates. The reference interpreter, the JIT and the folding passes all take
/// it from here, so they agree also where variance + epsilon is 0 (scale inf: the output is NaN or inf
/// in every engine, as in PyTorch).
public struct BatchNormAffine: Sendable {
    public var scale: [Double]
    public var offset: [Double]

    /// `statistic(i)` is the node's input i (1: gamma, 2: beta, 3: mean, 4: variance).
    public init(_ node: Node, statistic: (Int) throws(NodeError) -> Tensor) throws(NodeError) {
        let epsilon = try node.float("epsilon")
        guard node.inputs.count == 5 else { throw NodeError(.arity, "BatchNormalization takes 5 inputs, got \(node.inputs.count)") }
        let (gamma, beta, mean, variance) = (try statistic(1), try statistic(2), try statistic(3), try statistic(4))
        let channels = gamma.count
        guard beta.count == channels, mean.count == channels, variance.count == channels else {
            throw NodeError(.shapeMismatch, "BatchNormalization's scale, bias, mean and variance must have one value per channel")
        }
        scale = (0..<channels).map { Double(gamma[$0]) / (Double(variance[$0]) + epsilon).squareRoot() }
        offset = (0..<channels).map { [scale] in Double(beta[$0]) - Double(mean[$0]) * scale[$0] }
    }
}
