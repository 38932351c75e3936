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
    /// store go lane by lane (a handful of pixels against a reduction of hundreds of steps).
    private func storeLastPixels(_ e: Emitter, n: Value, group: Value, channelTileIndex: Value, accumulators: [Value]) {
        let out = e.argument(.output)
        let pixels = lastTilePixels, firstPixel = window.pixels - lastTilePixels
        // Through the stack and loops over filters and pixels, kept loops: unrolled, the tile's
        // channelTile x pixels lanes were the largest part of the function (and of LLVM's time) for a tail.
        let sums = e.localFloats(accumulators.count * lanes)
        for (i, accumulator) in accumulators.enumerated() { e.storeVector(e.get(accumulator), sums, e.int(i * lanes)) }
        e.loop(channelTile, unroll: .never) { o in
            let filterInGroup = e.add(e.mul(channelTileIndex, channelTile), o)
            let store = {
                let filter = e.add(e.mul(group, filtersPerGroup(e)), filterInGroup)
                let plane = e.add(e.mul(e.add(e.mul(n, filters(e)), filter), window.pixels), firstPixel)
                // Accumulator (o / lanes) * pixels + p holds filter o in lane o % lanes.
                let filterSums = e.address(sums, e.add(e.mul(e.div(o, lanes), pixels * lanes), e.rem(o, lanes)))
                e.loop(pixels, unroll: .never) { p in
                    let index = e.add(plane, p)
                    var value = scaledAndShifted(e, e.load(filterSums, e.mul(p, lanes)), filter: filter)
                    if let residual = residual(e, n: n, filter: filter, first: e.add(e.int(firstPixel), p), index: index, mask: nil, scalar: true) {
                        value = addingResidual(e, value, residual, bf16: precision == .bf16)
                    }
                    value = activate(e, value)
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
}
