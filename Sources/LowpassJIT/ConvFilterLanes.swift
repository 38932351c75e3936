import CLLVM

/// The packed and whole-map convs' last pixel tile with lanes over filters, where the map leaves a few
/// pixels past its whole tiles (`lastTileByFilterLanes` says when): each pixel's input broadcast against
/// a vector of the channel tile's filters (in bf16, a broadcast channel pair against the filters' pairs).
extension ConvKernel {
    /// Whether a map's last pixel tile, when it holds only a few pixels, is cheaper with lanes over
    /// filters: a 7x7 map in tiles of 24 pixels leaves 1, which the pixel lanes compute in a whole
    /// vector per filter (8 lanes for 1 pixel), the filter lanes in one vector per pixel and channel tile.
    var lastTileByFilterLanes: Bool {
        let remainder = lastTilePixels
        guard strategy != .direct, !usesAMX, remainder > 0, remainder * filterVectorsPerTile <= channelTile * pixelVectors else { return false }
        return remainder * filterVectorsPerTile < channelTile * ceilDiv(remainder, lanes)
    }

    /// The last pixel tile's pixels with lanes over the channel tile's filters: per reduction step, each
    /// pixel's input is broadcast and each tile's `channelTile` consecutive weights are one vector load
    /// (the weights are packed that way already; `pack` pads the end for the lanes past the tile).
    /// As many channel tiles as the accumulators hold run at once, spread evenly over the chunk.
    func emitLastPixelsByFilterLanes(_ e: Emitter, n: Value, group: Value, tiles: (first: Value, end: Value),
                                     patch: Value, rowLength: Int, groupWeights: Value, span: ReductionSpan, partials: PartialSums? = nil) {
        let pixels = lastTilePixels, vectorsPerTile = filterVectorsPerTile
        let fusedTiles = filterLaneTiles
        let perTile = vectorsPerTile * pixels
        let accumulators = (0..<(fusedTiles * perTile)).map { _ in e.local(e.vector(0)) }
        func accumulator(_ t: Int, _ v: Int, _ p: Int) -> Value { accumulators[(t * vectorsPerTile + v) * pixels + p] }
        e.loop(tiles.first, tiles.end, step: fusedTiles) { firstTile in
            // Past the chunk's end a tile repeats the last one: the same values, not stored again.
            let tileIndices = (0..<fusedTiles).map { e.minimum(e.add(firstTile, $0), e.sub(tiles.end, e.int(1))) }
            for (t, tileIndex) in tileIndices.enumerated() {
                startSums(e, Array(accumulators[(t * perTile)..<((t + 1) * perTile)]), of: tileIndex, partials)
            }
            let weights = tileIndices.map { span.weights(e, groupWeights, tile: $0, channelTiles: channelTiles(e), channelTile: channelTile) }
            e.loop(e.int(0), span.steps) { k in
                let row = e.address(patch, e.mul(k, rowLength))
                let x = (0..<pixels).map { e.splat(e.load(row, e.int($0))) }
                for (t, w) in weights.enumerated() {
                    let stepWeights = e.address(w, e.mul(k, channelTile))
                    for v in 0..<vectorsPerTile {
                        let filterVector = e.loadVector(stepWeights, e.int(v * lanes))
                        for p in 0..<pixels { e.set(accumulator(t, v, p), multiplyAdd(e, filterVector, x[p], e.get(accumulator(t, v, p)))) }
                    }
                }
            }
            for (t, tileIndex) in tileIndices.enumerated() {
                let mine = Array(accumulators[(t * perTile)..<((t + 1) * perTile)])
                unlessRepeat(e, t, of: firstTile, end: tiles.end) {
                    endSums(e, mine, of: tileIndex, partials) {
                        storeLastPixels(e, n: n, group: group, channelTileIndex: tileIndex, accumulators: mine)
                    }
                }
            }
        }
    }

