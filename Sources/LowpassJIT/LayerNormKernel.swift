import CLLVM
import LowpassIR

/// LayerNormalization and InstanceNormalization: a work item is one row (the leading axes; one
/// image's channel for InstanceNormalization), read three times in vectors: for the mean, for the
/// variance (of the deviations, not of the squares, which would cancel), and to write the normalized,
/// scaled and shifted values. Arguments: output, input, Scale, B: expanded to the row's length at
/// compile time, or (`channels`) one value per channel, the row's being `row % channels`.
struct LayerNormKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var rows: Int, length: Int
    var epsilon: Double
    var channels: Int?
    var lanes: Int

    var kind: String { channels == nil ? "layernorm" : "instancenorm" }
    var workItems: Int { rows }
    var flops: Double { 8 * Double(rows * length) }
    var bytes: Double { 4 * Double(3 * rows * length + 2 * length) }

    func emitItem(_ e: Emitter, _ item: Value) {
        let x = e.address(e.operandArgument(0), e.mul(item, length)), y = e.address(e.outputArgument, e.mul(item, length))
        let (scale, bias) = (e.operandArgument(1), e.operandArgument(2))
        let sum = e.local(e.vector(0))
        e.forEachVector(length) { i, mask in e.set(sum, e.fadd(e.get(sum), e.loadVector(x, i, mask: mask))) }
        let mean = e.splat(e.fmul(e.horizontalSum(e.get(sum)), e.float(1 / Double(length))))
        let squares = e.local(e.vector(0))
        e.forEachVector(length) { i, mask in
            var deviation = e.fsub(e.loadVector(x, i, mask: mask), mean)
            if let mask { deviation = e.select(mask, deviation, e.vector(0)) }
            e.set(squares, e.fma(deviation, deviation, e.get(squares)))
        }
        let variance = e.fmul(e.horizontalSum(e.get(squares)), e.float(1 / Double(length)))
        let inverse = e.splat(e.fdiv(e.float(1), e.fsqrt(e.fadd(variance, e.float(epsilon)))))
        let channel = channels.map { e.rem(item, $0) }
        e.forEachVector(length) { i, mask in
            let normalized = e.fmul(e.fsub(e.loadVector(x, i, mask: mask), mean), inverse)
            let (s, b) = channel.map { (e.splat(e.load(scale, $0)), e.splat(e.load(bias, $0))) }
                ?? (e.loadVector(scale, i, mask: mask), e.loadVector(bias, i, mask: mask))
            e.storeVector(e.fma(normalized, s, b), y, i, mask: mask)
        }
    }
}
