import CLLVM
import LowpassIR
import LowpassTensor

/// Convolution as a register-tiled matrix product: a tile of `channelTile` output channels x
/// `pixelVectors` vectors of output pixels accumulates over the whole reduction (input channels x taps)
/// without leaving registers. Weights are repacked at compile time so that the tile's weights for one
/// reduction step are consecutive broadcasts; BatchNorm is folded into them. The epilogue adds bias and
/// residual and applies the activation before the single store.
///
/// Three ways to feed the tile:
/// - `packed` (every conv with several filters per group): a work item first gathers its pixel tile's
///   input patch (every input channel under every tap, zeros in the padding) into per-thread scratch,
///   then runs the matrix product for a range of channel tiles over that L1/L2-resident patch with
///   plain aligned loads. The patch is shared by all those channel tiles, so the masks and gathers of
///   borders and strides are paid once per patch, not once per filter.
/// - `direct` (depthwise and other single-filter groups, where a patch would serve one filter): taps
///   load straight from the input.
/// - `wholeMap` (stride-1 convs on maps of a few tiles under weights larger than L2): `packed`'s loops
///   turned around so each weight is read once per image (ConvWholeMap.swift).
///
/// A map's last pixel tile, when it holds a few pixels, runs with lanes over filters instead of pixels.
///
/// Arguments: the `ConvSlot`s, output, input, packed weights, bias, then the residual if any.
/// The argument slots of the conv-family kernels (`ConvKernel`, its whole-map form, `WinogradKernel`),
/// by name: their code reads `e.argument(.weights)`, and lowering sets `kernel.weights` once the
/// weights are packed for the kernel's tiles.
enum ConvSlot: Int {
    case output, input, weights, bias, residual
}

extension Emitter {
    func argument(_ slot: ConvSlot) -> Value { argument(slot.rawValue) }
}

/// The conv kernels' packed weights: a constant made for the kernel's own tiles after it is built.
protocol PackedWeightsKernel: Kernel {
    var arguments: [Operand] { get set }
}

extension PackedWeightsKernel {
    var weights: Operand {
        get { arguments[ConvSlot.weights.rawValue] }
        set { arguments[ConvSlot.weights.rawValue] = newValue }
    }
}

struct ConvKernel: PackedWeightsKernel, PairsWritingKernel {
    enum Strategy: String { case direct, packed, wholeMap = "whole-map" }

    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var batch: Int, channels: Int, filters: Int, groups: Int
    var window: WindowAddressing
    var hasResidual: Bool
    /// The residual comes as the bfloat16 pair planes, without a border, that its producer wrote for
    /// other convs (bf16 reads a residual rounded, `addingResidual`): half the bytes of its floats, and
    /// the floats need not be written at all where only convs and residual adds read them.
    var residualFromPairs = false
    /// Over the residual only where the output has its layout: floats over floats, or pair planes
    /// without a border over the ones the residual is read from. Sizes alone agree by chance (32
    /// channels of 5x6 take as many floats as their pair planes with a 1-pixel border).
    var inPlaceArgument: Int? {
        let writesPairsOnly = pairsOutput == .only
        guard hasResidual, writesPairsOnly == residualFromPairs, !writesPairsOnly || pairsPadding == [0, 0, 0, 0] else { return nil }
        return ConvSlot.residual.rawValue
    }
    var activation: Activation?
    var strategy: Strategy
    var channelTile: Int, pixelVectors: Int
    /// Work items a pixel tile's channel tiles are split into (packed): enough items for every thread.
    var channelChunks: Int
    var lanes: Int
    /// Whether the code reads the input and output channel counts (and the channel tiles and chunks
    /// they make) from its arguments (`packed`): a network's convs that differ only in them, DenseNet's
    /// 1x1 convs over its growing concatenations, ResNet's 1x1 convs of 64 to 512 filters on one map,
    /// share one function. The counts are in no unrolled loop, so they cost nothing as variables.
    var dimensionsAtRunTime = false
    /// Whether the activation is `max(x, bound)` with the bound read at run time (`packed`, for ReLU
    /// and for none, whose bound is -inf): a network's convs with and without a ReLU share a function.
    /// The same one instruction as a constant bound.
    var lowerBoundAtRunTime = false
    /// Whether the tile's epilogue lines are prefetched during the reduction (`prefetchEpilogue`).
    var prefetchesEpilogue = false
    /// Whether every channel tile is whole, so the epilogue needs no test for filters past the group's.
    var filtersFillTiles = true
    /// Channel tiles the filter-lane pass computes at once (`filterLaneTiles`).
    var filterLaneTiles = 1
    /// `bf16` (`Precision`): the input and weights rounded to bfloat16, the sums in fp32. `packed` and
    /// `wholeMap` keep their patch and weights as bfloat16 pairs of consecutive input channels
    /// (`BFloat16.swift`), a reduction step taking two channels, multiplied by `vdpbf16ps` where the
    /// target has it (`nativeBFloat16`) and by two FMAs elsewhere, with the same result (the filter-lane
    /// tail too: a broadcast pair against a vector of filters' pairs); `direct` rounds each input vector
    /// it loads and multiplies in fp32.
    var precision = Precision.f32
    var nativeBFloat16 = false
    /// Whether bf16 `packed` multiplies by AMX tiles (`AMX.swift`): 32 filters x 32 pixels a channel
    /// tile, as four 16 x 16 sum tiles, the reduction in blocks of 16 channel pairs (`paddedDepth`).
    var usesAMX = false
    /// Whether the epilogue multiplies the sums by a per-filter scale before the bias (BatchNorm's,
    /// which bf16 cannot fold into rounded weights without changing them): the bias argument then holds
    /// `filters` shifts followed by `filters` scales.
    var scalesSums = false
    /// Whether a bf16 pair is two adjacent kernel columns (2p, 2p + 1) of one channel under one kernel
    /// row instead of two channels under one tap. At stride 2 a vector of output pixels in one row
    /// then reads its pairs as 2 x lanes consecutive input floats, rounded by one `vcvtne2ps2bf16` with
    /// no gather or interleave, and a stem's 3 channels under 7x7 take 7 x 4 x 3 = 84 steps instead of
    /// 49 x 2 = 98 (docs/performance.md, "bf16: the input rounded once").
    var pairsColumns = false
    /// Whether the input is the conv's input as `PairPlaneKernel` writes it (bf16 `packed` without
    /// groups): the patch is then filled by copying pairs, not by rounding floats.
    var readsPairPlanes = false
    /// Whether the epilogue writes the output as pair planes for the convs that read it
    /// (`PairPlaneKernel`'s layout, rounded once here instead of by a pass of its own): `.only` in the
    /// output buffer where only such convs read it, `.alsoFloats` to argument `pairsArgument` beside
    /// the floats where others read it too (a residual block's output: the next block's first conv and
    /// its residual add).
    var pairsOutput = PairsOutput.none
    enum PairsOutput: Hashable { case none, only, alsoFloats }
    /// The border around each pair plane written (top, left, bottom, right): the padding of the
    /// filter-lane convs that read them (`FilterLaneConvKernel`), zeros written by the vectors at the
    /// plane's edges.
    var pairsPadding = [0, 0, 0, 0]
    /// The argument `.alsoFloats` writes the pairs to: after the residual.
    var pairsArgument: Int { ConvSlot.residual.rawValue + (hasResidual ? 1 : 0) }
    var outputPlanes: PairPlaneKernel {
        PairPlaneKernel(batch: batch, channels: filters, height: window.outHeight,
                        width: window.outWidth, padding: pairsPadding)
    }
    /// Whether this conv can write its output as pairs: bf16 `packed` on vectors (no AMX), whose
    /// channel tiles hold whole pairs of filters (the filter-lane tail's too).
    var writesPairs: Bool { packsPairsOnVectors && channelTile % 2 == 0 }
    /// bf16 `packed` on vectors (no AMX) without groups: where pairs may be laid out other than as the
    /// patch of channel pairs (pair planes, column pairs).
    private var packsPairsOnVectors: Bool { precision == .bf16 && strategy == .packed && !usesAMX && groups == 1 }
    /// Whether this conv takes its input as pair planes (`readsPairPlanes`): bf16 `packed` on vectors
    /// without groups, under several taps (the patch a copy of them), or where its patch is the pair
    /// planes themselves and they are made already (`madeByProducer`: written by the conv computing them).
    func takesPairPlanes(madeByProducer: Bool) -> Bool {
        guard packsPairsOnVectors && !pairsColumns else { return false }
        return taps > 1 || (madeByProducer && patchIsInput)
    }

