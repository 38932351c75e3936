import CLLVM
import LowpassTensor

/// The packed conv's channel tiles on AMX (1x1, strided and grouped convs in bf16): the patch's rows of
/// bfloat16 pairs are B tiles as they are, the weights A tiles.
extension ConvKernel {
    /// `emitChannelTiles` by AMX: per channel tile, sum tiles (filters 0-15, 16-31) x (pixels 0-15,
    /// 16-31) in tiles 0-3, weight tiles in 4-5 (16 filters x 16 steps, 1 KiB each, consecutive in the
    /// packed weights), patch tiles in 6-7 (16 steps x 16 pixels: rows of the patch, `tilePixels` apart).
    /// The sums go through scratch past the patch to `storeTile`, one vector per filter and 16 pixels.
    func emitChannelTilesByAMX(_ e: Emitter, n: Value, group: Value, tiles: (first: Value, end: Value),
                               vectors: [WindowAddressing.PixelVector], patch: Value, groupWeights: Value) {
        let block = Self.amxBlock, patchRowBytes = tilePixels * 4
        let sums = e.address(patch, e.mul(paddedDepth(e), tilePixels))
        e.configureTiles()
        e.loop(tiles.first, tiles.end) { tile in
            (0..<4).forEach(e.zeroTile)
            let weights = e.address(groupWeights, e.mul(e.mul(tile, paddedDepth(e)), channelTile))
            e.loop(e.int(0), e.div(paddedDepth(e), block)) { k in
                let (stepWeights, rows) = (e.mul(k, block * channelTile), e.mul(k, block * tilePixels))
                e.multiplyTwoByTwo(loadA: { e.loadTile($0, weights, e.add(stepWeights, $1 * block * block), rowBytes: 4 * block) },
                                   loadB: { e.loadTile($0, patch, e.add(rows, $1 * block), rowBytes: patchRowBytes) })
            }
            for t in 0..<4 { e.storeTile(t, sums, e.int(t * block * block), rowBytes: 4 * block) }
            // Filter o's sums for pixel vector j: row o % 16 of sum tile 2 * (o / 16) + j.
            let accumulators = (0..<(channelTile * pixelVectors)).map { i in
                let (o, j) = i.quotientAndRemainder(dividingBy: pixelVectors)
                return e.local(e.loadVector(sums, e.int(((o / block) * 2 + j) * block * block + (o % block) * block)))
            }
            storeTile(e, n: n, group: group, channelTileIndex: tile, vectors: vectors, accumulators: accumulators)
        }
        e.releaseTiles()
    }
}

