import CLLVM
import LowpassIR

/// ReduceMean, ReduceSum, ReduceMax, ReduceMin and ReduceL2 over any axes. The input's axes are merged
/// into runs that are all reduced or all kept (`groups`, size-1 axes dropped), which leaves two shapes:
/// - the last run reduced (SE blocks' mean over H and W, a LayerNorm's over the last axis): a work item
///   is one output element, whose last run is read in vectors and summed across lanes at the end;
/// - the last run kept (a mean over the channels of NCHW): a work item is one output row of that run,
///   in vectors, each lane accumulating its own elements over every reduced coordinate.
/// Arguments: output, input.
struct ReduceKernel: Kernel {
    struct Group: Hashable {
        var extent: Int
        var reduced: Bool
        /// Input elements between neighbours along the run.
        var stride: Int
    }

    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var reduction: Reduction
    var groups: [Group]
    var lanes: Int

    init(nodes: [String], arguments: [Operand], output: Int, reduction: Reduction, inputShape: [Int], lanes: Int) {
        (self.nodes, self.arguments, self.output, self.reduction, self.lanes) = (nodes, arguments, output, reduction, lanes)
        var runs: [(extent: Int, reduced: Bool)] = []
        for (axis, extent) in inputShape.enumerated() where extent != 1 {
            let reduced = reduction.axes.contains(axis)
            if let last = runs.last, last.reduced == reduced { runs[runs.count - 1].extent *= extent } else { runs.append((extent, reduced)) }
        }
        var stride = 1
        groups = runs.reversed().map { run in
            defer { stride *= run.extent }
            return Group(extent: run.extent, reduced: run.reduced, stride: stride)
        }.reversed()
    }

    var kept: [Group] { groups.filter { !$0.reduced } }
    var reducedCount: Int { groups.filter(\.reduced).map(\.extent).reduce(1, *) }
    var lastIsReduced: Bool { groups.last?.reduced ?? true }
    var kind: String { "reduce\(reduction.kind.rawValue) " + (lastIsReduced ? "inner" : "outer") }
    var workItems: Int { (lastIsReduced ? kept : kept.dropLast()).map(\.extent).reduce(1, *) }
    var flops: Double { Double(groups.map(\.extent).reduce(1, *)) }
    var bytes: Double { 4 * Double(groups.map(\.extent).reduce(1, *) + kept.map(\.extent).reduce(1, *)) }

    func emitItem(_ e: Emitter, _ item: Value) {
        let outerKept = lastIsReduced ? kept : Array(kept.dropLast())
        var offset = e.int(0)
        for (group, coordinate) in zip(outerKept, outerKept.isEmpty ? [] : split(e, item, outerKept.map(\.extent))) {
            offset = e.add(offset, e.mul(coordinate, group.stride))
        }
        let input = e.address(e.operandArgument(0), offset)
        if lastIsReduced { emitInner(e, item, input) } else { emitOuter(e, item, input) }
    }

    /// One output element: the last run in vectors, the other reduced runs by loops around it.
    private func emitInner(_ e: Emitter, _ item: Value, _ input: Value) {
        let reduced = groups.filter(\.reduced)
        let last = reduced.last ?? Group(extent: 1, reduced: true, stride: 1)
        let accumulator = e.local(e.vector(reduction.identity))
        forEachCoordinate(e, of: Array(reduced.dropLast()), from: e.int(0)) { offset in
            let row = e.address(input, offset)
            e.forEachVector(last.extent) { i, mask in
                e.set(accumulator, combine(e, e.get(accumulator), e.loadVector(row, i, mask: mask, passthrough: reduction.identity)))
            }
        }
        let total: Value
        switch reduction.kind {
        case .mean, .sum, .l2: total = e.horizontalSum(e.get(accumulator))
        case .max: total = e.intrinsic("llvm.vector.reduce.fmax", [e.floatVector], [e.get(accumulator)])
        case .min: total = e.intrinsic("llvm.vector.reduce.fmin", [e.floatVector], [e.get(accumulator)])
        }
        e.store(finish(e, total), e.outputArgument, item)
    }

