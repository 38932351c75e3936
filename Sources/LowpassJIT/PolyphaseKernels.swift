import CLLVM
import LowpassIR

/// PolyphaseIndex: one work item per sample, one pass over it. Where the map is a whole number of
/// strides, a row belongs to one row phase and a vector that starts at a multiple of the vector width
/// holds column phase j in its lanes l with l % sW == j, so every element is summed into one vector
/// accumulator per row phase; each channel's vectors are split into the components and added to their
/// totals (in scalars, so the long sums over a whole sample stay accurate). A map that wraps around is
/// summed component by component. The first component with the largest total wins, as in the
/// reference. Arguments: output, input.
struct PolyphaseIndexKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var batch: Int, channels: Int
    var grid: PolyphaseGrid
    var norm: PolyphaseNorm
    var lanes: Int

    var kind: String { "polyphase-index s=\(grid.strides[0])x\(grid.strides[1]) \(norm.rawValue)" }
    var workItems: Int { batch }
    var images: Int { batch }
    var flops: Double { 2 * Double(batch * channels * grid.height * grid.width) }
    var bytes: Double { 4 * Double(batch * (channels * grid.height * grid.width + 1)) }

    private var isWholeStrides: Bool {
        grid.height % grid.strides[0] == 0 && grid.width % grid.strides[1] == 0 && lanes % grid.strides[1] == 0
    }

    private func measure(_ e: Emitter, _ v: Value) -> Value { norm == .l2 ? e.fmul(v, v) : e.fabs(v) }

    func emitItem(_ e: Emitter, _ item: Value) {
        let (height, width) = (grid.height, grid.width)
        let (sH, sW) = (grid.strides[0], grid.strides[1])
        let plane = height * width
        let sample = e.address(e.operandArgument(0), e.mul(item, channels * plane))
        let totals = (0..<grid.components).map { _ in e.local(e.float(0)) }
        e.loop(channels) { c in
            let map = e.address(sample, e.mul(c, plane))
            if isWholeStrides {
                let sums = (0..<sH).map { _ in e.local(e.vector(0)) }
                e.loop(grid.outputHeight) { r in
                    for i in 0..<sH {
                        let row = e.address(map, e.mul(e.add(e.mul(r, sH), i), width))
                        e.forEachVector(width) { x, mask in
                            e.set(sums[i], e.fadd(e.get(sums[i]), measure(e, e.loadVector(row, x, mask: mask))))
                        }
                    }
                }
                let phases = e.vrem(e.laneIndices, sW)
                for k in 0..<grid.components {
                    let (i, j) = grid.origin(of: k)
                    let lanesOfJ = e.vcompare(LLVMIntEQ, phases, e.intVectorConstant(j))
                    let part = e.horizontalSum(e.select(lanesOfJ, e.get(sums[i]), e.vector(0)))
                    e.set(totals[k], e.fadd(e.get(totals[k]), part))
                }
            } else {
                for k in 0..<grid.components {
                    let (i, j) = grid.origin(of: k)
                    e.loop(grid.outputHeight) { r in
                        let row = e.address(map, e.mul(e.rem(e.add(e.mul(r, sH), i), height), width))
                        e.loop(grid.outputWidth) { q in
                            let v = e.load(row, e.rem(e.add(e.mul(q, sW), j), width))
                            e.set(totals[k], e.fadd(e.get(totals[k]), measure(e, v)))
                        }
                    }
                }
            }
        }
        let best = e.local(e.float(-Double.infinity)), index = e.local(e.float(0))
        for k in 0..<grid.components {
            let total = e.get(totals[k])
            let better = e.fcompare(LLVMRealOGT, total, e.get(best))
            e.set(best, e.select(better, total, e.get(best)))
            e.set(index, e.select(better, e.float(Double(k)), e.get(index)))
        }
        e.store(e.get(index), e.outputArgument, item)
    }
}

/// PolyphaseSelect: one work item per plane, copying the component its sample's index names. A
/// stride-2 row without wrap-around is two vector loads and the shuffle that keeps every second lane
/// (the loads start at the component's column, so the same shuffle serves both phases); any other row
/// is gathered. Arguments: output, input, index.
struct PolyphaseSelectKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var batch: Int, channels: Int
    var grid: PolyphaseGrid
    var lanes: Int

    var kind: String { "polyphase-select s=\(grid.strides[0])x\(grid.strides[1])" }
    var workItems: Int { batch * channels }
    var images: Int { batch }
    var flops: Double { 0 }
    var bytes: Double { 8 * Double(batch * channels * grid.outputHeight * grid.outputWidth) }

    func emitItem(_ e: Emitter, _ item: Value) {
        let (height, width) = (grid.height, grid.width)
        let (sH, sW) = (grid.strides[0], grid.strides[1])
        let (outHeight, outWidth) = (grid.outputHeight, grid.outputWidth)
        // The index as PolyphaseGrid.component reads it: NaN is 0, then clamped and truncated.
        let stored = e.load(e.operandArgument(1), e.div(item, channels))
        let clamped = e.fmax(e.fmin(stored, e.float(Double(grid.components - 1))), e.float(0))
        let k = e.toInt(e.select(e.fcompare(LLVMRealUNO, stored, stored), e.float(0), clamped))
        let (i, j) = (e.div(k, sW), e.rem(k, sW))
        let plane = e.address(e.operandArgument(0), e.mul(item, height * width))
        let out = e.address(e.outputArgument, e.mul(item, outHeight * outWidth))
        e.loop(outHeight) { r in
            let y = e.add(i, e.mul(r, sH))
            let source = e.address(plane, e.mul(height % sH == 0 ? y : e.rem(y, height), width))
            let target = e.address(out, e.mul(r, outWidth))
            if sW == 2 && width % 2 == 0 {
                // Blocks before `safe` read at most column width - 2 with both loads whole; the rest masked.
                let safe = max(0, (outWidth - 1) / lanes * lanes)
                let pair = { (q: Value, first: Value?, second: Value?, store: Value?) in
                    let start = e.add(j, e.mul(q, 2))
                    let a = e.loadVector(source, start, mask: first), b = e.loadVector(source, e.add(start, lanes), mask: second)
                    e.storeVector(e.strided(a, b, start: 0, step: 2), target, q, mask: store)
                }
                e.loop(e.int(0), e.int(safe), step: lanes) { q in pair(q, nil, nil, nil) }
                let start = e.add(j, 2 * safe)
                let remaining = e.sub(e.int(width), start)
                pair(e.int(safe), e.firstLanes(remaining), e.firstLanes(e.sub(remaining, e.int(lanes))),
                     e.vcompare(LLVMIntSLT, e.laneIndices, e.intVectorConstant(outWidth - safe)))
            } else {
                e.forEachVector(outWidth) { q, mask in
                    var columns = e.add(e.splatInt32(e.toInt32(e.add(j, e.mul(q, sW)))), e.vmul(e.laneIndices, sW))
                    if width % sW != 0 { columns = e.vrem(columns, width) }
                    let all = mask ?? e.splatMask(e.bool(true))
                    e.storeVector(e.gather(source, columns, mask: all), target, q, mask: mask)
                }
            }
        }
    }
}