    /// Whether the patch's rows are the input's planes at the tile's pixels: a 1x1 conv at stride 1
    /// without padding.
    var patchIsInput: Bool { taps == 1 && window.contiguous && window.geometry.pads.allSatisfy { $0 == 0 } }

    /// Whether the pair planes are the patch as they are: step k's vectors come from plane k at the
    /// tile's pixels (the last tile's lanes past the map read the next plane or the image's slack, and
    /// are not stored).
    var readsInPlace: Bool { readsPairPlanes && patchIsInput }

    var channelsPerGroup: Int { channels / groups }
    var filtersPerGroup: Int { filters / groups }
    var channelTiles: Int { ceilDiv(filtersPerGroup, channelTile) }
    var taps: Int { window.geometry.kernel[0] * window.geometry.kernel[1] }
    /// Input channels one reduction step takes: a bfloat16 pair in bf16 (but `direct`), else one.
    var channelsPerStep: Int { precision == .bf16 && strategy != .direct ? 2 : 1 }
    /// The taps the reduction's steps are grouped by: each tap, or with `pairsColumns` each kernel row's
    /// pair of columns.
    var reductionTaps: Int { pairsColumns ? window.geometry.kernel[0] * ceilDiv(window.geometry.kernel[1], 2) : taps }
    var stepsPerTap: Int { pairsColumns ? channelsPerGroup : ceilDiv(channelsPerGroup, channelsPerStep) }
    /// Length of the reduction in steps: taps x input channels (x pairs of them).
    var depth: Int { stepsPerTap * reductionTaps }
    /// The reduction's steps as the patch and weights hold them: with AMX, whole blocks of 16, the
    /// steps past `depth` zero.
    var paddedDepth: Int { usesAMX ? ceilDiv(depth, Self.amxBlock) * Self.amxBlock : depth }
    /// Reduction steps (channel pairs) an AMX tile multiplication takes; rows and columns of a sum tile.
    static let amxBlock = 16

    init(nodes: [String], input: Operand, output: Int, weights: Operand, bias: Operand, residual: Operand?,
         batch: Int, channels: Int, filters: Int, groups: Int, window: WindowAddressing, activation: Activation?, target: Target,
         precision: Precision = .f32, scalesSums: Bool = false) {
        self.nodes = nodes
        self.arguments = [.buffer(output), input, weights, bias] + (residual.map { [$0] } ?? [])
        self.output = output
        (self.batch, self.channels, self.filters, self.groups) = (batch, channels, filters, groups)
        self.window = window
        hasResidual = residual != nil
        self.activation = activation
        self.precision = precision
        self.scalesSums = scalesSums
        nativeBFloat16 = precision == .bf16 && target.hasNativeBFloat16
        lanes = target.lanes
        let filtersPerGroup = filters / groups
        strategy = filtersPerGroup >= 4 ? .packed : .direct
        let vectorsInMap = ceilDiv(window.pixels, target.lanes)
        if strategy == .direct {
            pixelVectors = min(vectorsInMap, 4)
            channelTile = min(filtersPerGroup, max(1, RegisterTile.accumulators(target) / pixelVectors))
        } else {
            // The patch holds the whole reduction (input channels x taps) for each of the tile's pixels.
            let tile = RegisterTile(vectorsInMap: vectorsInMap, floatsPerLane: (channels / groups) * window.geometry.kernel.reduce(1, *),
                                    filters: filtersPerGroup, target: target)
            (pixelVectors, channelTile) = (tile.vectors, tile.channels)
            if precision == .bf16 && target.hasAMX {
                usesAMX = true
                (pixelVectors, channelTile) = (2, 2 * Self.amxBlock)
            }
        }
        let tiles = batch * ceilDiv(window.pixels, pixelVectors * lanes) * groups
        channelChunks = strategy == .packed ? RegisterTile.chunks(channelTiles: ceilDiv(filtersPerGroup, channelTile), items: tiles) : 1
        if !usesAMX, let wholeMap = wholeMapSchedule(accumulators: RegisterTile.accumulators(target), maxVectors: RegisterTile.maxVectors(target)) {
            self = wholeMap
        }
        let geometry = window.geometry
        pairsColumns = packsPairsOnVectors && geometry.strides == [2, 2] && geometry.dilations == [1, 1] && window.outWidth % lanes == 0
            && geometry.kernel[0] * ceilDiv(geometry.kernel[1], 2) * channelsPerGroup < depth
        dimensionsAtRunTime = strategy == .packed
        lowerBoundAtRunTime = strategy == .packed && lowerBound != nil
        prefetchesEpilogue = depth <= 256
        filtersFillTiles = filtersPerGroup % channelTile == 0
        if lastTilePixels > 0 && strategy != .direct {
            // As many as the accumulators hold, spread evenly over a chunk so the last group repeats few tiles.
            let perChunk = ceilDiv(channelTiles, channelChunks)
            filterLaneTiles = ceilDiv(perChunk, ceilDiv(perChunk, max(1, channelTile * pixelVectors / (lastTilePixels * filterVectorsPerTile))))
        }
    }