/// A stride-1 conv's input in the layout `AMXConvKernel` reads in place: per image, for each block of
/// 32 input channels, the input with its padding around it (`paddedHeight` x `paddedWidth` positions),
/// each position one 64-byte line of 16 bfloat16 pairs (channels 2r and 2r + 1 in pair r's low and high
/// half); zero in the border and past the channels, and `slack` positions after the last block that no
/// one writes. 16 consecutive positions of a block are an AMX tile of 16 rows.
struct ChannelBlockKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var batch: Int, channels: Int, height: Int, width: Int
    /// Top, left, bottom, right.
    var pads: [Int]
    var kernelWidth: Int
    var lanes: Int

    static let pairs = AMXConvKernel.block
    var blocks: Int { ceilDiv(channels, 2 * Self.pairs) }
    var paddedHeight: Int { height + pads[0] + pads[2] }
    var paddedWidth: Int { width + pads[1] + pads[3] }
    var blockSize: Int { paddedHeight * paddedWidth * Self.pairs }
    /// The last tiles of an image read up to 31 + `kernelWidth` positions past its last block (rows
    /// for positions past the map, whose results are dropped).
    var slack: Int { (2 * Self.pairs + kernelWidth) * Self.pairs }
    var imageSize: Int { blocks * blockSize + slack }

    var kind: String { "bf16 channel blocks \(paddedHeight)x\(paddedWidth)" }
    var workItems: Int { batch * blocks * paddedHeight }
    var images: Int { batch }
    var flops: Double { 0 }
    var bytes: Double { Double(batch) * (4 * Double(channels * height * width) + 4 * Double(blocks * blockSize)) }

    /// One padded row of one block: 16 positions at a time, 32 channel vectors made 16 pair vectors
    /// (pair r over the positions), transposed into 16 position lines.
    func emitItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [batch, blocks, paddedHeight])
        let (n, block, y) = (c[0], c[1], c[2])
        let row = e.add(y, -pads[0])
        let lines = e.address(e.outputArgument, e.add(e.add(e.mul(n, imageSize), e.mul(block, blockSize)), e.mul(y, paddedWidth * Self.pairs)))
        let input = e.operandArgument(0)
        e.forEachVector(paddedWidth) { x, partial in
            let inside = e.spanInside(row: row, start: e.add(x, -pads[1]), height: height, width: width)
            let source = e.add(e.mul(row, width), e.add(x, -pads[1]))
            let values = (0..<(2 * Self.pairs)).map { k -> Value in
                let channel = e.add(e.mul(block, 2 * Self.pairs), e.int(k))
                let present = e.splatMask(e.compare(LLVMIntSLT, channel, e.int(channels)))
                let plane = e.address(input, e.mul(e.add(e.mul(n, channels), channel), height * width))
                return e.loadVector(plane, source, mask: e.and(inside, present))
            }
            let pairs = (0..<Self.pairs).map { e.bfloat16Pairs(even: values[2 * $0], odd: values[2 * $0 + 1]) }
            let positions = partial == nil ? lanes : paddedWidth % lanes
            for (i, line) in e.transpose(pairs).prefix(positions).enumerated() {
                e.storeVector(line, lines, e.mul(e.add(x, e.int(i)), Self.pairs))
            }
        }
    }
}

/// A stride-1 conv in bf16 on AMX that reads its input in place (`ChannelBlockKernel`), without a patch.
/// Output positions are numbered over the padded input's width, so output position q under tap (ky, kx)
/// reads input position q + ky * paddedWidth + kx, and 16 consecutive positions of a channel block are
/// one A tile of 16 consecutive lines; the `kernelWidth - 1` positions past each row's end are computed
/// and dropped.
///
/// A work item is a run of 32-position tiles of one image for one 32-filter channel tile (whose weights
/// then stay in L1 from tile to tile); per position tile four 16 x 16 sum
/// tiles (positions x filters, tiles 0-3), per tap and channel block two input tiles (4-5) and two weight
/// tiles (6-7, 16 pairs x 16 filters, 1 KiB each, packed [channel tile][tap][block][filter half][pair]
/// [filter]), four `tdpbf16ps`. The epilogue transposes each sum tile into a vector of positions per
/// filter and stores a vector's real positions compressed onto their consecutive output pixels.
/// Arguments as `ConvSlot`, the input being the channel blocks.
struct AMXConvKernel: PackedWeightsKernel {
    static let block = 16
    static let channelTile = 2 * block
    static let positionTile = 2 * block

    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var batch: Int, channels: Int, filters: Int
    var outHeight: Int, outWidth: Int
    var kernelHeight: Int, kernelWidth: Int
    /// The input's layout (`ChannelBlockKernel`).
    var blocks: Int, paddedWidth: Int, blockSize: Int, imageSize: Int
    var hasResidual: Bool
    var activation: Activation?
    /// As `ConvKernel.scalesSums`: the bias argument holds `filters` shifts, then `filters` scales.
    var scalesSums: Bool
    /// Position tiles a work item computes for its one channel tile, whose weights stay in L1 meanwhile.
    var positionTilesPerItem = 1

