import CLLVM
import LowpassIR
import LowpassTensor

/// A bf16 conv with lanes over filters: each output pixel's input pair is broadcast against vectors of
/// the filters' weight pairs (`vdpbf16ps`), read in place from pair planes that carry the conv's zero
/// border (`PairPlaneKernel` with `padding`). The pixel-lane `ConvKernel` packs a patch per pixel tile
/// (a copy of every tap's lanes, 8-16% of a bf16 conv) and, with 16 lanes, numbers pixels across rows
/// to keep lanes busy; here no patch is made, a tile is `pixels` consecutive pixels of one output row,
/// and every tap of every pixel is one broadcast load at a constant offset from the tile's row. This is
/// the layout of oneDNN's bf16 convs (filters on lanes, pairs of channels broadcast); the sums come out
/// with filters on lanes and are transposed in registers to the NCHW planes the epilogue writes
/// (docs/performance.md, "bf16: lanes over filters").
///
/// Work item: (image, block of `filterVectors` x lanes filters, chunk of the map's row tiles).
/// Weights: [block][pair][tap][filter vector][filter lane], each a bfloat16 pair of channels 2p, 2p + 1.
struct FilterLaneConvKernel: PackedWeightsKernel, PairsWritingKernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var batch: Int, channels: Int, filters: Int
    /// The input's pair planes, whose padding is the conv's.
    var planes: PairPlaneKernel
    var outHeight: Int, outWidth: Int
    var geometry: WindowGeometry
    var hasResidual: Bool
    /// Over the residual, which it reads as floats, only where it writes floats (`ConvKernel.inPlaceArgument`).
    var inPlaceArgument: Int? { hasResidual && pairsOutput != .only ? ConvSlot.residual.rawValue : nil }
    var activation: Activation?
    /// As `ConvKernel.scalesSums`: BatchNorm's scale in the epilogue, the bias argument holding shifts then scales.
    var scalesSums: Bool
    var nativeBFloat16: Bool
    var lanes: Int
    /// The register tile: `filterVectors` vectors of filters x `pixels` pixels of a row.
    var filterVectors: Int, pixels: Int
    /// Work items an image's row tiles are split into, per filter block.
    var chunks: Int
    /// Whether the epilogue also, or only, writes the output as pair planes for the convs that read it
    /// (as `ConvKernel.pairsOutput`), with the border those readers need: a tile is a run of one row,
    /// so its pairs are consecutive in a plane with a border too, and the tiles at a plane's edges
    /// write the border's zeros.
    var pairsOutput = ConvKernel.PairsOutput.none
    var pairsPadding = [0, 0, 0, 0]
    /// The argument `.alsoFloats` writes the pairs to: after the residual.
    var pairsArgument: Int { ConvSlot.residual.rawValue + (hasResidual ? 1 : 0) }
    var outputPlanes: PairPlaneKernel {
        PairPlaneKernel(batch: batch, channels: filters, height: outHeight, width: outWidth, padding: pairsPadding)
    }

    /// Whether a conv of this shape runs with lanes over filters: bf16 with 16 lanes (where the
    /// transpose and the broadcasts are cheap, and the pixel lanes waste most), no groups, filters that
    /// fill most of two vectors, 2 to 9 taps. A 1x1 conv's patch is its input, read in place already,
    /// and every one of aa-ResNet-50's ran slower with filter lanes (the transpose against a reduction
    /// of 32-512 steps); the stem (7x7 over 3 channels, 98 channel-pair steps) ran as fast as with its
    /// column pairs (84 steps) plus a pass (docs/performance.md, "bf16: lanes over filters").
    static func applies(precision: Precision, target: Target, groups: Int, geometry: WindowGeometry, filters: Int) -> Bool {
        let taps = geometry.kernel.reduce(1, *)
        return precision == .bf16 && target.lanes == 16 && !target.hasAMX && groups == 1 && taps > 1 && taps <= 9 && filters >= 24
    }

    init(nodes: [String], planes: PairPlaneKernel, output: Int, bias: Operand, residual: Operand?, filters: Int,
         outHeight: Int, outWidth: Int, geometry: WindowGeometry, activation: Activation?, scalesSums: Bool, target: Target) {
        self.nodes = nodes
        self.arguments = [.buffer(output), .buffer(planes.output), .constant(0), bias] + (residual.map { [$0] } ?? [])
        self.output = output
        (batch, channels, self.filters, self.planes) = (planes.batch, planes.channels, filters, planes)
        (self.outHeight, self.outWidth, self.geometry) = (outHeight, outWidth, geometry)
        hasResidual = residual != nil
        self.activation = activation
        self.scalesSums = scalesSums
        nativeBFloat16 = target.hasNativeBFloat16
        lanes = target.lanes
        // The tile that wastes least on this conv's filters and rows: F x P sums, F filter vectors
        // and one broadcast within the 32 registers (2 x 14, 3 x 9, 4 x 6).
        let shapes = [(2, 14), (3, 9), (4, 6)], lanes = target.lanes
        func work(_ shape: (Int, Int)) -> Int {
            let (vectors, widest) = shape
            let tiles = ceilDiv(outWidth, min(widest, outWidth))
            return ceilDiv(filters, vectors * lanes) * vectors * tiles * ceilDiv(outWidth, tiles)
        }
        let best = shapes.min { work($0) < work($1) } ?? shapes[0]
        filterVectors = best.0
        let tilesPerRow = ceilDiv(outWidth, min(best.1, outWidth))
        pixels = ceilDiv(outWidth, tilesPerRow)
        // Enough items for every thread at batch 1, each a run of whole row tiles.
        chunks = min(outHeight * tilesPerRow, max(1, ceilDiv(8, ceilDiv(filters, best.0 * target.lanes))))
    }

    var taps: Int { geometry.kernel[0] * geometry.kernel[1] }
    var pairs: Int { planes.pairs }
    var blockFilters: Int { filterVectors * lanes }
    var blocks: Int { ceilDiv(filters, blockFilters) }
    var tilesPerRow: Int { ceilDiv(outWidth, pixels) }
    var rowTiles: Int { outHeight * tilesPerRow }
    /// Floats (pairs) of one block's weights.
    var blockWeights: Int { pairs * taps * blockFilters }

    var kind: String {
        var name = "conv\(geometry.kernel[0])x\(geometry.kernel[1])"
        if geometry.strides != [1, 1] { name += "/s\(geometry.strides[0])" }
        if hasResidual { name += "+add" }
        if let activation { name += "+\(activation)" }
        let output = switch pairsOutput { case .none: ""; case .only: " pairs"; case .alsoFloats: " +pairs" }
        return name + " [filter lanes \(blockFilters)f x \(pixels)px bf16\(output)]"
    }
    var workItems: Int { batch * blocks * chunks }
    var images: Int { batch }
    var flops: Double { 2 * Double(batch * filters * outHeight * outWidth * channels * taps) }
    var bytes: Double {
        let outputs = filters * outHeight * outWidth * (hasResidual ? 2 : 1)
        return 4 * Double(batch * (planes.imageSize + outputs) + blocks * blockWeights)
    }

    func emitItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [batch, blocks, chunks])
        let (n, block, chunk) = (c[0], c[1], c[2])
        let image = e.address(e.argument(.input), e.mul(n, planes.imageSize))
        let weights = e.address(e.argument(.weights), e.mul(block, blockWeights))
        let (strideY, strideX) = (geometry.strides[0], geometry.strides[1])
        let width = planes.paddedWidth
        let sums = (0..<(filterVectors * pixels)).map { _ in e.local(e.vector(0)) }
        func sum(_ f: Int, _ p: Int) -> Value { sums[f * pixels + p] }
        let first = e.div(e.mul(chunk, rowTiles), chunks), end = e.div(e.mul(e.add(chunk, e.int(1)), rowTiles), chunks)
        e.loop(first, end) { tile in
            let row = e.div(tile, tilesPerRow), firstColumn = e.mul(e.rem(tile, tilesPerRow), pixels)
            // A row's last tile may hold fewer pixels: its extra lanes repeat the row's last pixel, unstored.
            let columns = (0..<pixels).map { p in
                outWidth % pixels == 0 ? e.add(firstColumn, p) : e.minimum(e.add(firstColumn, p), e.int(outWidth - 1))
            }
            let origins = columns.map { e.add(e.mul(row, strideY * width), e.mul($0, strideX)) }
            for slot in sums { e.set(slot, e.vector(0)) }
            e.loop(pairs) { pair in
                let plane = e.address(image, e.mul(pair, planes.planeSize))
                let stepWeights = e.address(weights, e.mul(pair, taps * blockFilters))
                // A loop over taps, not unrolled: with the taps unrolled LLVM 14 schedules the next taps'
                // broadcasts early and spills the sums (docs/performance.md, "bf16: lanes over filters").
                e.loop(geometry.kernel[0], unroll: .never) { ky in
                    e.loop(geometry.kernel[1], unroll: .never) { kx in
                        let tap = e.add(e.mul(ky, geometry.kernel[1]), kx)
                        let offset = e.add(e.mul(ky, geometry.dilations[0] * width), e.mul(kx, geometry.dilations[1]))
                        let tapWeights = e.address(stepWeights, e.mul(tap, blockFilters))
                        let w = (0..<filterVectors).map { e.loadVector(tapWeights, e.int($0 * lanes)) }
                        for p in 0..<pixels {
                            let x = e.splat(e.load(plane, e.add(origins[p], offset)))
                            for f in 0..<filterVectors {
                                e.set(sum(f, p), e.dotBFloat16Pairs(x, w[f], adding: e.get(sum(f, p)), native: nativeBFloat16))
                            }
                        }
                    }
                }
            }
            storeTile(e, n: n, block: block, row: row, firstColumn: firstColumn, sums: sums)
        }
    }

    /// The epilogue: each filter vector's sums (pixel p's filters in vector p) transposed so that vector
    /// l holds filter l's pixels, then bias, residual, activation and one store per filter, and per two
    /// filters one store of their pairs (`pairsOutput`).
    private func storeTile(_ e: Emitter, n: Value, block: Value, row: Value, firstColumn: Value, sums: [Value]) {
        let residual = hasResidual ? e.argument(.residual) : nil
        let valid: Value? = pixels == lanes && outWidth % pixels == 0 ? nil
            : e.firstLanes(outWidth % pixels == 0 ? e.int(pixels) : e.minimum(e.int(pixels), e.sub(e.int(outWidth), firstColumn)))
        let whole = filters % blockFilters == 0
        for f in 0..<filterVectors {
            let byPixel = (0..<lanes).map { p in p < pixels ? e.get(sums[f * pixels + p]) : e.vector(0) }
            // Filter by filter: its finished pixels, and whether it is one of the conv's (a block past
            // the last filter computes on zero weights and reads the last filter's residual).
            let finished = e.transpose(byPixel).enumerated().map { l, sums -> (value: Value, present: Value?) in
                let filter = e.add(e.mul(block, blockFilters), f * lanes + l)
                let present = whole ? nil : e.compare(LLVMIntSLT, filter, e.int(filters))
                let readable = whole ? filter : e.minimum(filter, e.int(filters - 1))
                let index = e.add(e.mul(e.add(e.mul(e.add(e.mul(n, filters), readable), outHeight), row), outWidth), firstColumn)
                let value = convOutput(e, scaledAndShifted(e, sums, bias: e.argument(.bias), filter: readable, filters: e.int(filters), scales: scalesSums),
                                       plus: residual.map { readResidual(e, $0, at: index, mask: valid, bf16: true) }, bf16: true, activate: { activation?.apply(e, $0) ?? $0 })
                if pairsOutput != .only {
                    let store = { e.storeVector(value, e.argument(.output), index, mask: valid) }
                    if let present { e.when(present, then: store) } else { store() }
                }
                return (value, present)
            }
            guard pairsOutput != .none else { continue }
            for l in stride(from: 0, to: lanes, by: 2) {
                let (even, odd) = (finished[l], finished[l + 1])
                let pair = e.add(e.mul(block, blockFilters / 2), (f * lanes + l) / 2)
                let store = {
                    let oddValue = odd.present.map { e.select(e.splatMask($0), odd.value, e.vector(0)) } ?? odd.value
                    storePairs(e, e.bfloat16Pairs(even: even.value, odd: oddValue), n: n, pair: pair, row: row, firstColumn: firstColumn, mask: valid)
                }
                if let present = even.present { e.when(present, then: store) } else { store() }
            }
        }
    }

    /// One tile's pairs of one plane, and where the tile is at the plane's edge, the border beside it.
    private func storePairs(_ e: Emitter, _ values: Value, n: Value, pair: Value, row: Value, firstColumn: Value, mask: Value?) {
        let layout = outputPlanes
        let plane = layout.plane(e, in: e.argument(pairsOutput == .only ? ConvSlot.output.rawValue : pairsArgument), image: n, pair: pair)
        e.storeVector(values, e.address(plane, layout.offset(e, row: row, column: e.int(0))), firstColumn, mask: mask)
        let firstTile = e.compare(LLVMIntEQ, firstColumn, e.int(0))
        e.when(firstTile) { layout.zeroLeftBorder(e, of: plane, row: row) }
        e.when(e.compare(LLVMIntSGE, e.add(firstColumn, e.int(pixels)), e.int(outWidth))) { layout.zeroRightBorder(e, of: plane, row: row) }
        e.when(e.and(firstTile, e.compare(LLVMIntEQ, row, e.int(0)))) { layout.zeroTopBorder(e, of: plane) }
        e.when(e.and(firstTile, e.compare(LLVMIntEQ, row, e.int(outHeight - 1)))) { layout.zeroBottomBorder(e, of: plane) }
    }

    /// Weights [M, C, kh, kw], scaled per filter unless the epilogue scales, rounded to bfloat16, as
    /// [block][pair][tap][filter in block]: a pair's low half channel 2p, its high half 2p + 1, zeros
    /// past the last channel and filter.
    func pack(_ weight: Tensor, scale: [Double]) -> Tensor {
        var packed = Tensor(zeros: [blocks * blockWeights])
        let (taps, pairs, blockFilters, channels, filters) = (taps, pairs, blockFilters, channels, filters)
        packed.withUnsafeMutableBufferPointer { p in
            weight.withUnsafeBufferPointer { w in
                guard let base = p.baseAddress else { return }
                let halves = UnsafeMutableRawPointer(base).assumingMemoryBound(to: UInt16.self)
                for filter in 0..<filters {
                    let (block, lane) = filter.quotientAndRemainder(dividingBy: blockFilters)
                    for channel in 0..<channels {
                        for tap in 0..<taps {
                            let slot = block * blockWeights + ((channel / 2) * taps + tap) * blockFilters + lane
                            let value = Float(Double(w[(filter * channels + channel) * taps + tap]) * (scalesSums ? 1 : scale[filter]))
                            halves[2 * slot + channel % 2] = value.bfloat16Bits
                        }
                    }
                }
            }
        }
        return packed
    }
}