    /// The filter-lane epilogue: accumulator `v * pixels + p` holds pixel `p`'s filters `v * lanes...`
    /// of the tile; each filter's value is a plane apart from the next, so bias, residual, activation and
    /// store go lane by lane (a handful of pixels against a reduction of hundreds of steps). Where the
    /// output is pair planes (`pairsOutput`), filter by filter pair, one pair per pixel.
    private func storeLastPixels(_ e: Emitter, n: Value, group: Value, channelTileIndex: Value, accumulators: [Value]) {
        let pixels = lastTilePixels, firstPixel = window.pixels - lastTilePixels
        // Through the stack and loops over filters and pixels, kept loops: unrolled, the tile's
        // channelTile x pixels lanes were the largest part of the function (and of LLVM's time) for a tail.
        let sums = e.localFloats(accumulators.count * lanes)
        for (i, accumulator) in accumulators.enumerated() { e.storeVector(e.get(accumulator), sums, e.int(i * lanes)) }
        /// Filter `filter` (in the group; tile slot `o`) at the tail's pixel `p`, finished, and its index in the floats.
        func finished(filter: Value, o: Value, p: Value) -> (value: Value, index: Value) {
            let index = e.add(e.mul(e.add(e.mul(n, filters(e)), filter), window.pixels), e.add(e.int(firstPixel), p))
            // Accumulator (o / lanes) * pixels + p holds filter o in lane o % lanes.
            let filterSums = e.address(sums, e.add(e.mul(e.div(o, lanes), pixels * lanes), e.rem(o, lanes)))
            var value = scaledAndShifted(e, e.load(filterSums, e.mul(p, lanes)), filter: filter)
            if let residual = residual(e, n: n, filter: filter, first: e.add(e.int(firstPixel), p), index: index, mask: nil, scalar: true) {
                value = addingResidual(e, value, residual, bf16: precision == .bf16)
            }
            return (activate(e, value), index)
        }
        guard pairsOutput == .none else { return storeLastPixelsAsPairs(e, n: n, channelTileIndex: channelTileIndex, finished: finished) }
        let out = e.argument(.output)
        e.loop(channelTile, unroll: .never) { o in
            let filterInGroup = e.add(e.mul(channelTileIndex, channelTile), o)
            let store = {
                let filter = e.add(e.mul(group, filtersPerGroup(e)), filterInGroup)
                e.loop(pixels, unroll: .never) { p in
                    let (value, index) = finished(filter: filter, o: o, p: p)
                    e.store(value, out, index)
                }
            }
            if filtersFillTiles {
                store()
            } else {
                e.when(e.compare(LLVMIntSLT, filterInGroup, filtersPerGroup(e)), then: store)
            }
        }
    }

    /// The tail's values as pairs of filters (the odd one's half zero past an odd filter count), one
    /// per pixel, at its place in the pair plane, the floats too with `.alsoFloats`; and the border
    /// zeros of the rows the tail ends (the right columns, the left ones where a row starts in it, the
    /// top rows where it starts the map, the bottom rows), which the pixel tiles before it leave.
    private func storeLastPixelsAsPairs(_ e: Emitter, n: Value, channelTileIndex: Value,
                                        finished: (_ filter: Value, _ o: Value, _ p: Value) -> (value: Value, index: Value)) {
        let pixels = lastTilePixels, firstPixel = window.pixels - lastTilePixels
        let (width, height) = (window.outWidth, window.outHeight)
        let layout = outputPlanes, filters = filters(e)
        let pairs = e.argument(pairsOutput == .only ? ConvSlot.output.rawValue : pairsArgument)
        let imageSize = PairPlaneKernel.imageSize(e, pairs: e.div(e.add(filters, e.int(1)), 2), pixels: layout.planeSize)
        e.loop(channelTile / 2, unroll: .never) { pair in
            let (o, even) = (e.mul(pair, 2), e.add(e.mul(channelTileIndex, channelTile), e.mul(pair, 2)))
            e.when(e.compare(LLVMIntSLT, even, filters)) {
                let odd = e.add(even, e.int(1))
                let oddPresent = e.compare(LLVMIntSLT, odd, filters)
                let plane = layout.plane(e, in: pairs, image: n, pair: e.div(even, 2), imageSize: imageSize)
                e.loop(pixels, unroll: .never) { p in
                    // Past an odd filter count the second filter is the last one again, not stored.
                    let first = finished(even, o, p), second = finished(e.minimum(odd, e.sub(filters, e.int(1))), e.add(o, e.int(1)), p)
                    if pairsOutput == .alsoFloats {
                        e.store(first.value, e.argument(.output), first.index)
                        e.when(oddPresent) { e.store(second.value, e.argument(.output), second.index) }
                    }
                    let pixel = e.add(e.int(firstPixel), p)
                    let at = layout.offset(e, row: e.div(pixel, width), column: e.rem(pixel, width))
                    e.store(e.bfloat16Pairs(even: first.value, odd: e.select(oddPresent, second.value, e.float(0))), plane, at)
                }
                for row in (firstPixel / width)..<height {
                    if row * width >= firstPixel { layout.zeroLeftBorder(e, of: plane, row: e.int(row)) }
                    layout.zeroRightBorder(e, of: plane, row: e.int(row))
                }
                if firstPixel == 0 { layout.zeroTopBorder(e, of: plane) }
                layout.zeroBottomBorder(e, of: plane)
            }
        }
    }
}
