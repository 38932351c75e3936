import CLLVM

/// The part of a conv's reduction one call of the tile routines computes: `steps` steps from
/// `firstStep` (in the packed weights' order, `tap * stepsPerTap + step`, a step being an input
/// channel, or a pair of them in bf16).
struct ReductionSpan {
    var firstStep: Value
    var steps: Value

    /// Where channel tile `tile`'s weights for the span start in a group's packed weights: spans
    /// follow each other, each holding every channel tile's `steps` x `channelTile` weights.
    func weights(_ e: Emitter, _ groupWeights: Value, tile: Value, channelTiles: Value, channelTile: Int) -> Value {
        e.address(groupWeights, e.mul(e.add(e.mul(firstStep, channelTiles), e.mul(tile, steps)), channelTile))
    }
}

/// Where channel tiles keep their sums between spans of the reduction: the first span starts them at
/// zero, the last ends them in the epilogue, the others load and save them here. Tile `t`'s
/// accumulator `i` is at `base[offset + (t - firstTile) * tileStride + i * lanes]`.
struct PartialSums {
    var isFirst: Value, isLast: Value
    var base: Value
    var firstTile: Value
    var offset: Value
    var tileStride: Int, lanes: Int

    func slot(_ e: Emitter, tile: Value, accumulator: Int) -> Value {
        e.add(e.add(e.mul(e.sub(tile, firstTile), tileStride), offset), accumulator * lanes)
    }
}

/// Convs on small maps under large weights, weights-stationary: the last stage of an ImageNet network
/// runs 7x7 maps under 4-9 MB of weights a layer (60 MB in all for ResNet-50's, more than L3 holds).
/// Pixel tile by pixel tile (`packed`), a map of four tiles reads every weight four times, the first
/// time from memory in a burst: at batch 1 the whole first pass waits on memory. Here a work item is
/// (image, group, chunk of channel tiles); the reduction is cut into spans of at most `wholeMapSpan`
/// input channels under one tap, each span's patch for the whole map is packed once per image
/// beforehand (`WholeMapPatchKernel`), and each channel tile's weights for the span serve every pixel
/// tile before the next channel tile's are read, so each weight comes from memory once per image, at
/// the pace of the arithmetic.
/// Sums wait in scratch between spans (`PartialSums`). The map's last pixels, if a tile's worth is not
/// left, run with lanes over filters (`emitLastPixelsByFilterLanes`).
extension ConvKernel {
    /// The conv run weights-stationary, if that pays: a stride-1 window over a map of a few pixel tiles
    /// (2 to 4), weights of 4 MB or more (far past any core's L2, so re-reading them per pixel tile goes
    /// to L3 or memory), and a last tile that is whole or small enough for filter lanes. Below 4 MB (the
    /// 14x14 maps with 16 lanes), packing the span's patch for the whole map in every chunk cost more
    /// than the re-read weights save; with the patch packed once per image (`WholeMapPatchKernel`) it
    /// is no faster either (a 256 -> 256 conv on 14x14, bf16 and f32, Zen 5). Strided windows gather
    /// their taps, and every item gathering the whole map's patch costs more than it saves, so they
    /// stay `packed`. The measurements behind both
    /// limits: docs/performance.md, "Where the JIT's thresholds come from".
    ///
    /// The register tile is sized here, not by `RegisterTile`'s patch rule: the patch is one span (at
    /// most 256 channels under one tap), so the widest tile of at least two vectors whose pixel tiles
    /// the map fills 2-4 times is taken. With 16 lanes the full reduction's patch for a 3x3 conv over 512 channels allowed one
    /// vector a tile (24 filters x 16 pixels: 24 broadcasts for 24 FMAs); spans give 7x7 maps 3 vectors
    /// (48 pixels, the 49th by filter lanes) and 14x14 maps 4 (three tiles and 4 pixels).
    func wholeMapSchedule(accumulators: Int, maxVectors: Int) -> ConvKernel? {
        // A map that is one pixel tile already reads each weight once per image.
        guard strategy == .packed, pixelTiles > 1, window.contiguous, depth * filtersPerGroup >= 1024 * 1024 else { return nil }
        for vectors in stride(from: min(maxVectors, ceilDiv(window.pixels, lanes)), through: 2, by: -1) {
            var candidate = self
            candidate.pixelVectors = vectors
            candidate.channelTile = min(filtersPerGroup, accumulators / vectors)
            guard (2...4).contains(candidate.pixelTiles), candidate.lastTilePixels == 0 || candidate.lastTileByFilterLanes else { continue }
            candidate.strategy = .wholeMap
            candidate.channelChunks = RegisterTile.chunks(channelTiles: candidate.channelTiles, items: batch * groups)
            return candidate
        }
        return nil
    }

