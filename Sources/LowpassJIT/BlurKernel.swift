import CLLVM
import LowpassIR

/// BlurPool in one pass: the border rule, the separable binomial taps and the subsampling, computing
/// only the kept outputs. With `maxPool` set it is MaxBlurPool: each blur tap reads the maximum of a
/// stride-1 max-pool window, so the stride-1 max tensor never exists.
///
/// One work item is one output row of one plane. Rows of the border are resolved per item (reflect,
/// replicate, or a zero weight) without a padded copy; columns are vectors in the interior, where the
/// subsampling is a shuffle of two loads, and scalars at the borders.
///
/// Arguments: input, output.
struct BlurKernel: Kernel {
    struct MaxPool: Hashable { var kernel: [Int]; var pads: [Int] }

    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var planes: Int
    /// The input map, and the map the blur reads (the max pool's output when fused; else the input).
    var height: Int, width: Int, sourceHeight: Int, sourceWidth: Int
    var outHeight: Int, outWidth: Int
    var spec: BlurPoolSpec
    var maxPool: MaxPool?
    var lanes: Int

    var kind: String { (maxPool == nil ? "blurpool" : "maxblurpool") + " M=\(spec.filterSize) s=\(spec.strides[0]) \(spec.padMode.rawValue)" }
    var workItems: Int { planes * outHeight }
    var flops: Double {
        let window = Double((maxPool?.kernel.reduce(1, *) ?? 0))
        return Double(planes * outHeight * outWidth) * Double(spec.filterSize * spec.filterSize) * (2 + window)
    }
    var bytes: Double { 4 * Double(planes * (height * width + outHeight * outWidth)) }

    private var taps: [Double] { spec.taps }
    private var size: Int { spec.filterSize }
    private var strideY: Int { spec.strides[0] }
    private var strideX: Int { spec.strides[1] }
    private var poolKernel: [Int] { maxPool?.kernel ?? [1, 1] }
    private var poolPads: [Int] { maxPool?.pads ?? [0, 0, 0, 0] }

    /// A blur row or column resolved against the border: the source index to read and its tap.
    private func resolve(_ e: Emitter, _ index: Value, extent: Int, tap: Double) -> (index: Value, weight: Value) {
        let inside = e.and(e.compare(LLVMIntSGE, index, e.int(0)), e.compare(LLVMIntSLT, index, e.int(extent)))
        switch spec.padMode {
        case .zero:
            return (e.clamp(index, 0, extent - 1), e.select(inside, e.float(tap), e.float(0)))
        case .replicate:
            return (e.clamp(index, 0, extent - 1), e.float(tap))
        case .reflect:
            let mirrored = e.select(e.compare(LLVMIntSLT, index, e.int(0)), e.sub(e.int(0), index), e.sub(e.int(2 * (extent - 1)), index))
            // Clamped as well, so a map smaller than its padding cannot read outside the plane.
            return (e.clamp(e.select(inside, index, mirrored), 0, extent - 1), e.float(tap))
        }
    }

    /// `lanes` values of `row` at columns `x + offset + lane * strideX`.
    private func loadStrided(_ e: Emitter, _ row: Value, _ x: Value, _ offset: Int) -> Value {
        switch strideX {
        case 1:
            return e.loadVector(row, e.add(x, offset))
        case 2:
            // Both halves come from loads at an even offset, so neighbouring taps share them (GVN).
            let even = offset - offset % 2
            let a = e.loadVector(row, e.add(x, even)), b = e.loadVector(row, e.add(x, even + lanes))
            return e.strided(a, b, start: offset % 2, step: 2)
        default:
            let indices = e.vadd(e.vmul(e.laneIndices, strideX), 0)
            let all = e.vcompare(LLVMIntSGE, indices, e.intVectorConstant(0))
            return e.gather(e.address(row, e.add(x, offset)), indices, mask: all)
        }
    }

    /// Extra columns a strided vector load reads past its last lane.
    private var overread: Int { strideX == 2 ? 1 : 0 }