    var runTimeIntegers: [Int] {
        let dimensions = dimensionsAtRunTime ? [channelsPerGroup, filtersPerGroup, channelTiles, channelChunks] : []
        // The bound's float bits, as the code reads them (`Emitter.runTimeFloat`).
        let bound = lowerBoundAtRunTime ? [Int(Int32(bitPattern: Float(lowerBound ?? -.infinity).bitPattern))] : []
        return dimensions + bound
    }

    mutating func eraseRunTimeIntegers() {
        if dimensionsAtRunTime { (channels, filters, channelChunks) = (0, 0, 0) }
        if lowerBoundAtRunTime { activation = nil }
    }

    /// The activation's lower bound where it is `max(x, bound)` (ReLU: 0), -inf where there is none;
    /// nil for any other activation.
    private var lowerBound: Double? { activation.map(\.lowerBound) ?? -.infinity }

    /// The epilogue's activation of `v` (a vector or one float).
    func activate(_ e: Emitter, _ v: Value) -> Value {
        if lowerBoundAtRunTime {
            let scalar = e.runTimeFloat(dimensionsAtRunTime ? 4 : 0)
            let bound = LLVMGetTypeKind(LLVMTypeOf(v)) == LLVMVectorTypeKind ? e.splat(scalar) : scalar
            // Ordered less-than: NaN passes through, as max(x, bound) gives it.
            return e.select(e.fless(v, bound), bound, v)
        }
        return activation.map { $0.apply(e, v) } ?? v
    }

    // The sizes as the code reads them: run-time integers or constants.
    private func channelsPerGroup(_ e: Emitter) -> Value { dimensionsAtRunTime ? e.runTimeInteger(0) : e.int(channelsPerGroup) }
    private func stepsPerTap(_ e: Emitter) -> Value {
        channelsPerStep == 1 || pairsColumns ? channelsPerGroup(e) : e.div(e.add(channelsPerGroup(e), e.int(channelsPerStep - 1)), channelsPerStep)
    }
    private func depth(_ e: Emitter) -> Value { e.mul(stepsPerTap(e), reductionTaps) }
    func paddedDepth(_ e: Emitter) -> Value {
        usesAMX ? e.mul(e.div(e.add(depth(e), e.int(Self.amxBlock - 1)), Self.amxBlock), Self.amxBlock) : depth(e)
    }
    func filtersPerGroup(_ e: Emitter) -> Value { dimensionsAtRunTime ? e.runTimeInteger(1) : e.int(filtersPerGroup) }
    func filters(_ e: Emitter) -> Value { e.mul(filtersPerGroup(e), groups) }
    func channelTiles(_ e: Emitter) -> Value { dimensionsAtRunTime ? e.runTimeInteger(2) : e.int(channelTiles) }
    private func channelChunks(_ e: Emitter) -> Value { dimensionsAtRunTime ? e.runTimeInteger(3) : e.int(channelChunks) }

    var kind: String {
        let g = window.geometry
        var name = "conv\(g.kernel[0])x\(g.kernel[1])"
        if g.strides != [1, 1] { name += "/s\(g.strides[0])" }
        if groups > 1 { name += groups == channels ? " depthwise" : " g\(groups)" }
        if hasResidual { name += "+add" }
        if let activation { name += "+\(activation)" }
        let output = switch pairsOutput { case .none: ""; case .only: " pairs"; case .alsoFloats: " +pairs" }
        let pairs = (pairsColumns ? " column pairs" : "") + (residualFromPairs ? " residual-pairs" : "") + output
        return name + " [\(strategy.rawValue) \(channelTile)ch x \(pixelVectors)x\(lanes)px\(precision == .bf16 ? usesAMX ? " bf16 amx" : " bf16" : "")\(pairs)]"
    }

    var images: Int { batch }
    var functionKind: String { code.kind }
    var pixelTiles: Int { ceilDiv(window.pixels, tilePixels) }
    var tilePixels: Int { pixelVectors * lanes }
    /// Pixels in the map's last tile where it is partial; 0 where the map fills its tiles.
    var lastTilePixels: Int { window.pixels % tilePixels }
    /// Vectors one channel tile's filters take with lanes over filters.
    var filterVectorsPerTile: Int { ceilDiv(channelTile, lanes) }
    var workItems: Int {
        switch strategy {
        case .direct: batch * pixelTiles * groups * channelTiles
        case .packed: batch * pixelTiles * groups * channelChunks
        case .wholeMap: batch * groups * channelChunks
        }
    }
    var scratchFloats: Int {
        switch strategy {
        case .direct: 0
        case .packed: readsInPlace ? 0 : paddedDepth * pixelVectors * lanes + (usesAMX ? 4 * Self.amxBlock * Self.amxBlock : 0)
        case .wholeMap: wholeMapScratch
        }
    }
    var flops: Double { 2 * Double(batch * filters * window.pixels * channelsPerGroup * taps) }
    var bytes: Double {
        let inputs = channels * window.height * window.width
        let outputs = filters * window.pixels * (hasResidual ? 2 : 1)
        return 4 * Double(batch * (inputs + outputs) + filters * channelsPerGroup * taps)
    }

