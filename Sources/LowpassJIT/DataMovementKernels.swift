import CLLVM
import LowpassIR

/// Concat: one work item per outer row, each input's slice copied in vectors. Arguments: output, inputs.
struct ConcatKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var outer: Int
    /// Elements each input contributes to one outer row.
    var chunks: [Int]
    var lanes: Int

    var kind: String { "concat \(chunks.count) inputs" }
    /// One item per input per outer row, so the copies of a batch-1 concat spread over the threads.
    var workItems: Int { outer * chunks.count }
    var flops: Double { 0 }
    var bytes: Double { 8 * Double(outer * chunks.reduce(0, +)) }

    /// A work item copies one input's part of one outer row; the parts' sizes and places come from
    /// tables, so the code is one copy loop whatever the number of inputs (an unrolled copy per input,
    /// with its size a constant, took LLVM 0.5 s to compile for 16 inputs and 11 s for 2000).
    func emitItem(_ e: Emitter, _ item: Value) {
        let sizes = e.integerTable(chunks)
        let offsets = e.integerTable(chunks.indices.map { chunks[..<$0].reduce(0, +) })
        let (row, i) = (e.div(item, chunks.count), e.rem(item, chunks.count))
        let chunk = e.table(sizes, i)
        let source = e.address(e.argument(at: e.add(i, 1)), e.mul(row, chunk))
        let target = e.address(e.outputArgument, e.add(e.mul(row, chunks.reduce(0, +)), e.table(offsets, i)))
        copy(e, from: source, to: target, count: chunk)
    }

    private func copy(_ e: Emitter, from source: Value, to target: Value, count: Value) {
        let whole = e.mul(e.div(count, lanes), lanes)
        e.loop(e.int(0), whole, step: lanes) { i in e.storeVector(e.loadVector(source, i), target, i) }
        let left = e.sub(count, whole)
        e.when(e.compare(LLVMIntSGT, left, e.int(0))) {
            let tail = e.vcompare(LLVMIntSLT, e.laneIndices, e.splatInt32(e.toInt32(left)))
            e.storeVector(e.loadVector(source, whole, mask: tail), target, whole, mask: tail)
        }
    }
}

/// ONNX Pad (constant, reflect, edge) of any rank: one work item per output row (all axes but the
/// last), whose source row is resolved once. Arguments: output, input.
struct PadKernel: Kernel {
    enum Mode: String { case constant, reflect, edge }
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var inputShape: [Int], outputShape: [Int]
    /// Pads before each axis.
    var before: [Int]
    var mode: Mode
    var value: Double

    var kind: String { "pad \(mode.rawValue)" }
    var workItems: Int { outputShape.dropLast().reduce(1, *) }
    var flops: Double { 0 }
    var bytes: Double { 4 * Double(inputShape.reduce(1, *) + outputShape.reduce(1, *)) }

    /// The source index of output index `i` along an axis of `size`, and whether it exists (constant mode).
    private func resolve(_ e: Emitter, _ i: Value, before: Int, size: Int) -> (Value, Value) {
        let rule: BlurPadMode = switch mode { case .constant: .zero; case .edge: .replicate; case .reflect: .reflect }
        return rule.resolve(e, e.add(i, -before), extent: size)
    }

    func emitItem(_ e: Emitter, _ item: Value) {
        let rank = outputShape.count
        let coordinates = rank > 1 ? split(e, item, Array(outputShape.dropLast())) : []
        var sourceRow = e.int(0), rowInside = e.bool(true)
        for axis in 0..<(rank - 1) {
            let (s, inside) = resolve(e, coordinates[axis], before: before[axis], size: inputShape[axis])
            sourceRow = e.add(e.mul(sourceRow, inputShape[axis]), s)
            rowInside = e.and(rowInside, inside)
        }
        let width = inputShape[rank - 1], outWidth = outputShape[rank - 1]
        let source = e.address(e.operandArgument(0), e.mul(sourceRow, width))
        let target = e.address(e.outputArgument, e.mul(item, outWidth))
        e.loop(outWidth) { x in
            let (s, inside) = resolve(e, x, before: before[rank - 1], size: width)
            var v = e.load(source, s)
            if mode == .constant { v = e.select(e.and(rowInside, inside), v, e.float(value)) }
            e.store(v, target, x)
        }
    }
}

/// Transpose and Slice: the output row by row (all axes but the last), each row read from the input
/// through the node's `StridedView`: in vectors where the row is contiguous there, gathered where it
/// is strided (a transpose's rows, a backwards or stepped slice). Arguments: output, input.
struct StridedCopyKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var view: StridedView
    /// `transpose` or `slice`, for `kind`.
    var opName: String
    var lanes: Int

    var kind: String { "\(opName) " + ((view.strides.last ?? 1) == 1 ? "rows" : "gathered") }
    var rowLength: Int { view.shape.last ?? 1 }
    var workItems: Int { view.shape.dropLast().reduce(1, *) }
    var flops: Double { 0 }
    var bytes: Double { 8 * Double(view.shape.reduce(1, *)) }

    func emitItem(_ e: Emitter, _ item: Value) {
        let outer = Array(view.shape.dropLast())
        var offset = e.int(view.offset)
        for (axis, coordinate) in (outer.isEmpty ? [] : split(e, item, outer)).enumerated() {
            offset = e.add(offset, e.mul(coordinate, view.strides[axis]))
        }
        let source = e.address(e.operandArgument(0), offset)
        let target = e.address(e.outputArgument, e.mul(item, rowLength))
        let step = view.strides.last ?? 1
        let body = { (i: Value, mask: Value?) in
            let value: Value
            if step == 1 {
                value = e.loadVector(source, i, mask: mask)
            } else {
                let indices = e.vmul(e.add(e.laneIndices, e.splatInt32(e.toInt32(i))), step)
                value = e.gather(source, indices, mask: mask ?? e.vcompare(LLVMIntSLT, e.laneIndices, e.intVectorConstant(lanes)))
            }
            e.storeVector(value, target, i, mask: mask)
        }
        e.forEachVector(rowLength, body)
    }
}

/// Gather at constant indices: a work item is one (outer position, index) pair, which copies the
/// `inner` elements after the axis from the indexed row, in vectors. Arguments: output, input.
struct GatherKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var outer: Int, axisSize: Int, inner: Int
    var indices: [Int]
    var lanes: Int

    var kind: String { "gather \(indices.count) of \(axisSize)" }
    var workItems: Int { outer * indices.count }
    var flops: Double { 0 }
    var bytes: Double { 8 * Double(outer * indices.count * inner) }

    func emitItem(_ e: Emitter, _ item: Value) {
        let position = e.div(item, indices.count), k = e.rem(item, indices.count)
        let row = e.add(e.mul(position, axisSize), e.table(e.integerTable(indices), k))
        let (source, target) = (e.address(e.operandArgument(0), e.mul(row, inner)), e.address(e.outputArgument, e.mul(item, inner)))
        e.forEachVector(inner) { i, mask in e.storeVector(e.loadVector(source, i, mask: mask), target, i, mask: mask) }
    }
}