    /// Reduction steps per span (input channels, or channel pairs in bf16): the span's patch for a
    /// whole 7x7 map (256 x 72 floats, 72 KiB) stays in L2 next to the weights being read, and partial
    /// sums are loaded and saved once per 256 steps.
    var wholeMapSpan: Int { min(stepsPerTap, 256) }

    private var wholeMapRow: Int { pixelTiles * tilePixels }
    private var sumsPerPixelTile: Int { channelTile * tilePixels }
    private var sumsOfLastPixels: Int { lastTilePixels * filterVectorsPerTile * lanes }
    private var wholePixelTiles: Int { window.pixels / tilePixels }

    /// Spans of the reduction: one per tap and run of up to `wholeMapSpan` steps.
    var wholeMapSpans: Int { window.geometry.kernel[0] * window.geometry.kernel[1] * spansPerTap }
    private var spansPerTap: Int { ceilDiv(stepsPerTap, wholeMapSpan) }
    /// One pixel tile's part of a span's patch.
    private var tilePatch: Int { wholeMapSpan * tilePixels }
    /// One span's patch: `wholeMapSpan` rows of each pixel tile, tile after tile.
    var wholeMapSpanPatch: Int { wholeMapSpan * wholeMapRow }
    /// Every span's patch of one image and group, as `WholeMapPatchKernel` writes it.
    var wholeMapPatch: Int { wholeMapSpans * wholeMapSpanPatch }

    /// The partial sums of a work item's channel tiles; the patch comes from `WholeMapPatchKernel`.
    var wholeMapScratch: Int {
        ceilDiv(channelTiles, channelChunks) * (wholePixelTiles * sumsPerPixelTile + sumsOfLastPixels)
    }

    /// Span `spanIndex`'s patch of image `n`, group `group` into `patch`: row i (the span's i-th step)
    /// of pixel tile t at `t * tilePatch + i * tilePixels`.
    func emitWholeMapSpanPatch(_ e: Emitter, n: Value, group: Value, spanIndex: Value, into patch: Value) {
        let (kh, kw) = (window.geometry.kernel[0], window.geometry.kernel[1])
        let inputBase = e.address(e.argument(.input), e.mul(e.add(e.mul(n, channels), e.mul(group, channelsPerGroup)), window.height * window.width))
        let mapVectors = window.pixelVectors(e, first: e.int(0), count: pixelTiles * pixelVectors)
        let s = split(e, spanIndex, [kh, kw, spansPerTap])
        let firstChannel = e.mul(e.mul(s[2], wholeMapSpan), channelsPerStep)
        let channelCount = e.sub(e.minimum(e.add(firstChannel, wholeMapSpan * channelsPerStep), e.int(channelsPerGroup)), firstChannel)
        forEachChannel(e, inputBase: inputBase, vectors: mapVectors, ky: s[0], kx: s[1], first: firstChannel, count: channelCount,
                       pairs: channelsPerStep == 2) { i, x in
            let row = e.address(patch, e.mul(i, tilePixels))
            for (j, input) in x.enumerated() {
                let (t, v) = j.quotientAndRemainder(dividingBy: pixelVectors)
                e.storeVector(input, row, e.int(t * tilePatch + v * lanes))
            }
        }
    }