    func emitItem(_ e: Emitter, _ item: Value) {
        switch strategy {
        case .wholeMap: emitWholeMapItem(e, item)
        case .direct, .packed: emitPixelTileItem(e, item)
        }
    }

    /// The input vectors under window cell (ky, kx) for `vectors`, channel by channel for the group's
    /// input channels `first..<first + count`: `body(i, inputs)` for the i-th of them, with unmasked
    /// loads where the whole tap lies inside the input. With `pairs`, two channels at a time as
    /// bfloat16 pair vectors, the i-th pair being channels 2i and 2i + 1 (zeros past `count`), read
    /// as they are where the input is pair planes (`readsPairPlanes`; `inputBase` then the image's first plane).
    func forEachChannel(_ e: Emitter, inputBase: Value, vectors: [WindowAddressing.PixelVector], ky: Value, kx: Value,
                        first: Value, count: Value, pairs: Bool = false, _ body: (_ i: Value, _ inputs: [Value]) -> Void) {
        let tap = window.tap(e, vectors, ky: ky, kx: kx)
        window.withTap(e, tap) { masked in
            func inputs(plane index: Value) -> [Value] {
                let plane = e.address(inputBase, e.mul(index, window.height * window.width))
                return vectors.indices.map { window.load(e, plane, tap, $0, masked: masked, padding: 0) }
            }
            func inputs(_ channel: Value) -> [Value] { inputs(plane: e.add(first, channel)) }
            guard pairs else { return e.loop(e.int(0), count) { i in body(i, inputs(i)) } }
            if readsPairPlanes {
                // Pair i is plane first / 2 + i of the input, rounded already (`first` is even).
                return e.loop(e.int(0), e.div(e.add(count, e.int(1)), 2)) { i in body(i, inputs(plane: e.add(e.div(first, 2), i))) }
            }
            let wholePairs = e.div(count, 2)
            e.loop(e.int(0), wholePairs) { i in
                body(i, zip(inputs(e.mul(i, 2)), inputs(e.add(e.mul(i, 2), e.int(1)))).map { e.bfloat16Pairs(even: $0, odd: $1) })
            }
            // An odd count's last channel pairs with zeros.
            e.when(e.compare(LLVMIntSLT, e.mul(wholePairs, 2), count)) {
                body(wholePairs, inputs(e.mul(wholePairs, 2)).map { e.bfloat16Pairs(even: $0, odd: e.vector(0)) })
            }
        }
    }

    /// `pairsColumns`' reduction steps, (kernel row, column pair, channel) in that order: per pixel
    /// vector (one output row's, as `outWidth` is whole vectors), the input row's 2 x lanes floats from
    /// the pair's first column, zero outside the input.
    private func forEachColumnPair(_ e: Emitter, inputBase: Value, vectors: [WindowAddressing.PixelVector],
                                   _ body: (_ step: Value, _ inputs: [Value]) -> Void) {
        let (kh, columnPairs) = (window.geometry.kernel[0], ceilDiv(window.geometry.kernel[1], 2))
        let (height, width) = (window.height, window.width)
        e.loop(kh) { ky in
            e.loop(columnPairs) { pair in
                let firstStep = e.mul(e.add(e.mul(ky, columnPairs), pair), channelsPerGroup(e))
                let spans = vectors.map { v -> (index: Value, masks: [Value]) in
                    let row = e.add(v.firstRow, ky), column = e.add(v.firstColumn, e.mul(pair, 2))
                    let masks = [0, lanes].map { e.spanInside(row: row, start: e.add(column, e.int($0)), height: height, width: width) }
                    return (e.add(e.mul(row, width), column), masks)
                }
                e.loop(e.int(0), channelsPerGroup(e)) { c in
                    let plane = e.address(inputBase, e.mul(c, height * width))
                    body(e.add(firstStep, c), spans.map { span in
                        e.bfloat16PairsOfConsecutive(low: e.loadVector(plane, span.index, mask: span.masks[0]),
                                                     high: e.loadVector(plane, e.add(span.index, e.int(lanes)), mask: span.masks[1]))
                    })
                }
            }
        }
    }

    /// `accumulator + w * x`, for a reduction step's broadcast weight(s) `w` and input vector `x`.
    func multiplyAdd(_ e: Emitter, _ w: Value, _ x: Value, _ accumulator: Value) -> Value {
        channelsPerStep == 2 ? e.dotBFloat16Pairs(x, w, adding: accumulator, native: nativeBFloat16) : e.fma(w, x, accumulator)
    }

    func scaledAndShifted(_ e: Emitter, _ sum: Value, filter: Value) -> Value {
        LowpassJIT.scaledAndShifted(e, sum, bias: e.argument(.bias), filter: filter, filters: filters(e), scales: scalesSums)
    }

