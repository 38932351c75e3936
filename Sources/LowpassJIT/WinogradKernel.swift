import CLLVM
import LowpassIR
import LowpassTensor

/// Stride-1 3x3 convolution by Winograd's F(m x m, 3x3) (Lavin & Gray, 2016), m = 2 or 4: each m x m
/// block of outputs comes from an (m+2) x (m+2) input tile as `A^T [(G g G^T) * (B^T d B)] A`, so the
/// product costs (m+2)^2 multiplies per tile and channel pair instead of 9 m^2 (2.25x fewer for m = 2,
/// 4x for m = 4). The filter transform is done once at compile time (BatchNorm folded in).
///
/// A lane is a tile. A vector holds `pieces` pieces of consecutive tile rows, `slots` tiles each
/// (one piece of `lanes` tiles on wide maps; two of 8 on a 28-wide map with F(4x4) and 16 lanes, so the
/// lanes are not half empty). Each input row a piece reads is m vectors' worth of consecutive columns,
/// and splitting those by column mod m (log2 m rounds of even/odd shuffles) gives tile cells 0..<m of
/// every lane; cells m and m+1 are cells 0 and 1 of the next lane's tile. Output rows go back the same
/// way: interleaving a row's m cells gives m vectors of consecutive outputs.
///
/// A work item takes `tileVectors` vectors, transforms their input tiles for every input channel into
/// per-thread scratch (the (m+2)^2 transformed planes, `xi`), then for a range of channel tiles runs
/// (m+2)^2 register-tiled products over that scratch and transforms the results back, with bias,
/// residual and activation.
///
/// Arguments (`ConvSlot`s): output, input, transformed weights [channel tile][xi][c][filter in tile], bias, residual.
struct WinogradKernel: PackedWeightsKernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var batch: Int, channels: Int, filters: Int
    var height: Int, width: Int, outHeight: Int, outWidth: Int
    var pads: [Int]
    var hasResidual: Bool
    var inPlaceArgument: Int? { hasResidual ? ConvSlot.residual.rawValue : nil }
    var activation: Activation?
    var layout: Layout
    var channelTile: Int, tileVectors: Int, channelChunks: Int
    var lanes: Int

    init(nodes: [String], input: Operand, output: Int, weights: Operand, bias: Operand, residual: Operand?,
         batch: Int, channels: Int, filters: Int, height: Int, width: Int, outHeight: Int, outWidth: Int, pads: [Int],
         activation: Activation?, layout: Layout, target: Target) {
        self.nodes = nodes
        arguments = [.buffer(output), input, weights, bias] + (residual.map { [$0] } ?? [])
        self.output = output
        (self.batch, self.channels, self.filters) = (batch, channels, filters)
        (self.height, self.width, self.outHeight, self.outWidth, self.pads) = (height, width, outHeight, outWidth, pads)
        hasResidual = residual != nil
        self.activation = activation
        lanes = target.lanes
        self.layout = layout
        // The scratch holds the transformed planes of every input channel for each lane's tile.
        let tile = RegisterTile(vectorsInMap: layout.vectors, floatsPerLane: (layout.m + 2) * (layout.m + 2) * channels, filters: filters, target: target)
        (tileVectors, channelTile) = (tile.vectors, tile.channels)
        channelChunks = RegisterTile.chunks(channelTiles: ceilDiv(filters, channelTile), items: batch * ceilDiv(layout.vectors, tileVectors))
    }

    /// How a map's tiles sit in the lanes for one m (outputs per tile side).
    struct Layout: Hashable {
        var m: Int, pieces: Int, slots: Int
        /// Vectors per band of `pieces` tile rows, and in the whole map.
        var vectorsPerBand: Int, vectors: Int
        /// Multiplies per output and input channel, the lanes' empty slots counted: the direct conv's is 9.
        var multipliesPerOutput: Double

        init(m: Int, outHeight: Int, outWidth: Int, lanes: Int) {
            self.m = m
            // Pieces narrower than the vector where a tile row, and the lane after it (whose cells its
            // last tile reads), fit in one.
            let tileColumns = ceilDiv(outWidth, m)
            pieces = 1
            while pieces < m && lanes / (2 * pieces) > tileColumns { pieces *= 2 }
            slots = lanes / pieces
            vectorsPerBand = ceilDiv(tileColumns, slots)
            vectors = ceilDiv(ceilDiv(outHeight, m), pieces) * vectorsPerBand
            multipliesPerOutput = Double((m + 2) * (m + 2) * vectors * lanes) / Double(outHeight * outWidth)
        }

        /// The cheaper of F(2x2) and F(4x4), where it pays: F(4x4)'s multiplies count 1.2 (its transforms
        /// are longer), and Winograd runs only below 6 multiplies per output (it measured 1.45x faster than
        /// the direct conv at 5.2 on 14x14, slower at 10.4 on 7x7; docs/performance.md, "Winograd F(4x4, 3x3)").
        static func best(outHeight: Int, outWidth: Int, lanes: Int) -> Layout? {
            let small = Layout(m: 2, outHeight: outHeight, outWidth: outWidth, lanes: lanes)
            let large = Layout(m: 4, outHeight: outHeight, outWidth: outWidth, lanes: lanes)
            let best = 1.2 * large.multipliesPerOutput < small.multipliesPerOutput ? large : small
            return best.multipliesPerOutput < 6 ? best : nil
        }
    }

    /// The layout a conv runs in this way, or nil where it does not: it must be 3x3, stride 1, no
    /// dilation, one group, on a map whose tiles fill the lanes well enough (`Layout.best`).
    static func layout(_ geometry: WindowGeometry, groups: Int, channels: Int, filters: Int, outHeight: Int, outWidth: Int, lanes: Int) -> Layout? {
        guard geometry.kernel == [3, 3] && geometry.strides == [1, 1] && geometry.dilations == [1, 1] && groups == 1
            && channels >= 8 && filters >= 8 else { return nil }
        return Layout.best(outHeight: outHeight, outWidth: outWidth, lanes: lanes)
    }

    var kind: String {
        var name = "winograd3x3"
        if hasResidual { name += "+add" }
        if let activation { name += "+\(activation)" }
        let layoutName = pieces > 1 ? "\(pieces)x\(slots)" : "\(lanes)"
        return name + " [F(\(m)x\(m),3x3) \(channelTile)ch x \(tileVectors)x\(layoutName) tiles]"
    }

    var m: Int { layout.m }
    /// The input tile's side, and the number of transformed planes.
    var tileSide: Int { m + 2 }
    var xis: Int { tileSide * tileSide }
    var pieces: Int { layout.pieces }
    var slots: Int { layout.slots }
    /// Vectors of consecutive input columns (and of outputs) one piece of a tile row spans.
    var vectorsPerPiece: Int { m / pieces }
    var vectorsPerBand: Int { layout.vectorsPerBand }
    var vectorsInMap: Int { layout.vectors }
    var tileGroups: Int { ceilDiv(vectorsInMap, tileVectors) }
    var channelTiles: Int { ceilDiv(filters, channelTile) }
    var workItems: Int { batch * tileGroups * channelChunks }
    var images: Int { batch }
    var step: Int { tileVectors * lanes }
    /// Floats from one transformed plane to the next: a cache line more than the plane, so the input
    /// transform's (m+2)^2 stores of one tile do not all fall in one L1 set.
    var planeStride: Int { channels * step + 16 }
    /// The transformed input (xis planes of channels x step), then the xis products of one channel tile.
    var scratchFloats: Int { xis * planeStride + xis * channelTile * step }
    /// As the direct convolution would count them, so rates compare.
    var flops: Double { 2 * Double(batch * filters * outHeight * outWidth * channels * 9) }
    var bytes: Double {
        let outputs: Int = filters * outHeight * outWidth * (hasResidual ? 2 : 1)
        let inputs: Int = channels * height * width
        let weights: Int = xis * filters * channels
        return 4 * Double(batch * (inputs + outputs) + weights)
    }

    /// A vector of tiles: whether it exists (the last group may be partial), its first tile row and first tile column.
    typealias TileVector = (exists: Value, row: Value, column: Value)

    func emitItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [batch, tileGroups, channelChunks])
        let (n, group, chunk) = (c[0], c[1], c[2])
        let transformed = e.scratch!, products = e.address(e.scratch!, e.int(xis * planeStride))
        let input = e.address(e.argument(.input), e.mul(n, channels * height * width))
        let vectors: [TileVector] = (0..<tileVectors).map { j in
            let v = e.add(e.mul(group, tileVectors), j)
            return (exists: e.compare(LLVMIntSLT, v, e.int(vectorsInMap)), row: e.mul(e.div(v, vectorsPerBand), pieces),
                    column: e.mul(e.rem(v, vectorsPerBand), slots))
        }

        e.loop(channels) { ic in
            let plane = e.address(input, e.mul(ic, height * width))
            for (j, vector) in vectors.enumerated() {
                e.when(vector.exists) {
                    let v = transform(e, inputTile(e, plane, vector), Matrices(m: m).input)
                    for xi in 0..<xis { e.storeVector(v[xi], transformed, e.add(e.mul(ic, step), xi * planeStride + j * lanes)) }
                }
            }
        }

        let perChunk = ceilDiv(channelTiles, channelChunks)
        let first = e.mul(chunk, perChunk)
        e.loop(first, e.minimum(e.add(first, perChunk), e.int(channelTiles))) { channelTileIndex in
            // M[xi] = U[xi] (filters x channels) * V[xi] (channels x tiles).
            e.loop(xis) { xi in
                let accumulators = (0..<(channelTile * tileVectors)).map { _ in e.local(e.vector(0)) }
                let weights = e.address(e.argument(.weights), e.mul(e.add(e.mul(channelTileIndex, xis), xi), channels * channelTile))
                let rows = e.address(transformed, e.mul(xi, planeStride))
                e.loop(channels) { ic in
                    let row = e.address(rows, e.mul(ic, step))
                    let x = (0..<tileVectors).map { e.loadVector(row, e.int($0 * lanes)) }
                    let w = e.address(weights, e.mul(ic, channelTile))
                    // The next product's weights, a whole reduction ahead (as the packed conv's next
                    // channel tile): at batch 1 they come from memory. Past the last, a prefetch never faults.
                    for line in stride(from: 0, to: channelTile, by: 16) { e.prefetch(w, e.int(channels * channelTile + line), write: false) }
                    for o in 0..<channelTile {
                        let broadcast = e.splat(e.load(w, e.int(o)))
                        for j in 0..<tileVectors {
                            e.set(accumulators[o * tileVectors + j], e.fma(broadcast, x[j], e.get(accumulators[o * tileVectors + j])))
                        }
                    }
                }
                for o in 0..<channelTile {
                    for j in 0..<tileVectors {
                        e.storeVector(e.get(accumulators[o * tileVectors + j]), products, e.add(e.mul(xi, channelTile * step), (o * tileVectors + j) * lanes))
                    }
                }
            }
            storeOutputs(e, n: n, channelTileIndex: channelTileIndex, vectors: vectors, products: products)
        }
    }

    /// The (m+2)^2 input tiles of a vector of tiles: cell (r, c) of every lane, the padding zero.
    private func inputTile(_ e: Emitter, _ plane: Value, _ vector: TileVector) -> [Value] {
        let firstColumn = e.sub(e.mul(vector.column, m), e.int(pads[1]))
        // `lanes` consecutive floats of input row r of the vector's piece `piece`, from `offset` past its first column.
        func span(_ piece: Int, r: Int, offset: Int) -> Value {
            let y = e.add(e.mul(e.add(vector.row, piece), m), r - pads[0])
            let start = e.add(firstColumn, offset)
            let mask = e.spanInside(row: y, start: start, height: height, width: width)
            return e.loadVector(e.address(plane, e.mul(e.clamp(y, 0, height - 1), width)), start, mask: mask)
        }
        var cells = [Value]()
        for r in 0..<tileSide {
            let spans = (0..<m).map { span($0 / vectorsPerPiece, r: r, offset: ($0 % vectorsPerPiece) * lanes) }
            let phases = deinterleave(e, spans)
            // Cells m and m + 1 are the next lane's cells 0 and 1; the last lane's come from the next span.
            let next = span(pieces - 1, r: r, offset: m * slots)
            let shifted = (0..<2).map { c in e.shuffle(phases[c], next, order: (1..<lanes).map { $0 } + [lanes + c]) }
            cells += phases + shifted
        }
        return cells
    }

    /// Splits `spans` (m vectors of consecutive floats) by position mod m: result k holds floats k, k + m, ...
    private func deinterleave(_ e: Emitter, _ spans: [Value]) -> [Value] {
        guard spans.count > 1 else { return spans }
        let pairs = stride(from: 0, to: spans.count, by: 2).map { (spans[$0], spans[$0 + 1]) }
        let evens = deinterleave(e, pairs.map { e.strided($0.0, $0.1, start: 0, step: 2) })
        let odds = deinterleave(e, pairs.map { e.strided($0.0, $0.1, start: 1, step: 2) })
        return zip(evens, odds).flatMap { [$0.0, $0.1] }
    }

    /// The inverse of `deinterleave`: m vectors (one per position mod m) to m vectors of consecutive floats.
    private func interleave(_ e: Emitter, _ cells: [Value]) -> [Value] {
        guard cells.count > 1 else { return cells }
        let evens = interleave(e, stride(from: 0, to: cells.count, by: 2).map { cells[$0] })
        let odds = interleave(e, stride(from: 1, to: cells.count, by: 2).map { cells[$0] })
        return zip(evens, odds).flatMap { [e.interleave($0.0, $0.1, high: false), e.interleave($0.0, $0.1, high: true)] }
    }

    /// Output transform, Y = A^T M A, and the epilogue. Each output row's m cells are interleaved
    /// into m vectors of consecutive columns; cells past the map's edge are not written.
    private func storeOutputs(_ e: Emitter, n: Value, channelTileIndex: Value, vectors: [TileVector], products: Value) {
        let (out, bias) = (e.argument(.output), e.argument(.bias))
        let residual = hasResidual ? e.argument(.residual) : nil
        // A loop over the tile's filters, not unrolled: each filter's transform and stores are long
        // straight-line code, and unrolling them per filter multiplied the function (and LLVM's time on
        // it) by the tile's height for no run-time gain. 8-lane code keeps two filters a turn, which
        // measured 3% faster there; 16-lane code was as fast or faster with one (docs/performance.md,
        // "Cold start").
        e.loop(channelTile, unroll: lanes == 8 ? .times(2) : .never) { o in
            let filter = e.add(e.mul(channelTileIndex, channelTile), o)
            let store = {
                let shift = e.splat(e.load(bias, filter))
                let planeOffset = e.mul(e.add(e.mul(n, filters), filter), outHeight * outWidth)
                let plane = e.address(out, planeOffset)
                let residualPlane = residual.map { e.address($0, planeOffset) }
                let filterProducts = e.address(products, e.mul(o, step))
                for (j, vector) in vectors.enumerated() {
                    e.when(vector.exists) {
                        let products = (0..<xis).map { xi in e.loadVector(filterProducts, e.int(xi * channelTile * step + j * lanes)) }
                        let y = transform(e, products, Matrices(m: m).output).map { e.fadd($0, shift) }
                        let firstColumn = e.mul(vector.column, m)
                        for a in 0..<m {
                            for (k, outputs) in interleave(e, Array(y[(a * m)..<(a * m + m)])).enumerated() {
                                let oy = e.add(e.mul(e.add(vector.row, k / vectorsPerPiece), m), a)
                                let x = e.add(firstColumn, (k % vectorsPerPiece) * lanes)
                                let mask = e.and(e.firstLanes(e.sub(e.int(outWidth), x)), e.splatMask(e.compare(LLVMIntSLT, oy, e.int(outHeight))))
                                let index = e.add(e.mul(oy, outWidth), x)
                                storeConvOutput(e, outputs, plus: residualPlane.map { readResidual(e, $0, at: index, mask: mask, bf16: false) }, bf16: false, activate: { activation?.apply(e, $0) ?? $0 }, to: plane, at: index, mask: mask)
                            }
                        }
                    }
                }
            }
            if filters % channelTile == 0 {
                store()
            } else {
                e.when(e.compare(LLVMIntSLT, filter, e.int(filters)), then: store)
            }
        }
    }

    /// B^T (input transform), A^T (output transform) and G (filter transform): the Toom-Cook matrices
    /// interpolating at 0, 1, -1 (m = 2) and 0, 1, -1, 2, -1/2 (m = 4), and infinity. For m = 4 these
    /// points round about half as much as Lavin & Gray's 0, +-1, +-2 (Barabasz et al., 2020): float32
    /// error of one 128-channel layer 3.3e-6 against 7.3e-6, F(2x2)'s being 4e-7 (docs/performance.md).
    struct Matrices {
        var input: [[Double]], output: [[Double]], filter: [[Double]]

        init(m: Int) {
            if m == 2 {
                input = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
                output = [[1, 1, 1, 0], [0, 1, -1, -1]]
                filter = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
            } else {
                input = [[1, 1.5, -2, -1.5, 1, 0], [0, -1, -2.5, -0.5, 1, 0], [0, 1, 0.5, -2.5, 1, 0], [0, -0.5, -1, 0.5, 1, 0],
                         [0, 2, -1, -2, 1, 0], [0, 1, 1.5, -2, -1.5, 1]]
                output = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -0.5, 0], [0, 1, 1, 4, 0.25, 0], [0, 1, -1, 8, -0.125, 1]]
                filter = [[1, 0, 0], [-1.0 / 3, -1.0 / 3, -1.0 / 3], [1.0 / 3, -1.0 / 3, 1.0 / 3], [1.0 / 15, 2.0 / 15, 4.0 / 15],
                          [-16.0 / 15, 8.0 / 15, -4.0 / 15], [0, 0, 1]]
            }
        }
    }

    /// `R x R^T` for a square block `x` of vectors (row-major, side R's width) and a constant matrix R.
    private func transform(_ e: Emitter, _ x: [Value], _ rows: [[Double]]) -> [Value] {
        let side = rows[0].count
        func combine(_ coefficients: [Double], _ values: [Value]) -> Value {
            var sum: Value?
            for (k, value) in zip(coefficients, values) where k != 0 {
                guard let partial = sum else {
                    sum = k == 1 ? value : e.fmul(e.vector(k), value)
                    continue
                }
                sum = k == 1 ? e.fadd(partial, value) : k == -1 ? e.fsub(partial, value) : e.fma(e.vector(k), value, partial)
            }
            return sum ?? e.vector(0)
        }
        // Rows first (R x), then columns ((R x) R^T).
        let left = rows.flatMap { r in (0..<side).map { column in combine(r, (0..<side).map { x[$0 * side + column] }) } }
        return rows.indices.flatMap { i in rows.map { r in combine(r, (0..<side).map { left[i * side + $0] }) } }
    }

    /// U = G g G^T per (filter, channel), scaled per filter, laid out as [channel tile][xi][channel][filter
    /// in tile] (zero past the last filter).
    func transformWeights(_ weight: Tensor, scale: [Double]) -> Tensor {
        let g = Matrices(m: m).filter
        let (side, channelTiles, channels, channelTile, filters) = (tileSide, channelTiles, channels, channelTile, filters)
        var packed = Tensor(zeros: [side * side * channelTiles * channels * channelTile])
        packed.withUnsafeMutableBufferPointer { p in
            weight.withUnsafeBufferPointer { w in
                let (output, input) = (Shared(p.baseAddress), Shared(w.baseAddress))
                concurrentPerform(filters) { filter in
                    guard let p = output.value, let w = input.value else { return }
                    for ic in 0..<channels {
                        let base = (filter * channels + ic) * 9
                        for i in 0..<side {
                            for j in 0..<side {
                                var u = 0.0
                                for r in 0..<3 { for s in 0..<3 { u += g[i][r] * Double(w[base + r * 3 + s]) * g[j][s] } }
                                let xi = i * side + j
                                let target = (((filter / channelTile) * side * side + xi) * channels + ic) * channelTile + filter % channelTile
                                p[target] = Float(u * scale[filter])
                            }
                        }
                    }
                }
            }
        }
        return packed
    }
}
