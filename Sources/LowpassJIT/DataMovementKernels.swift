import CLLVM
import LowpassIR

/// Concat: one work item per outer row and input, that input's part of the row copied in vectors. Arguments: output, inputs.
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

    /// The inputs' count, the output row's length, then each input's part of a row and its place in
    /// the row: a network's concats share one function whatever their number of inputs.
    var runTimeIntegers: [Int] { [chunks.count, chunks.reduce(0, +)] + chunks + chunks.indices.map { chunks[..<$0].reduce(0, +) } }
    mutating func eraseRunTimeIntegers() { chunks = [] }
    /// Before the inputs, whose number is not part of the code.
    var runTimeIntegerArgument: Int { 1 }
    mutating func passRunTimeIntegers(_ table: Operand) { arguments.insert(table, at: 1) }

    /// A work item copies one input's part of one outer row, its size and place read from the run-time
    /// integers: one copy loop whatever the number of inputs (an unrolled copy per input, with its
    /// size a constant, took LLVM 0.5 s to compile for 16 inputs and 11 s for 2000).
    func emitItem(_ e: Emitter, _ item: Value) {
        let inputs = e.runTimeInteger(0)
        let (row, i) = (e.div(item, inputs), e.rem(item, inputs))
        let chunk = e.runTimeInteger(at: e.add(i, 2))
        let offset = e.runTimeInteger(at: e.add(e.add(i, inputs), 2))
        let source = e.address(e.argument(at: e.add(i, 2)), e.mul(row, chunk))
        let target = e.address(e.outputArgument, e.add(e.mul(row, e.runTimeInteger(1)), offset))
        copy(e, from: source, to: target, count: chunk)
    }

    private func copy(_ e: Emitter, from source: Value, to target: Value, count: Value) {
        let whole = e.mul(e.div(count, lanes), lanes)
        e.loop(e.int(0), whole, step: lanes) { i in e.storeVector(e.loadVector(source, i), target, i) }
        let left = e.sub(count, whole)
        e.when(e.compare(LLVMIntSGT, left, e.int(0))) {
            let tail = e.firstLanes(left)
            e.storeVector(e.loadVector(source, whole, mask: tail), target, whole, mask: tail)
        }
    }
}

/// ONNX Pad (constant, reflect, edge, wrap) of any rank: one work item per output row (all axes but the
/// last), whose source row is resolved once. Arguments: output, input.
struct PadKernel: Kernel {
    enum Mode: String { case constant, reflect, edge, wrap }
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
        let rule: BlurPadMode = switch mode { case .constant: .zero; case .edge: .replicate; case .reflect: .reflect; case .wrap: .circular }
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

/// Transpose, Slice, Expand, Tile, DepthToSpace, SpaceToDepth: each output element is the input
/// element its `StridedView` names. Axes that step through the input as one (a slice of whole rows, the
/// untouched trailing axes of a transpose) are merged first, so the view has as few axes as the copy
/// needs. A work item is one output row: the innermost axis, or where that is shorter than a vector
/// (DepthToSpace's block of 2) as many trailing axes as fill one, so the copies still use whole vectors
/// (longer gathered rows measured slower: the lanes' coordinates cost divisions). A row whose
/// input elements are consecutive is copied with vector loads; any other is gathered, each lane's input
/// offset computed from its coordinates. Arguments: output, input.
struct StridedCopyKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var view: StridedView
    /// `transpose`, `slice`, ..., for `kind`.
    var opName: String
    var rowAxes: Int
    var lanes: Int

    init(nodes: [String], arguments: [Operand], output: Int, view: StridedView, opName: String, lanes: Int) {
        (self.nodes, self.arguments, self.output, self.opName, self.lanes) = (nodes, arguments, output, opName, lanes)
        var shape: [Int] = [], strides: [Int] = []
        for (extent, stride) in zip(view.shape, view.strides) where extent != 1 {
            if let last = shape.last, let lastStride = strides.last, lastStride == stride * extent {
                shape[shape.count - 1] = last * extent
                strides[strides.count - 1] = stride
            } else {
                shape.append(extent)
                strides.append(stride)
            }
        }
        if shape.isEmpty { (shape, strides) = ([1], [1]) }
        self.view = StridedView(shape: shape, offset: view.offset, strides: strides)
        var axes = 1
        while axes < shape.count, shape.suffix(axes).reduce(1, *) < lanes { axes += 1 }
        rowAxes = axes
    }

    var rowShape: ArraySlice<Int> { view.shape.suffix(rowAxes) }
    var isContiguousRow: Bool { rowAxes == 1 && view.strides.last == 1 }
    var kind: String { "\(opName) " + (isContiguousRow ? "rows" : "gathered") }
    var rowLength: Int { rowShape.reduce(1, *) }
    var workItems: Int { view.shape.dropLast(rowAxes).reduce(1, *) }
    var flops: Double { 0 }
    var bytes: Double { 8 * Double(view.shape.reduce(1, *)) }

    func emitItem(_ e: Emitter, _ item: Value) {
        let outer = Array(view.shape.dropLast(rowAxes))
        var offset = e.int(view.offset)
        for (axis, coordinate) in (outer.isEmpty ? [] : split(e, item, outer)).enumerated() {
            offset = e.add(offset, e.mul(coordinate, view.strides[axis]))
        }
        let source = e.address(e.operandArgument(0), offset)
        let target = e.address(e.outputArgument, e.mul(item, rowLength))
        let rowStrides = Array(view.strides.suffix(rowAxes)), extents = Array(rowShape)
        e.forEachVector(rowLength) { i, mask in
            let value: Value
            if isContiguousRow {
                value = e.loadVector(source, i, mask: mask)
            } else {
                // Each lane's row index split into the row's coordinates, innermost last.
                var rest = e.add(e.laneIndices, e.splatInt32(e.toInt32(i)))
                var indices = e.intVectorConstant(0)
                for axis in stride(from: rowAxes - 1, through: 0, by: -1) {
                    let coordinate = axis == 0 ? rest : e.vrem(rest, extents[axis])
                    indices = e.add(indices, e.vmul(coordinate, rowStrides[axis]))
                    if axis > 0 { rest = e.vdiv(rest, extents[axis]) }
                }
                value = e.gather(source, indices, mask: mask ?? e.vcompare(LLVMIntSLT, e.laneIndices, e.intVectorConstant(lanes)))
            }
            e.storeVector(value, target, i, mask: mask)
        }
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
