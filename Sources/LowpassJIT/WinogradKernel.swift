import CLLVM
import LowpassIR
import LowpassTensor

/// Stride-1 3x3 convolution by Winograd's F(2x2, 3x3) (Lavin & Gray, 2016): each 2x2 block of outputs
/// comes from a 4x4 input tile as `A^T [(G g G^T) * (B^T d B)] A`, so the product costs 16 multiplies
/// per tile and channel pair instead of 36 (2.25x fewer). The transforms are additions only; the filter
/// transform is done once at compile time (BatchNorm folded in).
///
/// A work item takes `tileVectors` vectors of consecutive tiles (a lane is a tile; tiles are numbered
/// across tile rows, as the direct conv numbers pixels). It gathers and transforms their input tiles for
/// every input channel into per-thread scratch (the 16 transformed planes, `xi`), then for a range of
/// channel tiles runs 16 register-tiled products over that scratch, transforms the 16 results back and
/// scatters the 2x2 outputs with bias, residual and activation.
///
/// Arguments: input, output, transformed weights [xi][channel tile][c][filter in tile], bias, residual.
struct WinogradKernel: Kernel {
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
         activation: Activation?, host: HostTarget) {
        self.nodes = nodes
        arguments = [input, .buffer(output), weights, bias] + (residual.map { [$0] } ?? [])
        self.output = output
        (self.batch, self.channels, self.filters) = (batch, channels, filters)
        (self.height, self.width, self.outHeight, self.outWidth, self.pads) = (height, width, outHeight, outWidth, pads)
        hasResidual = residual != nil
        self.activation = activation
        lanes = host.lanes
        let tiles = ceilDiv(outHeight, 2) * ceilDiv(outWidth, 2)
        var vectors = min(ceilDiv(tiles, host.lanes), host.vectorRegisters == 32 ? 4 : 3)
        while vectors > 1 && 16 * channels * vectors * host.lanes > 96 * 1024 { vectors -= 1 }
        tileVectors = vectors
        channelTile = min(filters, (host.vectorRegisters == 32 ? 24 : 12) / vectors)
        let items = batch * ceilDiv(tiles, vectors * host.lanes)
        channelChunks = min(ceilDiv(filters, channelTile), max(1, ceilDiv(16, items)))
    }

    /// Whether a conv can run this way: 3x3, stride 1, no dilation, one group.
    static func applies(_ geometry: WindowGeometry, groups: Int, channels: Int, filters: Int) -> Bool {
        geometry.kernel == [3, 3] && geometry.strides == [1, 1] && geometry.dilations == [1, 1] && groups == 1
            && channels >= 8 && filters >= 8
    }

    var kind: String {
        var name = "winograd3x3"
        if hasResidual { name += "+add" }
        if let activation { name += "+\(activation)" }
        return name + " [F(2x2,3x3) \(channelTile)ch x \(tileVectors)x\(lanes) tiles]"
    }

    var tileRows: Int { ceilDiv(outHeight, 2) }
    var tileColumns: Int { ceilDiv(outWidth, 2) }
    var tiles: Int { tileRows * tileColumns }
    var tileGroups: Int { ceilDiv(tiles, tileVectors * lanes) }
    var channelTiles: Int { ceilDiv(filters, channelTile) }
    var workItems: Int { batch * tileGroups * channelChunks }
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

    /// The input tiles as the output of a 4x4 window with stride 2 over the padded input.
    private var window: WindowAddressing {
        WindowAddressing(height: height, width: width, outHeight: tileRows, outWidth: tileColumns,
                         geometry: WindowGeometry(kernel: [4, 4], strides: [2, 2], pads: pads, dilations: [1, 1]))
    }

    func emitItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [batch, tileGroups, channelChunks])
        let (n, group, chunk) = (c[0], c[1], c[2])
        let window = self.window
        let vectors = window.pixelVectors(e, first: e.mul(group, step), count: tileVectors)
        let transformed = e.scratch!, products = e.address(e.scratch!, e.int(16 * channels * step))
        let input = e.address(e.argument(0), e.mul(n, channels * height * width))

        // Input transform, V = B^T d B with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
        let taps = (0..<16).map { window.tap(e, vectors, ky: e.int($0 / 4), kx: e.int($0 % 4)) }
        e.loop(channels) { ic in
            let plane = e.address(input, e.mul(ic, height * width))
            for j in 0..<tileVectors {
                let d = taps.map { window.load(e, plane, $0, j, masked: true, padding: 0) }
                let v = transform4x4(e, d, Self.inputRows)
                for xi in 0..<16 { e.storeVector(v[xi], transformed, e.add(e.mul(e.add(e.mul(e.int(xi), channels), ic), step), j * lanes)) }
            }
        }

        let perChunk = ceilDiv(channelTiles, channelChunks)
        let first = e.mul(chunk, perChunk)
        e.loop(first, e.minimum(e.add(first, perChunk), e.int(channelTiles))) { channelTileIndex in
            // 16 products: M[xi] = U[xi] (filters x channels) * V[xi] (channels x tiles).
            e.loop(16) { xi in
                let accumulators = (0..<(channelTile * tileVectors)).map { _ in e.local(e.vector(0)) }
                let weights = e.address(e.argument(2), e.mul(e.add(e.mul(xi, channelTiles), channelTileIndex), channels * channelTile))
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

    /// Output transform, Y = A^T M A with A^T = [1 1 1 0; 0 1 -1 -1], and the epilogue; each lane's
    /// 2x2 block is scattered to its place (cells past the map's edge are not written).
    private func storeOutputs(_ e: Emitter, n: Value, channelTileIndex: Value, vectors: [WindowAddressing.PixelVector], products: Value) {
        let (out, bias) = (e.argument(1), e.argument(3))
        let residual = hasResidual ? e.argument(4) : nil
        for o in 0..<channelTile {
            let filter = e.add(e.mul(channelTileIndex, channelTile), o)
            let store = {
                let shift = e.splat(e.load(bias, filter))
                let plane = e.address(out, e.mul(e.add(e.mul(n, filters), filter), outHeight * outWidth))
                let residualPlane = residual.map { e.address($0, e.mul(e.add(e.mul(n, filters), filter), outHeight * outWidth)) }
                for (j, v) in vectors.enumerated() {
                    let m = (0..<16).map { xi in e.loadVector(products, e.int((xi * channelTile + o) * step + j * lanes)) }
                    let y = transform4x4(e, m, Self.outputRows)
                    for a in 0..<2 {
                        for b in 0..<2 {
                            let row = e.vadd(v.row, pads[0] + a), column = e.vadd(v.column, pads[1] + b)
                            let mask = e.and(v.valid, e.and(e.vcompare(LLVMIntSLT, row, e.intVectorConstant(outHeight)),
                                                            e.vcompare(LLVMIntSLT, column, e.intVectorConstant(outWidth))))
                            let index = e.add(e.vmul(row, outWidth), column)
                            var value = e.fadd(y[a * 2 + b], shift)
                            if let residualPlane { value = e.fadd(value, e.gather(residualPlane, index, mask: mask)) }
                            if let activation { value = activation.apply(e, value) }
                            e.scatter(value, plane, index, mask: mask)
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
        let g: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        var packed = Tensor(zeros: [16 * channelTiles * channels * channelTile])
        packed.withUnsafeMutableBufferPointer { p in
            weight.withUnsafeBufferPointer { w in
                for filter in 0..<filters {
                    for ic in 0..<channels {
                        let base = (filter * channels + ic) * 9
                        let kernel = (0..<9).map { Double(w[base + $0]) * scale[filter] }
                        for i in 0..<4 {
                            for j in 0..<4 {
                                var u = 0.0
                                for r in 0..<3 { for s in 0..<3 { u += g[i][r] * kernel[r * 3 + s] * g[j][s] } }
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
