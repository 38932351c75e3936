import CLLVM
import LowpassIR
import LowpassTensor

/// Stride-1 3x3 convolution by Winograd's F(2x2, 3x3) (Lavin & Gray, 2016): each 2x2 block of outputs
/// comes from a 4x4 input tile as `A^T [(G g G^T) * (B^T d B)] A`, so the product costs 16 multiplies
/// per tile and channel pair instead of 36 (2.25x fewer). The transforms are additions only; the filter
/// transform is done once at compile time (BatchNorm folded in).
///
/// A lane is a tile; a vector is `lanes` consecutive tiles of one tile row (a row's last vector may be
/// partial), so a tile cell (r, c) of all lanes is every second input column: two loads and a shuffle,
/// and a 2x2 output row of all lanes is 16 consecutive outputs: two stores. A work item takes
/// `tileVectors` such vectors, transforms their input tiles for every input channel into per-thread
/// scratch (the 16 transformed planes, `xi`), then for a range of channel tiles runs 16 register-tiled
/// products over that scratch and transforms the results back, with bias, residual and activation.
///
/// Arguments (`ConvSlot`s): output, input, transformed weights [xi][channel tile][c][filter in tile], bias, residual.
struct WinogradKernel: PackedWeightsKernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var batch: Int, channels: Int, filters: Int
    var height: Int, width: Int, outHeight: Int, outWidth: Int
    var pads: [Int]
    var hasResidual: Bool
    var activation: Activation?
    var channelTile: Int, tileVectors: Int, channelChunks: Int
    var lanes: Int

    init(nodes: [String], input: Operand, output: Int, weights: Operand, bias: Operand, residual: Operand?,
         batch: Int, channels: Int, filters: Int, height: Int, width: Int, outHeight: Int, outWidth: Int, pads: [Int],
         activation: Activation?, target: Target) {
        self.nodes = nodes
        arguments = [.buffer(output), input, weights, bias] + (residual.map { [$0] } ?? [])
        self.output = output
        (self.batch, self.channels, self.filters) = (batch, channels, filters)
        (self.height, self.width, self.outHeight, self.outWidth, self.pads) = (height, width, outHeight, outWidth, pads)
        hasResidual = residual != nil
        self.activation = activation
        lanes = target.lanes
        let tileVectorsInMap = ceilDiv(outHeight, 2) * ceilDiv(ceilDiv(outWidth, 2), target.lanes)
        // The scratch holds the 16 transformed planes of every input channel for each lane's tile.
        let tile = RegisterTile(vectorsInMap: tileVectorsInMap, floatsPerLane: 16 * channels, filters: filters, target: target)
        (tileVectors, channelTile) = (tile.vectors, tile.channels)
        channelChunks = RegisterTile.chunks(channelTiles: ceilDiv(filters, channelTile), items: batch * ceilDiv(tileVectorsInMap, tileVectors))
    }

    /// Whether a conv runs this way: 3x3, stride 1, no dilation, one group, and a map of at least 28x28.
    /// On smaller maps the transforms and the partial tile vectors cost more than the multiplies saved
    /// (docs/performance.md, "Where the JIT's thresholds come from").
    static func applies(_ geometry: WindowGeometry, groups: Int, channels: Int, filters: Int, outHeight: Int, outWidth: Int) -> Bool {
        geometry.kernel == [3, 3] && geometry.strides == [1, 1] && geometry.dilations == [1, 1] && groups == 1
            && channels >= 8 && filters >= 8 && min(outHeight, outWidth) >= 28
    }

    var kind: String {
        var name = "winograd3x3"
        if hasResidual { name += "+add" }
        if let activation { name += "+\(activation)" }
        return name + " [F(2x2,3x3) \(channelTile)ch x \(tileVectors)x\(lanes) tiles]"
    }

    var tileRows: Int { ceilDiv(outHeight, 2) }
    var tileColumns: Int { ceilDiv(outWidth, 2) }
    /// Vectors per tile row, and in the whole map.
    var vectorsPerRow: Int { ceilDiv(tileColumns, lanes) }
    var vectorsInMap: Int { tileRows * vectorsPerRow }
    var tileGroups: Int { ceilDiv(vectorsInMap, tileVectors) }
    var channelTiles: Int { ceilDiv(filters, channelTile) }
    var workItems: Int { batch * tileGroups * channelChunks }
    var images: Int { batch }
    var step: Int { tileVectors * lanes }
    /// The transformed input (16 x channels x step), then the 16 products of one channel tile.
    var scratchFloats: Int { 16 * channels * step + 16 * channelTile * step }
    /// As the direct convolution would count them, so rates compare.
    var flops: Double { 2 * Double(batch * filters * outHeight * outWidth * channels * 9) }
    var bytes: Double {
        let outputs: Int = filters * outHeight * outWidth * (hasResidual ? 2 : 1)
        let inputs: Int = channels * height * width
        let weights: Int = 16 * filters * channels
        return 4 * Double(batch * (inputs + outputs) + weights)
    }

    func emitItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [batch, tileGroups, channelChunks])
        let (n, group, chunk) = (c[0], c[1], c[2])
        let transformed = e.scratch!, products = e.address(e.scratch!, e.int(16 * channels * step))
        let input = e.address(e.argument(.input), e.mul(n, channels * height * width))
        // Per vector: whether it exists (the last group may be partial), its tile row and first tile column.
        let vectors = (0..<tileVectors).map { j in
            let v = e.add(e.mul(group, tileVectors), j)
            return (exists: e.compare(LLVMIntSLT, v, e.int(vectorsInMap)), row: e.div(v, vectorsPerRow), column: e.mul(e.rem(v, vectorsPerRow), lanes))
        }

        // Input transform, V = B^T d B with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
        e.loop(channels) { ic in
            let plane = e.address(input, e.mul(ic, height * width))
            for (j, vector) in vectors.enumerated() {
                e.when(vector.exists) {
                    let d = inputTile(e, plane, row: vector.row, column: vector.column)
                    let v = transform4x4(e, d, Self.inputRows)
                    for xi in 0..<16 { e.storeVector(v[xi], transformed, e.add(e.mul(e.add(e.mul(e.int(xi), channels), ic), step), j * lanes)) }
                }
            }
        }

        let perChunk = ceilDiv(channelTiles, channelChunks)
        let first = e.mul(chunk, perChunk)
        e.loop(first, e.minimum(e.add(first, perChunk), e.int(channelTiles))) { channelTileIndex in
            // 16 products: M[xi] = U[xi] (filters x channels) * V[xi] (channels x tiles).
            e.loop(16) { xi in
                let accumulators = (0..<(channelTile * tileVectors)).map { _ in e.local(e.vector(0)) }
                let weights = e.address(e.argument(.weights), e.mul(e.add(e.mul(xi, channelTiles), channelTileIndex), channels * channelTile))
                let rows = e.address(transformed, e.mul(xi, channels * step))
                e.loop(channels) { ic in
                    let row = e.address(rows, e.mul(ic, step))
                    let x = (0..<tileVectors).map { e.loadVector(row, e.int($0 * lanes)) }
                    let w = e.address(weights, e.mul(ic, channelTile))
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

    /// The 4x4 input tiles of a vector of tiles: cell (r, c) of every lane, the padding zero.
    private func inputTile(_ e: Emitter, _ plane: Value, row: Value, column: Value) -> [Value] {
        var cells = [Value?](repeating: nil, count: 16)
        for r in 0..<4 {
            let y = e.add(e.mul(row, 2), r - pads[0])
            let rowInside = e.and(e.compare(LLVMIntSGE, y, e.int(0)), e.compare(LLVMIntSLT, y, e.int(height)))
            let source = e.address(plane, e.mul(e.clamp(y, 0, height - 1), width))
            for pair in 0..<2 {
                // Columns 2 * (column + lane) - pad + c for c = 2 * pair + {0, 1}: two loads, two shuffles.
                let start = e.add(e.mul(column, 2), 2 * pair - pads[1])
                let halves = (0..<2).map { half in
                    let columns = e.add(e.splatInt32(e.toInt32(e.add(start, half * lanes))), e.laneIndices)
                    let mask = e.and(e.vinside(columns, 0, width), e.splatMask(rowInside))
                    return e.loadVector(source, e.add(start, half * lanes), mask: mask)
                }
                cells[r * 4 + 2 * pair] = e.strided(halves[0], halves[1], start: 0, step: 2)
                cells[r * 4 + 2 * pair + 1] = e.strided(halves[0], halves[1], start: 1, step: 2)
            }
        }
        return cells.map { $0! }
    }

    /// Output transform, Y = A^T M A with A^T = [1 1 1 0; 0 1 -1 -1], and the epilogue. The two outputs
    /// of each lane in an output row are interleaved into 16 consecutive columns; cells past the map's
    /// edge are not written.
    private func storeOutputs(_ e: Emitter, n: Value, channelTileIndex: Value, vectors: [(exists: Value, row: Value, column: Value)], products: Value) {
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
                        let m = (0..<16).map { xi in e.loadVector(filterProducts, e.int(xi * channelTile * step + j * lanes)) }
                        let y = transform4x4(e, m, Self.outputRows).map { e.fadd($0, shift) }
                        let firstColumn = e.mul(vector.column, 2)
                        for a in 0..<2 {
                            let oy = e.add(e.mul(vector.row, 2), a)
                            let rowInside = e.compare(LLVMIntSLT, oy, e.int(outHeight))
                            let halves = [e.interleave(y[a * 2], y[a * 2 + 1], high: false), e.interleave(y[a * 2], y[a * 2 + 1], high: true)]
                            for (h, half) in halves.enumerated() {
                                let x = e.add(firstColumn, h * lanes)
                                let columns = e.add(e.splatInt32(e.toInt32(x)), e.laneIndices)
                                let mask = e.and(e.vcompare(LLVMIntSLT, columns, e.intVectorConstant(outWidth)), e.splatMask(rowInside))
                                let index = e.add(e.mul(oy, outWidth), x)
                                storeConvOutput(e, half, residual: residualPlane, activate: { activation?.apply(e, $0) ?? $0 }, to: plane, at: index, mask: mask)
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

    /// B^T's rows (input transform) and A^T's rows (output transform) as coefficient lists.
    static let inputRows: [[Double]] = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    static let outputRows: [[Double]] = [[1, 1, 1, 0], [0, 1, -1, -1]]

    /// `R x R^T` for a 4x4 block `x` of vectors (row-major) and a matrix `R` of 0/+-1 rows.
    private func transform4x4(_ e: Emitter, _ x: [Value], _ rows: [[Double]]) -> [Value] {
        func combine(_ coefficients: [Double], _ values: [Value]) -> Value {
            var sum: Value?
            for (k, value) in zip(coefficients, values) where k != 0 {
                sum = sum.map { k > 0 ? e.fadd($0, value) : e.fsub($0, value) } ?? (k > 0 ? value : e.fsub(e.vector(0), value))
            }
            return sum ?? e.vector(0)
        }
        // Rows first (R x), then columns ((R x) R^T).
        let left = rows.flatMap { r in (0..<4).map { column in combine(r, (0..<4).map { x[$0 * 4 + column] }) } }
        return rows.indices.flatMap { i in rows.map { r in combine(r, (0..<4).map { left[i * 4 + $0] }) } }
    }

    /// U = G g G^T per (filter, channel), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], scaled per filter,
    /// laid out as [xi][channel tile][channel][filter in tile] (zero past the last filter).
    func transformWeights(_ weight: Tensor, scale: [Double]) -> Tensor {
        let g: [Double] = [1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1]
        var packed = Tensor(zeros: [16 * channelTiles * channels * channelTile])
        packed.withUnsafeMutableBufferPointer { p in
            weight.withUnsafeBufferPointer { w in
                let (output, input) = (Shared(p.baseAddress), Shared(w.baseAddress))
                concurrentPerform(filters) { filter in
                    guard let p = output.value, let w = input.value else { return }
                    for ic in 0..<channels {
                        let base = (filter * channels + ic) * 9
                        for i in 0..<4 {
                            for j in 0..<4 {
                                var u = 0.0
                                for r in 0..<3 { for s in 0..<3 { u += g[i * 3 + r] * Double(w[base + r * 3 + s]) * g[j * 3 + s] } }
                                u *= scale[filter]
                                let xi = i * 4 + j
                                let target = ((xi * channelTiles + filter / channelTile) * channels + ic) * channelTile + filter % channelTile
                                p[target] = Float(u)
                            }
                        }
                    }
                }
            }
        }
        return packed
    }
}
