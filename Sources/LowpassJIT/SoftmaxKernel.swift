import CLLVM

/// Softmax, or LogSoftmax (`logarithm`), along one axis: one work item per (outer, inner) position.
/// Both subtract the largest value first, so no exp overflows. Arguments: output, input.
struct SoftmaxKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var outer: Int, size: Int, inner: Int
    var logarithm = false

    var kind: String { logarithm ? "logsoftmax" : "softmax" }
    var workItems: Int { outer * inner }
    var flops: Double { Double(4 * outer * size * inner) }
    var bytes: Double { 8 * Double(outer * size * inner) }

    func emitItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [outer, inner])
        let base = e.add(e.mul(c[0], size * inner), c[1])
        let input = e.address(e.operandArgument(0), base), out = e.address(e.outputArgument, base)
        let largest = e.local(e.float(-.infinity)), sum = e.local(e.float(0))
        e.loop(size) { i in e.set(largest, e.fmax(e.get(largest), e.load(input, e.mul(i, inner)))) }
        e.loop(size) { i in
            let v = e.exp(e.fsub(e.load(input, e.mul(i, inner)), e.get(largest)))
            e.store(v, out, e.mul(i, inner))
            e.set(sum, e.fadd(e.get(sum), v))
        }
        if logarithm {
            // log(exp(x - m) / s) = x - m - log(s), from the input: exact where the quotient would underflow.
            let shift = e.fadd(e.get(largest), e.log(e.get(sum)))
            e.loop(size) { i in e.store(e.fsub(e.load(input, e.mul(i, inner)), shift), out, e.mul(i, inner)) }
            return
        }
        let scale = e.fdiv(e.float(1), e.get(sum))
        e.loop(size) { i in e.store(e.fmul(e.load(out, e.mul(i, inner)), scale), out, e.mul(i, inner)) }
    }
}