    init(nodes: [String], input: ChannelBlockKernel, output: Int, bias: Operand, residual: Operand?, filters: Int,
         outHeight: Int, outWidth: Int, kernelHeight: Int, activation: Activation?, scalesSums: Bool) {
        self.nodes = nodes
        arguments = [.buffer(output), .buffer(input.output), .constant(0), bias] + (residual.map { [$0] } ?? [])
        self.output = output
        (batch, channels, self.filters) = (input.batch, input.channels, filters)
        (self.outHeight, self.outWidth, self.kernelHeight, kernelWidth) = (outHeight, outWidth, kernelHeight, input.kernelWidth)
        (blocks, paddedWidth, blockSize, imageSize) = (input.blocks, input.paddedWidth, input.blockSize, input.imageSize)
        hasResidual = residual != nil
        (self.activation, self.scalesSums) = (activation, scalesSums)
        // Runs of 8 position tiles, shorter where that leaves fewer than 16 items for the threads.
        positionTilesPerItem = max(1, min(8, batch * positionTiles * channelTiles / 16))
    }

    var taps: Int { kernelHeight * kernelWidth }
    var channelTiles: Int { ceilDiv(filters, Self.channelTile) }
    /// Positions over the padded width: `outWidth` real ones and `kernelWidth - 1` dropped per row.
    var positions: Int { outHeight * paddedWidth }
    var positionTiles: Int { ceilDiv(positions, Self.positionTile) }
    var outPixels: Int { outHeight * outWidth }

    var kind: String {
        var name = "conv\(kernelHeight)x\(kernelWidth)"
        if hasResidual { name += "+add" }
        if let activation { name += "+\(activation)" }
        return name + " [amx in place 32pos x 32ch bf16]"
    }

    var positionRuns: Int { ceilDiv(positionTiles, positionTilesPerItem) }
    var workItems: Int { batch * positionRuns * channelTiles }
    var images: Int { batch }
    var scratchFloats: Int { 4 * Self.block * Self.block }
    var flops: Double { 2 * Double(batch * filters * outPixels * channels * taps) }
    var bytes: Double {
        Double(batch) * (4 * Double(imageSize) + 4 * Double(filters * outPixels * (hasResidual ? 2 : 1))) + 2 * Double(filters * channels * taps)
    }