    /// A work item of `direct` or `packed`: one pixel tile of one image and group, for one channel tile
    /// (`direct`) or a chunk of them (`packed`).
    private func emitPixelTileItem(_ e: Emitter, _ item: Value) {
        // Consecutive items share a pixel tile, so its input stays in cache across channel tiles.
        let c = split(e, item, [e.int(batch), e.int(pixelTiles), e.int(groups), strategy == .packed ? channelChunks(e) : channelTiles(e)])
        let (n, tile, group) = (c[0], c[1], c[2])
        let planeSize = window.height * window.width
        let vectors = window.pixelVectors(e, first: e.mul(tile, tilePixels), count: pixelVectors)
        let (channelsPerGroup, depth) = (channelsPerGroup(e), depth(e))
        // Pair planes come without groups, an image's followed by `PairPlaneKernel.slack` floats.
        let inputBase = readsPairPlanes
            ? e.address(e.argument(.input), e.mul(n, PairPlaneKernel.imageSize(e, pairs: stepsPerTap(e), pixels: planeSize)))
            : e.address(e.argument(.input), e.mul(e.mul(e.add(e.mul(n, groups), group), channelsPerGroup), planeSize))
        let groupWeights = e.address(e.argument(.weights), e.mul(e.mul(e.mul(group, channelTiles(e)), channelTile), paddedDepth(e)))
        let accumulators = (0..<(channelTile * pixelVectors)).map { _ in e.local(e.vector(0)) }
        func accumulate(_ x: [Value], _ w: Value) {
            for o in 0..<channelTile {
                let broadcast = e.splat(e.load(w, e.int(o)))
                for j in 0..<pixelVectors {
                    let acc = accumulators[o * pixelVectors + j]
                    e.set(acc, e.fma(broadcast, x[j], e.get(acc)))
                }
            }
        }
        /// Visits every (tap, input channel) of the tile with the `pixelVectors` input vectors under it,
        /// the reduction step's index, `tap * stepsPerTap + channel` (channel pair in bf16 `packed`;
        /// with `pairsColumns` the order of `forEachColumnPair`), being the weights' order. bf16
        /// `direct` rounds the inputs here.
        func forEachStep(_ body: (_ step: Value, _ inputs: [Value]) -> Void) {
            if pairsColumns { return forEachColumnPair(e, inputBase: inputBase, vectors: vectors, body) }
            let kw = window.geometry.kernel[1]
            let (pairs, rounds) = (channelsPerStep == 2, precision == .bf16 && channelsPerStep == 1)
            e.loop(window.geometry.kernel[0]) { ky in
                e.loop(kw) { kx in
                    let firstStep = e.mul(e.add(e.mul(ky, kw), kx), stepsPerTap(e))
                    forEachChannel(e, inputBase: inputBase, vectors: vectors, ky: ky, kx: kx, first: e.int(0), count: channelsPerGroup,
                                   pairs: pairs) { ic, x in
                        body(e.add(firstStep, ic), rounds ? x.map { e.roundedToBFloat16($0) } : x)
                    }
                }
            }
        }

        let whole = ReductionSpan(firstStep: e.int(0), steps: depth)
        if strategy == .direct {
            let channelTileIndex = c[3]
            let tileWeights = whole.weights(e, groupWeights, tile: channelTileIndex, channelTiles: channelTiles(e), channelTile: channelTile)
            forEachStep { k, x in accumulate(x, e.address(tileWeights, e.mul(k, channelTile))) }
            storeTile(e, n: n, group: group, channelTileIndex: channelTileIndex, vectors: vectors, accumulators: accumulators)
        } else {
            // In place, step k's row is pair plane k at the tile's first pixel; else a patch is packed.
            let (patch, step) = readsInPlace ? (e.address(inputBase, e.mul(tile, tilePixels)), planeSize) : (e.scratch!, tilePixels)
            if !readsInPlace {
                forEachStep { k, x in
                    let row = e.address(patch, e.mul(k, step))
                    for (j, v) in x.enumerated() { e.storeVector(v, row, e.int(j * lanes)) }
                }
            }
            let channelTiles = channelTiles(e)
            // ceil(channelTiles / channelChunks)
            let perChunk = e.div(e.add(channelTiles, e.sub(channelChunks(e), e.int(1))), channelChunks(e))
            let first = e.mul(c[3], perChunk)
            let end = e.minimum(e.add(first, perChunk), channelTiles)
            if usesAMX {
                // The rows past the reduction are multiplied too, by zero weights: they must not be NaN.
                e.loop(depth, paddedDepth(e)) { k in
                    for j in 0..<pixelVectors { e.storeVector(e.vector(0), patch, e.add(e.mul(k, step), j * lanes)) }
                }
                return emitChannelTilesByAMX(e, n: n, group: group, tiles: (first, end), vectors: vectors, patch: patch, groupWeights: groupWeights)
            }
            let remainderVectors = ceilDiv(lastTilePixels, lanes)
            let fusedTiles = accumulators.count / (channelTile * max(1, remainderVectors))
            let lastTileApart = lastTileByFilterLanes || (remainderVectors > 0 && remainderVectors < pixelVectors && fusedTiles > 1)
            let fullTiles = {
                emitChannelTiles(e, n: n, group: group, tiles: (first, end), fusedTiles: 1, vectors: vectors, patch: patch, rowLength: step,
                                 groupWeights: groupWeights, span: whole, wholeTiles: lastTileApart)
            }
            if lastTileByFilterLanes {
                e.branch(e.compare(LLVMIntEQ, tile, e.int(pixelTiles - 1)), then: {
                    emitLastPixelsByFilterLanes(e, n: n, group: group, tiles: (first, end), patch: patch, rowLength: step,
                                                groupWeights: groupWeights, span: whole)
                }, otherwise: fullTiles)
            } else if lastTileApart {
                e.branch(e.compare(LLVMIntEQ, tile, e.int(pixelTiles - 1)), then: {
                    emitChannelTiles(e, n: n, group: group, tiles: (first, end), fusedTiles: fusedTiles,
                                     vectors: Array(vectors.prefix(remainderVectors)), patch: patch, rowLength: step,
                                     groupWeights: groupWeights, span: whole)
                }, otherwise: fullTiles)
            } else {
                fullTiles()
            }
        }
    }

