import CLLVM
import LowpassIR

/// LayerNormalization, InstanceNormalization and GroupNormalization: a work item is one row (the
/// leading axes; one image's channel or group of channels), read three times in vectors: for the mean,
/// for the variance (of the deviations, not of the squares, which would cancel), and to write the
/// normalized, scaled and shifted values. Arguments: output, input, Scale, B: expanded to the row's
/// length at compile time, or (`affine`) one value per channel, each channel's plane written with its own.
struct LayerNormKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var rows: Int, length: Int
    var epsilon: Double
    var affine: ChannelAffine?
    var lanes: Int

    var kind: String {
        guard let affine else { return "layernorm" }
        return affine.channelsPerRow == 1 ? "instancenorm" : "groupnorm"
    }
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
        func write(_ x: Value, _ y: Value, count: Int, scale s: (Value, Value?) -> Value, bias b: (Value, Value?) -> Value) {
            e.forEachVector(count) { i, mask in
                let normalized = e.fmul(e.fsub(e.loadVector(x, i, mask: mask), mean), inverse)
                e.storeVector(e.fma(normalized, s(i, mask), b(i, mask)), y, i, mask: mask)
            }
        }
        guard let affine else {
            return write(x, y, count: length, scale: { e.loadVector(scale, $0, mask: $1) }, bias: { e.loadVector(bias, $0, mask: $1) })
        }
        let first = e.mul(e.rem(item, affine.rowsPerImage), affine.channelsPerRow)
        e.loop(affine.channelsPerRow) { j in
            let channel = e.add(first, j), offset = e.mul(j, affine.plane)
            let (s, b) = (e.splat(e.load(scale, channel)), e.splat(e.load(bias, channel)))
            write(e.address(x, offset), e.address(y, offset), count: affine.plane, scale: { _, _ in s }, bias: { _, _ in b })
        }
    }
}
