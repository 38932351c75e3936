import CLLVM
import LowpassIR
/// BlurPool in one pass: the border rule, the separable binomial taps and the subsampling, computing
/// only the kept outputs. With `maxPool` set it is MaxBlurPool: the blur reads the maximum of a
/// stride-1 max-pool window, so the stride-1 max tensor never exists in memory.
///
/// Separably: a work item is a band of output rows of one plane. It first filters, horizontally and
/// already subsampled, every source row the band needs (the max pool's rows taken on the way) into a
/// small per-thread buffer that stays in L1, then combines those rows vertically into the output rows.
/// Each input element is read once per band; border rows and columns are resolved (reflect,
/// replicate, or a zero weight) as they are read, so no padded copy exists. Columns are vectors in the
/// interior, where the subsampling is a shuffle of two loads, and scalars at the borders.
///
/// In bf16 the input may be the bfloat16 pair planes its producer wrote (`pairs`): each plane reads
/// its channel's half of them, half the bytes of floats and already rounded. Where bf16 convs read the
/// output as pair planes (`PairsWritingKernel`), a work item blurs a pair of channels and writes them
/// as one plane of pairs, so those convs neither pack floats nor wait for a pass of their own.
///
/// Arguments: output, input, then the pair planes where `pairsOutput` is `.alsoFloats`.
struct BlurKernel: Kernel, PairsWritingKernel {
    struct MaxPool: Hashable { var kernel: [Int]; var pads: [Int] }

    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    /// Maps, image by image (`images` of them, each with planes / images channels).
    var images: Int, planes: Int
    /// The input map, and the map the blur reads (the max pool's output when fused; else the input).
    var height: Int, width: Int, sourceHeight: Int, sourceWidth: Int
    var outHeight: Int, outWidth: Int
    var spec: BlurPoolSpec
    var maxPool: MaxPool?
    /// bf16: the blur (and max pool) read the input rounded to bfloat16.
    var roundsInput: Bool
    /// The layout of the pair planes the input is read from, border included; nil where it is floats.
    var pairs: PairPlaneKernel?
    var lanes: Int
    var pairsOutput = ConvKernel.PairsOutput.none
    var pairsPadding = [0, 0, 0, 0]
    var pairsArgument: Int { 2 }
    var outputPlanes: PairPlaneKernel {
        PairPlaneKernel(batch: images, channels: channels, height: outHeight, width: outWidth, padding: pairsPadding)
    }
    /// Whether the output can be written as pair planes: band by band, not output by output.
    var writesPairs: Bool { !direct }
    private var channels: Int { planes / images }
    /// Channels a work item blurs: both of a pair where it writes pairs.
    private var channelsPerItem: Int { pairsOutput == .none ? 1 : 2 }
    /// The planes items are counted over: pairs of channels where they write pairs.
    private var itemPlanes: Int { images * ceilDiv(channels, channelsPerItem) }

    var kind: String {
        (maxPool == nil ? "blurpool" : "maxblurpool") + " M=\(spec.filterSize) s=\(spec.strides[0]) \(spec.padMode.rawValue)" + (roundsInput ? " bf16" : "") + (pairs == nil ? "" : " pairs")
            + (pairsOutput == .none ? "" : " to pairs")
    }
    var flops: Double {
        let window = Double((maxPool?.kernel.reduce(1, *) ?? 0))
        return Double(planes * outHeight * outWidth) * Double(spec.filterSize * spec.filterSize) * (2 + window)
    }
    var bytes: Double {
        let written = switch pairsOutput { case .none: 4; case .only: 2; case .alsoFloats: 6 }
        return Double(planes) * Double((pairs == nil ? 4 : 2) * height * width + written * outHeight * outWidth)
    }

    private var taps: [Double] { spec.taps }
    private var size: Int { spec.filterSize }
    private var strideY: Int { spec.strides[0] }
    private var strideX: Int { spec.strides[1] }
    private var poolKernel: [Int] { maxPool?.kernel ?? [1, 1] }
    private var poolPads: [Int] { maxPool?.pads ?? [0, 0, 0, 0] }