    /// The matrix product over the packed patch for channel tiles `tiles`, `fusedTiles` at a time, on
    /// the patch's first `vectors.count` vectors. A map's last pixel tile, when it needs fewer vectors
    /// than a full one (a 7x7 map is two tiles of 24 pixels and one of 1), takes several channel tiles
    /// at once in the freed accumulators, so the lone vector costs a third of a full tile, not a whole one.
    /// `span` is the part of the reduction computed (patch row 0 being its first step); with `partials`
    /// the sums start and end there except in the span that begins or ends the reduction. With
    /// `wholeTiles` the caller never passes the map's partial last tile, so no store is masked.
    func emitChannelTiles(_ e: Emitter, n: Value, group: Value, tiles: (first: Value, end: Value), fusedTiles: Int,
                          vectors: [WindowAddressing.PixelVector], patch: Value, rowLength: Int, groupWeights: Value,
                          span: ReductionSpan, partials: PartialSums? = nil, wholeTiles: Bool = false) {
        let perTile = channelTile * vectors.count
        let accumulators = (0..<(fusedTiles * perTile)).map { _ in e.local(e.vector(0)) }
        e.loop(tiles.first, tiles.end, step: fusedTiles) { firstTile in
            // Past the chunk's end a tile repeats the last one: the same values, not stored again.
            let tileIndices = fusedTiles == 1 ? [firstTile] : (0..<fusedTiles).map { e.minimum(e.add(firstTile, $0), e.sub(tiles.end, e.int(1))) }
            if fusedTiles == 1 && partials == nil { prefetchEpilogue(e, n: n, group: group, channelTileIndex: firstTile, vectors: vectors) }
            for (i, tileIndex) in tileIndices.enumerated() {
                startSums(e, Array(accumulators[(i * perTile)..<((i + 1) * perTile)]), of: tileIndex, partials)
            }
            let weights = tileIndices.map { span.weights(e, groupWeights, tile: $0, channelTiles: channelTiles(e), channelTile: channelTile) }
            // The weights of the channel tile after these, a whole reduction ahead: read once per pixel
            // tile (or per image, whole-map), they come from memory once a network's weights outgrow
            // L3, and the hardware prefetchers, which stop at every 4 KiB page, leave the arithmetic
            // waiting on them (docs/performance.md, "Prefetching the next channel tile's weights"). After
            // the last tile it names lines past the weights: a prefetch never faults.
            let nextWeights = e.address(weights[weights.count - 1], e.mul(span.steps, channelTile))
            e.loop(e.int(0), span.steps) { k in
                let row = e.address(patch, e.mul(k, rowLength))
                let x = vectors.indices.map { e.loadVector(row, e.int($0 * lanes)) }
                e.prefetch(nextWeights, e.mul(k, channelTile), write: false)
                for (i, w) in weights.enumerated() {
                    for o in 0..<channelTile {
                        let broadcast = e.splat(e.load(w, e.add(e.mul(k, channelTile), o)))
                        for j in vectors.indices {
                            let acc = accumulators[(i * channelTile + o) * vectors.count + j]
                            e.set(acc, multiplyAdd(e, broadcast, x[j], e.get(acc)))
                        }
                    }
                }
            }
            for (i, tileIndex) in tileIndices.enumerated() {
                let slice = Array(accumulators[(i * perTile)..<((i + 1) * perTile)])
                unlessRepeat(e, i, of: firstTile, end: tiles.end) {
                    endSums(e, slice, of: tileIndex, partials) {
                        storeTile(e, n: n, group: group, channelTileIndex: tileIndex, vectors: vectors, accumulators: slice, wholeTile: wholeTiles)
                    }
                }
            }
        }
    }

    /// Runs `body`, the epilogue of fused tile `i` of the group from `firstTile`, unless that tile
    /// repeats the chunk's last: stored again, the repeat would read as its residual the output the
    /// first store wrote over it (the output takes the residual's memory, `MemoryPlan`).
    func unlessRepeat(_ e: Emitter, _ i: Int, of firstTile: Value, end: Value, _ body: () -> Void) {
        if i == 0 { return body() }
        e.when(e.compare(LLVMIntSLT, e.add(firstTile, e.int(i)), end), then: body)
    }

    /// A tile's accumulators at zero, or at the sums the previous span left in `partials`.
    func startSums(_ e: Emitter, _ accumulators: [Value], of tile: Value, _ partials: PartialSums?) {
        guard let partials else { return accumulators.forEach { e.set($0, e.vector(0)) } }
        e.branch(partials.isFirst, then: {
            accumulators.forEach { e.set($0, e.vector(0)) }
        }, otherwise: {
            for (i, acc) in accumulators.enumerated() { e.set(acc, e.loadVector(partials.base, partials.slot(e, tile: tile, accumulator: i))) }
        })
    }

    /// The epilogue after the reduction's last span; before it, the sums saved in `partials`.
    func endSums(_ e: Emitter, _ accumulators: [Value], of tile: Value, _ partials: PartialSums?, epilogue: () -> Void) {
        guard let partials else { return epilogue() }
        e.branch(partials.isLast, then: epilogue, otherwise: {
            for (i, acc) in accumulators.enumerated() { e.storeVector(e.get(acc), partials.base, partials.slot(e, tile: tile, accumulator: i)) }
        })
    }

    /// Requests the tile's residual and output lines while its reduction runs. With one plane per
    /// filter, the epilogue touches more streams than the hardware prefetchers follow, and a short
    /// reduction cannot hide the misses. Deeper reductions showed no gain, so they are left alone
    /// (docs/performance.md, "Where the JIT's thresholds come from").
    private func prefetchEpilogue(_ e: Emitter, n: Value, group: Value, channelTileIndex: Value, vectors: [WindowAddressing.PixelVector]) {
        guard prefetchesEpilogue else { return }
        let pixels = window.pixels
        let last = e.minimum(e.add(vectors[0].first, pixelVectors * lanes - 1), e.int(pixels - 1))
        for o in 0..<channelTile {
            let filterInGroup = e.minimum(e.add(e.mul(channelTileIndex, channelTile), o), e.sub(filtersPerGroup(e), e.int(1)))
            let plane = e.mul(e.add(e.mul(n, filters(e)), e.add(e.mul(group, filtersPerGroup(e)), filterInGroup)), pixels)
            for index in [vectors[0].first, last] {
                if hasResidual { e.prefetch(e.argument(.residual), e.add(plane, index), write: false) }
                e.prefetch(e.argument(.output), e.add(plane, index), write: true)
            }
        }
    }

    /// The epilogue: bias, residual, activation, one store per accumulator. Stores are masked only in
    /// a map's last, partial tile (a masked store is slow on some CPUs, AMD's among them).
    func storeTile(_ e: Emitter, n: Value, group: Value, channelTileIndex: Value,
                   vectors: [WindowAddressing.PixelVector], accumulators: [Value], wholeTile: Bool = false) {
        let pixels = window.pixels
        guard !wholeTile && pixels % (vectors.count * lanes) != 0 else {
            storeTile(e, n: n, group: group, channelTileIndex: channelTileIndex, vectors: vectors, accumulators: accumulators, masked: false)
            return
        }
        let full = e.compare(LLVMIntSLE, e.add(vectors[0].first, vectors.count * lanes), e.int(pixels))
        e.branch(full, then: {
            storeTile(e, n: n, group: group, channelTileIndex: channelTileIndex, vectors: vectors, accumulators: accumulators, masked: false)
        }, otherwise: {
            storeTile(e, n: n, group: group, channelTileIndex: channelTileIndex, vectors: vectors, accumulators: accumulators, masked: true)
        })
    }