    func emitItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [batch, positionRuns, channelTiles])
        let (n, run, tile) = (c[0], c[1], c[2])
        let firstPositionTile = e.mul(run, positionTilesPerItem)
        let endPositionTile = e.minimum(e.add(firstPositionTile, positionTilesPerItem), e.int(positionTiles))
        let input = e.address(e.argument(.input), e.mul(n, imageSize))
        let block = Self.block, tileBytes = 4 * block
        let tileWeights = taps * blocks * Self.channelTile * block
        let sums = e.scratch!
        e.configureTiles()
        let weights = e.address(e.argument(.weights), e.mul(tile, tileWeights))
        e.loop(firstPositionTile, endPositionTile) { positionTile in
            let first = e.mul(positionTile, Self.positionTile)
            (0..<4).forEach(e.zeroTile)
            e.loop(kernelHeight) { ky in
                e.loop(kernelWidth) { kx in
                    let tap = e.add(e.mul(ky, kernelWidth), kx)
                    let position = e.add(e.add(e.mul(ky, paddedWidth), kx), first)
                    e.loop(blocks) { k in
                        let stepWeights = e.mul(e.add(e.mul(tap, blocks), k), Self.channelTile * block)
                        let lines = e.add(e.mul(k, blockSize), e.mul(position, block))
                        e.multiplyTwoByTwo(loadA: { e.loadTile($0, input, e.add(lines, $1 * block * block), rowBytes: tileBytes) },
                                           loadB: { e.loadTile($0, weights, e.add(stepWeights, $1 * block * block), rowBytes: tileBytes) })
                    }
                }
            }
            for t in 0..<4 { e.storeTile(t, sums, e.int(t * block * block), rowBytes: tileBytes) }
            store(e, sums: sums, n: n, tile: tile, first: first)
        }
        e.releaseTiles()
    }

    /// The epilogue of one channel tile. Sum tile 2a + b holds positions `first + 16a...` x filters
    /// `16b...`; transposed, its row o is filter 16b + o over the 16 positions, whose real ones are
    /// consecutive output pixels once the dropped ones are left out: the residual is loaded from there
    /// and expanded onto them, the result compressed off them and stored.
    private func store(_ e: Emitter, sums: Value, n: Value, tile: Value, first: Value) {
        let (out, bias, block) = (e.argument(.output), e.argument(.bias), Self.block)
        let residual = hasResidual ? e.argument(.residual) : nil
        for a in 0..<2 {
            let start = e.add(first, a * block)
            let q = e.add(e.splatInt32(e.toInt32(start)), e.laneIndices)
            let real = e.and(e.vcompare(LLVMIntSLT, e.vrem(q, paddedWidth), e.intVectorConstant(outWidth)),
                             e.vcompare(LLVMIntSLT, q, e.intVectorConstant(positions)))
            // Real positions before `start`: whole rows, then the real part of its own row.
            let firstPixel = e.add(e.mul(e.div(start, paddedWidth), outWidth), e.minimum(e.rem(start, paddedWidth), e.int(outWidth)))
            let stored = e.firstLanes(e.count(real))
            for b in 0..<2 {
                let filters = e.transpose((0..<block).map { e.loadVector(sums, e.int(((2 * a + b) * block + $0) * block)) })
                for (o, sum) in filters.enumerated() {
                    let filter = e.add(e.mul(tile, Self.channelTile), b * block + o)
                    e.when(e.compare(LLVMIntSLT, filter, e.int(self.filters))) {
                        var value = scaledAndShifted(e, sum, bias: bias, filter: filter, filters: e.int(self.filters), scales: scalesSums)
                        let index = e.add(e.mul(e.add(e.mul(n, self.filters), filter), outPixels), firstPixel)
                        if let residual { value = addingResidual(e, value, e.asStored(e.expand(e.loadVector(residual, index, mask: stored), mask: real), bf16: true), bf16: true) }
                        if let activation { value = activation.apply(e, value) }
                        e.storeVector(e.compress(value, mask: real), out, index, mask: stored)
                    }
                }
            }
        }
    }

    /// Weights [M, C, kh, kw] as [channel tile][tap][block][filter half][pair][filter] of bfloat16 pairs
    /// (the even channel in the low half), scaled first only where the epilogue does not scale; zero past
    /// the filters and channels.
    func pack(_ weight: Tensor, scale: [Double]) -> Tensor {
        let (taps, blocks, channels, filters) = (taps, blocks, channels, filters)
        let (block, tileSize, scalesSums) = (Self.block, Self.channelTile, scalesSums)
        let tileWeights = taps * blocks * tileSize * block
        var packed = Tensor(zeros: [channelTiles * tileWeights])
        packed.withUnsafeMutableBufferPointer { p in
            weight.withUnsafeBufferPointer { w in
                let (output, input) = (Shared(p.baseAddress), Shared(w.baseAddress))
                concurrentPerform(channelTiles) { tile in
                    guard let p = output.value, let w = input.value else { return }
                    let halves = UnsafeMutableRawPointer(p).assumingMemoryBound(to: UInt16.self)
                    for o in 0..<min(tileSize, filters - tile * tileSize) {
                        let filter = tile * tileSize + o
                        for channel in 0..<channels {
                            let (pair, half) = channel.quotientAndRemainder(dividingBy: 2)
                            for tap in 0..<taps {
                                let value = Double(w[(filter * channels + channel) * taps + tap])
                                let lane = tile * tileWeights + (((tap * blocks + pair / block) * 2 + o / block) * block + pair % block) * block + o % block
                                halves[2 * lane + half] = Float(value * (scalesSums ? 1 : scale[filter])).bfloat16Bits
                            }
                        }
                    }
                }
            }
        }
        return packed
    }
}
