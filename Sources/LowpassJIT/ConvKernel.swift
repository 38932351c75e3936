import CLLVM
import LowpassIR
import LowpassTensor

/// Direct convolution with a register tile of `channelTile` output channels x `pixelVectors` vectors of
/// output pixels, accumulated over the whole input-channel reduction without leaving registers.
/// Weights are repacked at compile time so that the tile's weights for one (tap, input channel) are
/// consecutive broadcasts; BatchNorm is folded into them. The epilogue adds bias and residual and
/// applies the activation before the single store.
///
/// Arguments: input, output, packed weights, bias, then the residual if any.
struct ConvKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var batch: Int, channels: Int, filters: Int, groups: Int
    var window: WindowAddressing
    var hasResidual: Bool
    var activation: Activation?
    var channelTile: Int, pixelVectors: Int
    var lanes: Int

    var channelsPerGroup: Int { channels / groups }
    var filtersPerGroup: Int { filters / groups }
    var channelTiles: Int { ceilDiv(filtersPerGroup, channelTile) }
    var taps: Int { window.geometry.kernel[0] * window.geometry.kernel[1] }

    init(nodes: [String], input: Operand, output: Int, weights: Operand, bias: Operand, residual: Operand?,
         batch: Int, channels: Int, filters: Int, groups: Int, window: WindowAddressing, activation: Activation?, host: HostTarget) {
        self.nodes = nodes
        self.arguments = [input, .buffer(output), weights, bias] + (residual.map { [$0] } ?? [])
        self.output = output
        (self.batch, self.channels, self.filters, self.groups) = (batch, channels, filters, groups)
        self.window = window
        hasResidual = residual != nil
        self.activation = activation
        lanes = host.lanes
        (channelTile, pixelVectors) = Self.tile(filtersPerGroup: filters / groups, pixels: window.pixels, host: host)
    }

    /// Fills the vector registers with accumulators, leaving room for the loaded inputs and broadcasts.
    static func tile(filtersPerGroup: Int, pixels: Int, host: HostTarget) -> (channels: Int, vectors: Int) {
        let accumulators = host.vectorRegisters == 32 ? 24 : 12
        let vectorsInMap = ceilDiv(pixels, host.lanes)
        if filtersPerGroup == 1 { return (1, min(vectorsInMap, 4)) }
        let vectors = min(vectorsInMap, host.vectorRegisters == 32 ? 4 : 3)
        return (min(filtersPerGroup, accumulators / vectors), vectors)
    }

    var kind: String {
        let g = window.geometry
        var name = "conv\(g.kernel[0])x\(g.kernel[1])"
        if g.strides != [1, 1] { name += "/s\(g.strides[0])" }
        if groups > 1 { name += groups == channels ? " depthwise" : " g\(groups)" }
        if hasResidual { name += "+add" }
        if let activation { name += "+\(activation)" }
        return name + " [tile \(channelTile)ch x \(pixelVectors)x\(lanes)px]"
    }

    var pixelTiles: Int { ceilDiv(window.pixels, pixelVectors * lanes) }
    /// Consecutive items share a pixel tile, so its input strip stays in cache across channel tiles.
    var workItems: Int { batch * pixelTiles * groups * channelTiles }
    var flops: Double { 2 * Double(batch * filters * window.pixels * channelsPerGroup * taps) }
    var bytes: Double {
        let inputs = channels * window.height * window.width
        let outputs = filters * window.pixels * (hasResidual ? 2 : 1)
        return 4 * Double(batch * (inputs + outputs) + filters * channelsPerGroup * taps)
    }

    func emitItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [batch, pixelTiles, groups, channelTiles])
        let (n, tile, group, channelTileIndex) = (c[0], c[1], c[2], c[3])
        let (input, out, weights, bias) = (e.argument(0), e.argument(1), e.argument(2), e.argument(3))
        let residual = hasResidual ? e.argument(4) : nil
        let planeSize = window.height * window.width, pixels = window.pixels

        let vectors = window.pixelVectors(e, first: e.mul(tile, pixelVectors * lanes), count: pixelVectors)
        let accumulators = (0..<(channelTile * pixelVectors)).map { _ in e.local(e.vector(0)) }
        let inputBase = e.address(input, e.mul(e.add(e.mul(n, channels), e.mul(group, channelsPerGroup)), planeSize))
        let tileWeights = e.address(weights, e.mul(e.add(e.mul(group, channelTiles), channelTileIndex), taps * channelsPerGroup * channelTile))

        e.loop(window.geometry.kernel[0]) { ky in
            e.loop(window.geometry.kernel[1]) { kx in
                let tap = window.tap(e, vectors, ky: ky, kx: kx)
                let tapWeights = e.address(tileWeights, e.mul(e.add(e.mul(ky, window.geometry.kernel[1]), kx), channelsPerGroup * channelTile))
                window.withTap(e, tap) { masked in
                    e.loop(channelsPerGroup) { ic in
                        let plane = e.address(inputBase, e.mul(ic, planeSize))
                        let x = (0..<pixelVectors).map { window.load(e, plane, tap, $0, masked: masked, padding: 0) }
                        let w = e.address(tapWeights, e.mul(ic, channelTile))
                        for o in 0..<channelTile {
                            let broadcast = e.splat(e.load(w, e.int(o)))
                            for j in 0..<pixelVectors {
                                let acc = accumulators[o * pixelVectors + j]
                                e.set(acc, e.fma(broadcast, x[j], e.get(acc)))
                            }
                        }
                    }
                }
            }
        }

        let fullTiles = pixels % (pixelVectors * lanes) == 0
        for o in 0..<channelTile {
            let filterInGroup = e.add(e.mul(channelTileIndex, channelTile), o)
            let store = {
                let filter = e.add(e.mul(group, filtersPerGroup), filterInGroup)
                let shift = e.splat(e.load(bias, filter))
                let plane = e.mul(e.add(e.mul(n, filters), filter), pixels)
                for j in 0..<pixelVectors {
                    let index = e.add(plane, vectors[j].first)
                    let mask = fullTiles ? nil : vectors[j].valid
                    var v = e.fadd(e.get(accumulators[o * pixelVectors + j]), shift)
                    if let residual { v = e.fadd(v, e.loadVector(residual, index, mask: mask)) }
                    if let activation { v = activation.apply(e, v) }
                    e.storeVector(v, out, index, mask: mask)
                }
            }
            if filtersPerGroup % channelTile == 0 {
                store()
            } else {
                e.when(e.compare(LLVMIntSLT, filterInGroup, e.int(filtersPerGroup)), then: store)
            }
        }
    }

    /// Weights [M, C/g, kh, kw], scaled per filter, as [group][channel tile][ky][kx][c][filter in tile];
    /// the tile is zero-padded past the group's last filter.
    func pack(_ weight: Tensor, scale: [Double]) -> Tensor {
        let (kh, kw) = (window.geometry.kernel[0], window.geometry.kernel[1])
        let cpg = channelsPerGroup, fpg = filtersPerGroup, tileSize = channelTile
        var packed = Tensor(zeros: [groups * channelTiles * taps * cpg * tileSize])
        packed.withUnsafeMutableBufferPointer { p in
            weight.withUnsafeBufferPointer { w in
                for g in 0..<groups {
                    for t in 0..<channelTiles {
                        for o in 0..<tileSize where t * tileSize + o < fpg {
                            let filter = g * fpg + t * tileSize + o
                            for ic in 0..<cpg {
                                for ky in 0..<kh {
                                    for kx in 0..<kw {
                                        let source = ((filter * cpg + ic) * kh + ky) * kw + kx
                                        let target = ((((g * channelTiles + t) * kh + ky) * kw + kx) * cpg + ic) * tileSize + o
                                        p[target] = Float(Double(w[source]) * scale[filter])
                                    }
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