    private func storeTile(_ e: Emitter, n: Value, group: Value, channelTileIndex: Value,
                           vectors: [WindowAddressing.PixelVector], accumulators: [Value], masked: Bool) {
        guard pairsOutput == .none else {
            return storeTileAsPairs(e, n: n, channelTileIndex: channelTileIndex, vectors: vectors, accumulators: accumulators, masked: masked)
        }
        let out = e.argument(.output)
        let pixels = window.pixels
        for o in 0..<channelTile {
            let filterInGroup = e.add(e.mul(channelTileIndex, channelTile), o)
            let store = {
                let filter = e.add(e.mul(group, filtersPerGroup(e)), filterInGroup)
                let plane = e.mul(e.add(e.mul(n, filters(e)), filter), pixels)
                for j in vectors.indices {
                    let index = e.add(plane, vectors[j].first)
                    let mask = masked ? vectors[j].valid : nil
                    let residual = residual(e, n: n, filter: filter, first: vectors[j].first, index: index, mask: mask)
                    storeConvOutput(e, scaledAndShifted(e, e.get(accumulators[o * vectors.count + j]), filter: filter), plus: residual,
                                    bf16: precision == .bf16, activate: { activate(e, $0) }, to: out, at: index, mask: mask)
                }
            }
            if filtersFillTiles {
                store()
            } else {
                e.when(e.compare(LLVMIntSLT, filterInGroup, filtersPerGroup(e)), then: store)
            }
        }
    }

    /// `filter`'s residual for the pixels of the vector from `first` (or the one pixel `first` with
    /// `scalar`), `index` being their place in the output, as bf16 reads it: floats there
    /// (`readResidual`), or with `residualFromPairs` that filter's half of the pairs in pair plane
    /// filter / 2, a bfloat16 already. nil without a residual.
    func residual(_ e: Emitter, n: Value, filter: Value, first: Value, index: Value, mask: Value?, scalar: Bool = false) -> Value? {
        guard hasResidual else { return nil }
        let base = e.argument(.residual)
        guard residualFromPairs else { return readResidual(e, base, at: index, mask: mask, bf16: precision == .bf16, scalar: scalar) }
        let imageSize = PairPlaneKernel.imageSize(e, pairs: e.div(e.add(filters(e), e.int(1)), 2), pixels: window.pixels)
        let at = e.add(e.add(e.mul(n, imageSize), e.mul(e.div(filter, 2), window.pixels)), first)
        let pairs = scalar ? e.load(base, at) : e.loadVector(base, at, mask: mask)
        return e.bfloat16Half(of: pairs, odd: e.compare(LLVMIntEQ, e.rem(filter, 2), e.int(1)))
    }

    /// The epilogue where the next convs read this one's output as pair planes (`pairsOutput`): per
    /// two filters of the tile and vector, both finished values made one vector of bfloat16 pairs and
    /// stored to the pair plane (the second filter's half zero past an odd filter count), the floats
    /// too where others read them (`.alsoFloats`). The tile's filter count is even (`writesPairs`).
    private func storeTileAsPairs(_ e: Emitter, n: Value, channelTileIndex: Value, vectors: [WindowAddressing.PixelVector],
                                  accumulators: [Value], masked: Bool) {
        let pixels = window.pixels, filters = filters(e)
        let pairs = e.argument(pairsOutput == .only ? ConvSlot.output.rawValue : pairsArgument)
        // The filter count may be read at run time (`dimensionsAtRunTime`): the image size is computed here.
        let layout = outputPlanes
        let imageSize = PairPlaneKernel.imageSize(e, pairs: e.div(e.add(filters, e.int(1)), 2), pixels: layout.planeSize)
        for o in stride(from: 0, to: channelTile, by: 2) {
            let even = e.add(e.mul(channelTileIndex, channelTile), o)
            e.when(e.compare(LLVMIntSLT, even, filters)) {
                let odd = e.add(even, e.int(1))
                let oddPresent = e.compare(LLVMIntSLT, odd, filters)
                let pairPlane = layout.plane(e, in: pairs, image: n, pair: e.div(even, 2), imageSize: imageSize)
                for j in vectors.indices {
                    let mask = masked ? vectors[j].valid : nil
                    // Past an odd filter count the second filter reads the last one's planes, and is not stored.
                    let values = [(even, o, e.bool(true)), (e.minimum(odd, e.sub(filters, e.int(1))), o + 1, oddPresent)].map {
                        filter, slot, present -> Value in
                        let index = e.add(e.mul(e.add(e.mul(n, filters), filter), pixels), vectors[j].first)
                        let residual = residual(e, n: n, filter: filter, first: vectors[j].first, index: index, mask: mask)
                        let value = convOutput(e, scaledAndShifted(e, e.get(accumulators[slot * vectors.count + j]), filter: filter),
                                               plus: residual, bf16: precision == .bf16, activate: { activate(e, $0) })
                        if pairsOutput == .alsoFloats { e.when(present) { e.storeVector(value, e.argument(.output), index, mask: mask) } }
                        return value
                    }
                    let oddValue = e.select(e.splatMask(oddPresent), values[1], e.vector(0))
                    storePairs(e, e.bfloat16Pairs(even: values[0], odd: oddValue), plane: pairPlane, layout: layout, first: vectors[j].first, valid: mask)
                }
            }
        }
    }