    /// Row stride of the filtered rows: whole vectors, so the vertical pass never reads past a row.
    private var filteredStride: Int { ceilDiv(outWidth, lanes) * lanes }
    /// Output rows per band: as many as keep the filtered rows (each channel's) within 48 KiB.
    var band: Int {
        let rows = max(12 * 1024 / (channelsPerItem * filteredStride + paddedRow), size)
        return max(1, min(outHeight, (rows - size) / strideY + 1))
    }
    private var rowsPerBand: Int { (band - 1) * strideY + size }
    var bands: Int { ceilDiv(outHeight, band) }
    var workItems: Int { direct ? planes * outHeight : itemPlanes * bands }
    var scratchFloats: Int { direct ? 0 : rowsPerBand * (channelsPerItem * filteredStride + paddedRow) }

    /// Geometry far from any antialiasing layer's (strides past 4, padding past the filter, a max pool
    /// window past 8) runs output by output (`emitDirectItem`): the laid-out rows grow with stride x
    /// lanes and the border columns are unrolled, which for strides or pads of 2^20 and more took
    /// gigabytes or never finished compiling. Output by output the work is bounded by the output's size
    /// times the filter's (and the max pool window's part inside the input).
    var direct: Bool { max(strideX, strideY) > 4 || spec.pads.contains { $0 > size } || poolKernel.contains { $0 > 8 } }

    /// A blur row or column resolved against the border: the source index to read and its tap.
    private func resolve(_ e: Emitter, _ index: Value, extent: Int, tap: Double) -> (index: Value, weight: Value) {
        let (source, inside) = spec.padMode.resolve(e, index, extent: extent)
        return (source, spec.padMode == .zero ? e.select(inside, e.float(tap), e.float(0)) : e.float(tap))
    }

    /// Input rows are this many elements apart: a pair plane's rows span its border too.
    private var rowStride: Int { pairs?.paddedWidth ?? width }

    /// Where input plane `plane` (image by image, then channel) starts, its first pixel's row and
    /// column, and for pair planes whether its channel is a pair's odd one (the high halves).
    private func inputPlane(_ e: Emitter, _ plane: Value) -> (start: Value, odd: Value?) {
        guard let pairs else { return (e.address(e.operandArgument(0), e.mul(plane, height * width)), nil) }
        let c = split(e, plane, [images, channels])
        let (image, channel) = (c[0], c[1])
        let start = e.address(pairs.plane(e, in: e.operandArgument(0), image: image, pair: e.div(channel, 2)), pairs.offset(e, row: e.int(0), column: e.int(0)))
        return (start, e.compare(LLVMIntEQ, e.rem(channel, 2), e.int(1)))
    }

    /// The input element (or `lanes` of them from `index` on, outside `mask` -infinity) at `index` of
    /// `row`, as a float.
    private func read(_ e: Emitter, _ row: Value, _ index: Value, odd: Value?, vector: Bool, mask: Value? = nil) -> Value {
        guard let odd else { return vector ? e.loadVector(row, index, mask: mask, passthrough: -.infinity) : e.load(row, index) }
        let value = e.bfloat16Half(of: vector ? e.loadVector(row, index, mask: mask) : e.load(row, index), odd: odd)
        return mask.map { e.select($0, value, e.vector(-.infinity)) } ?? value
    }