    /// One output row of the last (kept) run, in vectors; every reduced coordinate adds its row.
    private func emitOuter(_ e: Emitter, _ item: Value, _ input: Value) {
        let row = kept.last?.extent ?? 1
        let out = e.address(e.outputArgument, e.mul(item, row))
        let body = { (j: Value, mask: Value?) in
            let accumulator = e.local(e.vector(reduction.identity))
            forEachCoordinate(e, of: groups.filter(\.reduced), from: e.int(0)) { offset in
                let value = e.loadVector(e.address(input, offset), j, mask: mask, passthrough: reduction.identity)
                e.set(accumulator, combine(e, e.get(accumulator), value))
            }
            e.storeVector(finish(e, e.get(accumulator)), out, j, mask: mask)
        }
        e.forEachVector(row, body)
    }

    /// Calls `body` with the input offset of every coordinate of `runs`, nested loops outermost first.
    private func forEachCoordinate(_ e: Emitter, of runs: [Group], from offset: Value, _ body: (Value) -> Void) {
        guard let first = runs.first else { return body(offset) }
        e.loop(first.extent) { r in forEachCoordinate(e, of: Array(runs.dropFirst()), from: e.add(offset, e.mul(r, first.stride)), body) }
    }

    private func combine(_ e: Emitter, _ accumulator: Value, _ value: Value) -> Value {
        switch reduction.kind {
        case .mean, .sum: return e.fadd(accumulator, value)
        case .l2: return e.fma(value, value, accumulator)
        case .max: return e.fmax(accumulator, value)
        case .min: return e.fmin(accumulator, value)
        }
    }

    private func finish(_ e: Emitter, _ total: Value) -> Value {
        switch reduction.kind {
        case .mean: return e.fmul(total, e.constant(1 / Double(reducedCount), like: total))
        case .l2: return e.fsqrt(total)
        case .sum, .max, .min: return total
        }
    }
}

/// ArgMax and ArgMin along one axis: a work item is one outer index; the inner axes run in vectors,
/// each lane keeping its best value and index as the axis is walked. Arguments: output, input.
struct IndexReduceKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var reduction: IndexReduction
    var outer: Int, size: Int, inner: Int
    var lanes: Int

    var kind: String { (reduction.largest ? "argmax" : "argmin") + (reduction.lastIndex ? " last" : "") }
    var workItems: Int { outer }
    var flops: Double { Double(outer * size * inner) }
    var bytes: Double { 4 * Double(outer * size * inner + outer * inner) }

    func emitItem(_ e: Emitter, _ item: Value) {
        let input = e.address(e.operandArgument(0), e.mul(item, size * inner))
        let out = e.address(e.outputArgument, e.mul(item, inner))
        e.forEachVector(inner) { j, mask in
            let best = e.local(e.loadVector(input, j, mask: mask)), index = e.local(e.vector(0))
            e.loop(e.int(1), e.int(size)) { k in
                let value = e.loadVector(e.address(input, e.mul(k, inner)), j, mask: mask)
                let replaces = replaces(e, e.get(best), value)
                e.set(best, e.select(replaces, value, e.get(best)))
                e.set(index, e.select(replaces, e.splat(e.toFloat(k)), e.get(index)))
            }
            e.storeVector(e.get(index), out, j, mask: mask)
        }
    }

    /// `IndexReduction.replaces`, lane by lane.
    private func replaces(_ e: Emitter, _ best: Value, _ value: Value) -> Value {
        let r = reduction
        let bestIsNaN = e.fcompare(LLVMRealUNO, best, best), valueIsNaN = e.fcompare(LLVMRealUNO, value, value)
        let predicate = r.largest ? (r.lastIndex ? LLVMRealOGE : LLVMRealOGT) : (r.lastIndex ? LLVMRealOLE : LLVMRealOLT)
        let better = e.or(valueIsNaN, e.fcompare(predicate, value, best))
        return e.select(bestIsNaN, r.lastIndex ? valueIsNaN : e.splatMask(e.bool(false)), better)
    }
}