    /// A vector of pairs for consecutive output pixels from `first`, into a pair plane of `layout`: as
    /// they are without a border; with one, split by output row (a row's pixels are consecutive in the
    /// bordered plane too), each row's border zeros written by the vector holding its first or last pixel,
    /// the top and bottom rows' by the vectors holding the map's first and last pixels.
    private func storePairs(_ e: Emitter, _ values: Value, plane: Value, layout: PairPlaneKernel, first: Value, valid: Value?) {
        guard layout.isPadded else { return e.storeVector(values, plane, first, mask: valid) }
        let (width, height) = (window.outWidth, window.outHeight)
        func holds(_ pixel: Value) -> Value {
            e.and(e.compare(LLVMIntSGE, pixel, first), e.compare(LLVMIntSLT, pixel, e.add(first, e.int(lanes))))
        }
        let laneRows = e.vdiv(e.add(e.splatInt32(e.toInt32(first)), e.laneIndices), width)
        let lastRow = e.minimum(e.div(e.add(first, e.int(lanes - 1)), width), e.int(height - 1))
        e.loop(e.div(first, width), e.add(lastRow, e.int(1)), unroll: .never) { row in
            var inRow = e.vcompare(LLVMIntEQ, laneRows, e.splatInt32(e.toInt32(row)))
            if let valid { inRow = e.and(inRow, valid) }
            // Lane i holds pixel first + i, column first + i - row * width of the row.
            e.storeVector(values, e.address(plane, layout.offset(e, row: row, column: e.mul(row, -width))), first, mask: inRow)
            e.when(holds(e.mul(row, width))) { layout.zeroLeftBorder(e, of: plane, row: row) }
            e.when(holds(e.add(e.mul(row, width), e.int(width - 1)))) { layout.zeroRightBorder(e, of: plane, row: row) }
        }
        e.when(e.compare(LLVMIntEQ, first, e.int(0))) { layout.zeroTopBorder(e, of: plane) }
        e.when(holds(e.int(height * width - 1))) { layout.zeroBottomBorder(e, of: plane) }
    }

    /// The reduction span packed step `step` (`tap * stepsPerTap + channel step`) lies in: the whole
    /// reduction, or for `wholeMap` the span of `wholeMapSpan` steps under one tap that reads it.
    private func packedSpan(of step: Int) -> (first: Int, steps: Int) {
        guard strategy == .wholeMap else { return (0, depth) }
        let (tap, stepInTap) = step.quotientAndRemainder(dividingBy: stepsPerTap)
        let first = stepInTap / wholeMapSpan * wholeMapSpan
        return (tap * stepsPerTap + first, min(wholeMapSpan, stepsPerTap - first))
    }

    /// Weights [M, C/g, kh, kw], scaled per filter, as [group][span][channel tile][step in span][filter in
    /// tile], a step being (ky, kx, c) in that order and a span the reduction's part a routine reads at
    /// once (`ReductionSpan.weights`): the whole of it, so a tile's weights are one run, or for
    /// `wholeMap` 256 channels under one tap, so one span's weights for consecutive tiles are one run that
    /// the hardware prefetchers follow from tile to tile. The tile is zero-padded past the group's last
    /// filter, and the whole by one vector (the filter-lane loads of the last tile's last step read a
    /// vector from its last `channelTile` weights). In bf16 the weights are rounded to bfloat16 (scaled
    /// first only where the epilogue does not scale: `scalesSums`), and with channel pairs a step's
    /// weight is a 32-bit pair, the even channel in its low half (x86 is little-endian). For AMX a
    /// channel tile's weights are [block of 16 steps][filter in tile][step in block]: each 16 filters x
    /// 16 steps a weight tile's 1 KiB, the steps past the reduction zero.
    func pack(_ weight: Tensor, scale: [Double]) -> Tensor {
        let (kh, kw) = (window.geometry.kernel[0], window.geometry.kernel[1])
        let cpg = channelsPerGroup, fpg = filtersPerGroup, tileSize = channelTile, channelTiles = channelTiles, depth = depth
        // Where each reduction step lands within its group's block: without spans, step * tileSize.
        let stepOffset = (0..<depth).map { step -> Int in
            let span = packedSpan(of: step)
            return (span.first * channelTiles + step - span.first) * tileSize
        }
        let spanSteps = (0..<depth).map { packedSpan(of: $0).steps }
        let (pairs, bf16) = (channelsPerStep == 2, precision == .bf16)
        let stepsPerTap = stepsPerTap
        let (amx, amxBlock, paddedDepth) = (usesAMX, Self.amxBlock, paddedDepth)
        var packed = Tensor(zeros: [groups * channelTiles * paddedDepth * tileSize + lanes])
        packed.withUnsafeMutableBufferPointer { p in
            weight.withUnsafeBufferPointer { w in
                let (output, input) = (Shared(p.baseAddress), Shared(w.baseAddress))
                // Each channel tile writes its own run of the packed weights, in order, so the tiles are
                // packed on every core; a step's `tileSize` filters are adjacent.
                concurrentPerform(groups * channelTiles) { tile in
                    guard let p = output.value, let w = input.value else { return }
                    let (g, t) = tile.quotientAndRemainder(dividingBy: channelTiles)
                    let block = g * channelTiles * depth * tileSize
                    let tileFilters = min(tileSize, fpg - t * tileSize)
                    for ic in 0..<cpg {
                        for tap in 0..<(kh * kw) {
                            // A pair's halves: two channels (even one low), or with column pairs two columns (even one low).
                            let (step, half) = pairsColumns ? (((tap / kw) * ceilDiv(kw, 2) + tap % kw / 2) * cpg + ic, tap % kw % 2)
                                : (tap * stepsPerTap + ic / channelsPerStep, ic % 2)
                            let target = block + stepOffset[step] + t * spanSteps[step] * tileSize
                            for o in 0..<tileFilters {
                                let slot = amx ? (g * channelTiles + t) * paddedDepth * tileSize + step / amxBlock * amxBlock * tileSize
                                    + o * amxBlock + step % amxBlock : target + o
                                let filter = g * fpg + t * tileSize + o
                                let value = Float(Double(w[(filter * cpg + ic) * kh * kw + tap]) * (scalesSums ? 1 : scale[filter]))
                                if pairs {
                                    let halves = UnsafeMutableRawPointer(p).assumingMemoryBound(to: UInt16.self)
                                    halves[2 * slot + half] = value.bfloat16Bits
                                } else {
                                    p[slot] = bf16 ? value.roundedToBFloat16 : value
                                }
                            }
                        }
                    }
                }
            }
        }
        return packed
    }
}