    /// An input value as the blur takes it: rounded in bf16, unless read from bfloat16 pairs.
    private func stored(_ e: Emitter, _ v: Value) -> Value { e.asStored(v, bf16: roundsInput && pairs == nil) }

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
            return e.gather(e.address(row, e.add(x, offset)), e.vmul(e.laneIndices, strideX), mask: e.splatMask(e.bool(true)))
        }
    }


    func emitItem(_ e: Emitter, _ item: Value) {
        guard !direct else { return emitDirectItem(e, item) }
        let c = split(e, item, [itemPlanes, bands])
        let (itemPlane, bandIndex) = (c[0], c[1])
        let firstOutputRow = e.mul(bandIndex, band)
        let firstSourceRow = e.add(e.mul(firstOutputRow, strideY), -spec.pads[0])
        let staged = e.address(e.scratch!, e.int(channelsPerItem * rowsPerBand * filteredStride))
        let sources = sourcePlanes(e, itemPlane)
        let filtered = sources.indices.map { e.address(e.scratch!, e.int($0 * rowsPerBand * filteredStride)) }

        for (plane, filtered) in zip(sources, filtered) {
            let (input, odd) = inputPlane(e, plane)
            // Horizontal pass: source row firstSourceRow + r (resolved at the border) into filtered row r.
            e.loop(rowsPerBand) { r in
                let resolved = resolve(e, e.add(firstSourceRow, r), extent: sourceHeight, tap: 1)
                let rows = (0..<poolKernel[0]).map { dy in
                    let y = e.add(resolved.index, dy - poolPads[0])
                    let valid = e.and(e.compare(LLVMIntSGE, y, e.int(0)), e.compare(LLVMIntSLT, y, e.int(height)))
                    return (pointer: e.address(input, e.mul(e.clamp(y, 0, height - 1), rowStride)), valid: valid)
                }
                layOut(e, rows, odd: odd, into: e.address(staged, e.mul(r, paddedRow)))
            }
            // Filtering only after every row is laid out: a load right after the unaligned stores that
            // wrote its row would wait for them (failed store forwarding).
            e.loop(rowsPerBand) { r in
                filter(e, e.address(staged, e.mul(r, paddedRow)), into: e.address(filtered, e.mul(r, filteredStride)))
            }
        }

        // Vertical pass: each output row of the band from `size` filtered rows.
        let rowsHere = e.minimum(e.int(band), e.sub(e.int(outHeight), firstOutputRow))
        let pairPlane = outputPairPlane(e, itemPlane)
        if let pairPlane {
            // The border rows by the first and last bands, each row's border columns with the row.
            e.when(e.compare(LLVMIntEQ, bandIndex, e.int(0))) { outputPlanes.zeroTopBorder(e, of: pairPlane.plane) }
            e.when(e.compare(LLVMIntEQ, bandIndex, e.int(bands - 1))) { outputPlanes.zeroBottomBorder(e, of: pairPlane.plane) }
        }
        e.loop(e.int(0), rowsHere) { i in
            let oy = e.add(firstOutputRow, i)
            let weights = (0..<size).map { ky in
                e.splat(resolve(e, e.add(e.mul(oy, strideY), ky - spec.pads[0]), extent: sourceHeight, tap: taps[ky]).weight)
            }
            let whole = outWidth / lanes * lanes
            let combine = { (x: Value, mask: Value?) in
                let sums = filtered.map { filtered in
                    var sum = e.vector(0)
                    for ky in 0..<size {
                        let row = e.address(filtered, e.mul(e.add(e.mul(i, strideY), ky), filteredStride))
                        sum = e.fma(weights[ky], e.loadVector(row, x), sum)
                    }
                    return sum
                }
                storeOutput(e, row: oy, x, sums, mask: mask, sources: sources, pairPlane: pairPlane)
            }
            e.loop(e.int(0), e.int(whole), step: lanes) { x in combine(x, nil) }
            if whole < outWidth {
                combine(e.int(whole), e.vcompare(LLVMIntSLT, e.laneIndices, e.intVectorConstant(outWidth - whole)))
            }
            if let pairPlane {
                outputPlanes.zeroLeftBorder(e, of: pairPlane.plane, row: oy)
                outputPlanes.zeroRightBorder(e, of: pairPlane.plane, row: oy)
            }
        }
    }

    /// The input planes (image by image, then channel) item plane `itemPlane` blurs: itself, or where
    /// the output is pairs its pair's two channels, the odd one the even one again past an odd channel
    /// count (blurred, not stored).
    private func sourcePlanes(_ e: Emitter, _ itemPlane: Value) -> [Value] {
        guard channelsPerItem == 2 else { return [itemPlane] }
        let c = split(e, itemPlane, [images, ceilDiv(channels, 2)])
        let first = e.add(e.mul(c[0], channels), e.mul(c[1], 2))
        return [first, e.minimum(e.add(first, e.int(1)), e.add(e.mul(c[0], channels), e.int(channels - 1)))]
    }

    /// Where the output is pair planes, the one item plane `itemPlane` writes, and whether its odd
    /// channel is one of the map's; nil where the output is floats.
    private func outputPairPlane(_ e: Emitter, _ itemPlane: Value) -> (plane: Value, oddPresent: Value)? {
        guard pairsOutput != .none else { return nil }
        let layout = outputPlanes
        let c = split(e, itemPlane, [images, layout.pairs])
        let plane = layout.plane(e, in: e.argument(pairsOutput == .only ? 0 : pairsArgument), image: c[0], pair: c[1])
        return (plane, e.compare(LLVMIntSLT, e.add(e.mul(c[1], 2), e.int(1)), e.int(channels)))
    }

    /// Output row `row`'s vector at column `x` of each source plane's sums (`mask` for a partial one):
    /// as floats, or as one vector of pairs in `pairPlane`, beside the floats with `.alsoFloats`.
    private func storeOutput(_ e: Emitter, row: Value, _ x: Value, _ sums: [Value], mask: Value?, sources: [Value],
                             pairPlane: (plane: Value, oddPresent: Value)?) {
        func storeFloats(_ sum: Value, plane: Value) {
            e.storeVector(sum, e.address(e.outputArgument, e.add(e.mul(plane, outHeight * outWidth), e.mul(row, outWidth))), x, mask: mask)
        }
        guard let pairPlane else { return storeFloats(sums[0], plane: sources[0]) }
        if pairsOutput == .alsoFloats {
            storeFloats(sums[0], plane: sources[0])
            e.when(pairPlane.oddPresent) { storeFloats(sums[1], plane: sources[1]) }
        }
        let odd = e.select(e.splatMask(pairPlane.oddPresent), sums[1], e.vector(0))
        e.storeVector(e.bfloat16Pairs(even: sums[0], odd: odd), e.address(pairPlane.plane, outputPlanes.offset(e, row: row, column: e.int(0))), x, mask: mask)
    }

    /// One output row of one plane, output by output: each tap's source row and column resolved at the
    /// border, the max pool (when fused) over the part of its window inside the input.
    private func emitDirectItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [planes, outHeight])
        let (plane, oy) = (c[0], c[1])
        let (input, odd) = inputPlane(e, plane)
        let outRow = e.address(e.outputArgument, e.add(e.mul(plane, outHeight * outWidth), e.mul(oy, outWidth)))
        let rows = (0..<size).map { ky in resolve(e, e.add(e.mul(oy, strideY), ky - spec.pads[0]), extent: sourceHeight, tap: taps[ky]) }
        e.loop(e.int(0), e.int(outWidth)) { ox in
            let sum = e.local(e.float(0))
            for kx in 0..<size {
                let column = resolve(e, e.add(e.mul(ox, strideX), kx - spec.pads[1]), extent: sourceWidth, tap: taps[kx])
                for row in rows {
                    let value = source(e, input, odd: odd, y: row.index, x: column.index)
                    e.set(sum, e.fadd(e.get(sum), e.fmul(e.fmul(row.weight, column.weight), value)))
                }
            }
            e.store(e.get(sum), outRow, ox)
        }
    }

    /// The blur's source at (y, x): the input, or the max over the pool window's part inside it.
    private func source(_ e: Emitter, _ input: Value, odd: Value?, y: Value, x: Value) -> Value {
        guard maxPool != nil else { return stored(e, read(e, input, e.add(e.mul(y, rowStride), x), odd: odd, vector: false)) }
        let top = e.add(y, -poolPads[0]), left = e.add(x, -poolPads[1])
        let best = e.local(e.float(-.infinity))
        e.loop(e.clamp(top, 0, height), e.clamp(e.add(top, poolKernel[0]), 0, height)) { iy in
            e.loop(e.clamp(left, 0, width), e.clamp(e.add(left, poolKernel[1]), 0, width)) { ix in
                e.set(best, e.fmax(e.get(best), read(e, input, e.add(e.mul(iy, rowStride), ix), odd: odd, vector: false)))
            }
        }
        return stored(e, e.get(best))
    }

    /// Length of the padded source row: every column the taps read, plus the slack the last vector's
    /// strided loads run over.
    private var paddedRow: Int {
        let vectors = ceilDiv(outWidth, lanes)
        let read = ((vectors * lanes - 1) * strideX + size) + 2 * lanes
        return ceilDiv(max(read, spec.pads[1] + ceilDiv(sourceWidth, lanes) * lanes), lanes) * lanes
    }

    /// Lays out one source row (the max over the pool window when fused) in `row`, an L1-resident
    /// buffer, with its border columns resolved, so the filter loop has no edge cases. bf16 rounds it
    /// here (after the max: rounding commutes with it), once per element and band.
    private func layOut(_ e: Emitter, _ rows: [(pointer: Value, valid: Value)], odd: Value?, into row: Value) {
        let pad = spec.pads[1]
        // Chunks [low, high) read only inside the input and the source row: no masks there.
        let low = ceilDiv(poolPads[1], lanes) * lanes
        var high = low
        while high + lanes <= sourceWidth && high + lanes - 1 - poolPads[1] + poolKernel[1] - 1 <= width - 1 { high += lanes }
        let chunk = { (x: Value, masked: Bool) in
            let lane = e.add(e.splatInt32(e.toInt32(x)), e.laneIndices)
            var best: Value?
            for dx in 0..<poolKernel[1] {
                let column = e.vadd(lane, dx - poolPads[1])
                let inside = masked ? e.and(e.vinside(column, 0, width), e.vcompare(LLVMIntSLT, lane, e.intVectorConstant(sourceWidth))) : nil
                for source in rows {
                    var v = read(e, source.pointer, e.add(x, dx - poolPads[1]), odd: odd, vector: true, mask: inside)
                    if maxPool != nil { v = e.select(source.valid, v, e.vector(-.infinity)) }
                    best = best.map { e.fmax($0, v) } ?? v
                }
            }
            e.storeVector(stored(e, best!), row, e.add(x, pad))
        }
        e.loop(e.int(0), e.int(low), step: lanes) { chunk($0, true) }
        e.loop(e.int(low), e.int(high), step: lanes) { chunk($0, false) }
        e.loop(e.int(high), e.int(sourceWidth), step: lanes) { chunk($0, true) }
        // Border columns, after the middle: its last vector may have run into the right border. Only
        // columns that kept outputs read are resolved; lanes past the row's end read leftovers and are
        // never stored.
        let needed = (outWidth - 1) * strideX + size
        for p in Array(0..<min(pad, needed)) + Array(min(pad + sourceWidth, needed)..<needed) {
            let resolved = resolve(e, e.int(p - pad), extent: sourceWidth, tap: 1)
            e.store(e.fmul(e.load(row, e.add(resolved.index, pad)), resolved.weight), row, e.int(p))
        }
    }

    /// Blurs a laid-out row horizontally, computing only the kept (subsampled) columns.
    private func filter(_ e: Emitter, _ row: Value, into target: Value) {
        e.loop(e.int(0), e.int(ceilDiv(outWidth, lanes) * lanes), step: lanes) { ox in
            let x = e.mul(ox, strideX)
            var sum = e.vector(0)
            for kx in 0..<size { sum = e.fma(e.vector(taps[kx]), loadStrided(e, row, x, kx), sum) }
            e.storeVector(sum, target, ox)
        }
    }
}