    func emitItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [planes, outHeight])
        let (plane, oy) = (c[0], c[1])
        let input = e.address(e.argument(0), e.mul(plane, height * width))
        let outRow = e.address(e.argument(1), e.mul(e.add(e.mul(plane, outHeight), oy), outWidth))

        // Per blur row: its weight, and the input rows its max-pool window covers (with their validity).
        var rowWeights: [Value] = [], rows: [[(pointer: Value, valid: Value)]] = []
        for ky in 0..<size {
            let resolved = resolve(e, e.add(e.mul(oy, strideY), ky - spec.pads[0]), extent: sourceHeight, tap: taps[ky])
            rowWeights.append(resolved.weight)
            rows.append((0..<poolKernel[0]).map { dy in
                let y = e.add(resolved.index, dy - poolPads[0])
                let valid = e.and(e.compare(LLVMIntSGE, y, e.int(0)), e.compare(LLVMIntSLT, y, e.int(height)))
                return (e.address(input, e.mul(e.clamp(y, 0, height - 1), width)), valid)
            })
        }

        // Vector interior: every column a vector touches is inside both the source and the input.
        let first = min(ceilDiv(spec.pads[1] + poolPads[1], strideX), outWidth)
        var end = first
        func fits(_ ox: Int) -> Bool {
            let x = ox * strideX - spec.pads[1], last = x + size - 1 + (lanes - 1) * strideX + overread
            return last <= sourceWidth - 1 && last - poolPads[1] + poolKernel[1] - 1 <= width - 1
        }
        while end + lanes <= outWidth && fits(end + lanes - 1) { end += lanes }

        e.loop(e.int(first), e.int(end), step: lanes) { ox in
            let x = e.sub(e.mul(ox, strideX), e.int(spec.pads[1] + poolPads[1]))
            var sum = e.vector(0)
            for kx in 0..<size {
                var column = e.vector(0)
                for ky in 0..<size {
                    column = e.fma(e.splat(rowWeights[ky]), sourceVector(e, rows[ky], x, kx), column)
                }
                sum = e.fma(e.vector(taps[kx]), column, sum)
            }
            e.storeVector(sum, outRow, ox)
        }
        func scalarColumns(_ ox: Value) {
            var sum = e.float(0)
            for kx in 0..<size {
                let resolved = resolve(e, e.add(e.mul(ox, strideX), kx - spec.pads[1]), extent: sourceWidth, tap: taps[kx])
                for ky in 0..<size {
                    let weight = e.fmul(rowWeights[ky], resolved.weight)
                    sum = e.fma(weight, sourceScalar(e, rows[ky], resolved.index), sum)
                }
            }
            e.store(sum, outRow, ox)
        }
        e.loop(e.int(0), e.int(first), scalarColumns)
        e.loop(e.int(end), e.int(outWidth), scalarColumns)
    }

    /// The blur's source at `lanes` columns from `x + offset`: the input, or the max over the pool window.
    private func sourceVector(_ e: Emitter, _ rows: [(pointer: Value, valid: Value)], _ x: Value, _ offset: Int) -> Value {
        guard maxPool != nil else { return loadStrided(e, rows[0].pointer, x, offset) }
        var best: Value?
        for dx in 0..<poolKernel[1] {
            for row in rows {
                let v = e.select(row.valid, loadStrided(e, row.pointer, x, offset + dx), e.vector(-.infinity))
                best = best.map { e.fmax($0, v) } ?? v
            }
        }
        return best!
    }

    private func sourceScalar(_ e: Emitter, _ rows: [(pointer: Value, valid: Value)], _ x: Value) -> Value {
        guard maxPool != nil else { return e.load(rows[0].pointer, x) }
        var best = e.float(-.infinity)
        for dx in 0..<poolKernel[1] {
            let column = e.add(x, dx - poolPads[1])
            let inside = e.and(e.compare(LLVMIntSGE, column, e.int(0)), e.compare(LLVMIntSLT, column, e.int(width)))
            for row in rows {
                let v = e.load(row.pointer, e.clamp(column, 0, width - 1))
                best = e.select(e.and(inside, row.valid), e.fmax(best, v), best)
            }
        }
        return best
    }
}