    /// A work item: a chunk of channel tiles of one image and group over every span, whose patches
    /// the input argument holds (`WholeMapPatchKernel`).
    func emitWholeMapItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [batch, groups, channelChunks])
        let (n, group, chunk) = (c[0], c[1], c[2])
        let kw = window.geometry.kernel[1]
        let groupWeights = e.address(e.argument(.weights), e.mul(group, channelTiles * depth * channelTile))
        let patches = e.address(e.argument(.input), e.mul(e.add(e.mul(n, groups), group), wholeMapPatch))
        let sums = e.scratch!
        let perChunk = ceilDiv(channelTiles, channelChunks)
        let first = e.mul(chunk, perChunk)
        let end = e.minimum(e.add(first, perChunk), e.int(channelTiles))
        let fusedTiles = lastTilePixels > 0 ? filterLaneTiles : 1

        e.loop(wholeMapSpans) { spanIndex in
            let s = split(e, spanIndex, [window.geometry.kernel[0], kw, spansPerTap])
            let firstStep = e.mul(s[2], wholeMapSpan)
            let steps = e.sub(e.minimum(e.add(firstStep, wholeMapSpan), e.int(stepsPerTap)), firstStep)
            let patch = e.address(patches, e.mul(spanIndex, wholeMapSpanPatch))
            let span = ReductionSpan(firstStep: e.add(e.mul(e.add(e.mul(s[0], kw), s[1]), stepsPerTap), firstStep), steps: steps)
            let isFirst = e.compare(LLVMIntEQ, spanIndex, e.int(0))
            let isLast = e.compare(LLVMIntEQ, spanIndex, e.int(wholeMapSpans - 1))
            let tileStride = wholePixelTiles * sumsPerPixelTile
            e.loop(first, end, step: fusedTiles) { groupStart in
                let groupEnd = e.minimum(e.add(groupStart, fusedTiles), end)
                // A channel tile's weights for the span (4-6 KiB) serve every pixel tile from L1 before
                // the next tile's are read: memory is asked for weights at an even pace.
                e.loop(groupStart, groupEnd) { tile in
                    // A loop, not unrolled: each pixel tile's routine is a whole reduction and epilogue.
                    e.loop(wholePixelTiles, unroll: .never) { t in
                        let partials = PartialSums(isFirst: isFirst, isLast: isLast, base: sums, firstTile: first,
                                                   offset: e.mul(t, sumsPerPixelTile), tileStride: tileStride, lanes: lanes)
                        emitChannelTiles(e, n: n, group: group, tiles: (tile, e.add(tile, 1)), fusedTiles: 1,
                                         vectors: window.pixelVectors(e, first: e.mul(t, tilePixels), count: pixelVectors),
                                         patch: e.address(patch, e.mul(t, tilePatch)), rowLength: tilePixels,
                                         groupWeights: groupWeights, span: span, partials: partials, wholeTiles: true)
                    }
                }
                if lastTilePixels > 0 {
                    let partials = PartialSums(isFirst: isFirst, isLast: isLast, base: sums, firstTile: first,
                                               offset: e.int(perChunk * tileStride), tileStride: sumsOfLastPixels, lanes: lanes)
                    emitLastPixelsByFilterLanes(e, n: n, group: group, tiles: (groupStart, groupEnd),
                                                patch: e.address(patch, e.int(wholePixelTiles * tilePatch)), rowLength: tilePixels,
                                                groupWeights: groupWeights, span: span, partials: partials)
                }
            }
        }
    }
}

/// A whole-map conv's patch (every span of every image and group), made once before the conv: each
/// of the conv's work items, a chunk of its channel tiles, reads all of it, and filling it per item
/// took 22% of a bf16 3x3 512 -> 512 conv on 7x7 at batch 1, whose 16 items each filled it anew
/// (docs/performance.md, "bf16: the input rounded once"). A work item is one span of one
/// image and group.
struct WholeMapPatchKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    /// The conv, less its nodes and arguments (so convs of one shape share the function).
    var conv: ConvKernel

    init(nodes: [String], input: Operand, output: Int, conv: ConvKernel) {
        (self.nodes, self.output) = (nodes, output)
        arguments = [.buffer(output), input]
        self.conv = conv
        (self.conv.nodes, self.conv.arguments, self.conv.output) = ([], [], 0)
    }

    var kind: String { "whole-map patch\(conv.precision == .bf16 ? " bf16" : "")" }
    var workItems: Int { conv.batch * conv.groups * conv.wholeMapSpans }
    var images: Int { conv.batch }
    var flops: Double { 0 }
    var bytes: Double { 4 * Double(conv.batch) * Double(conv.channels * conv.window.height * conv.window.width + conv.groups * conv.wholeMapPatch) }

    func emitItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [conv.batch, conv.groups, conv.wholeMapSpans])
        let patch = e.address(e.outputArgument, e.add(e.mul(e.add(e.mul(c[0], conv.groups), c[1]), conv.wholeMapPatch),
                                                      e.mul(c[2], conv.wholeMapSpanPatch)))
        conv.emitWholeMapSpanPatch(e, n: c[0], group: c[1], spanIndex: c[2], into: patch)
    }
}
