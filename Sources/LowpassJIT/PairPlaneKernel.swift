import CLLVM

/// A bf16 conv's input rounded once to bfloat16 pairs: per image, plane `p` holds channels 2p and
/// 2p + 1 as pairs (`BFloat16.swift`), the even channel in each lane's low half, zeros past an odd
/// channel count. A conv reading it (`ConvKernel.readsPairPlanes`) fills its patch by copying 32-bit
/// lanes with the masks and gathers of an fp32 patch, instead of rounding and interleaving two float
/// vectors per tap: a 3x3 conv rounds each input value once, not nine times (docs/performance.md,
/// "bf16: the input rounded once").
struct PairPlaneKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var batch: Int, channels: Int, pixels: Int

    /// Floats after each image's planes, which a 1x1 conv's last pixel tile reads past the map
    /// (`ConvKernel.readsInPlace`): a tile's pixels at most.
    static let slack = 64
    var pairs: Int { ceilDiv(channels, 2) }
    var imageSize: Int { Self.imageSize(channels: channels, pixels: pixels) }
    /// Floats of one image's planes and slack, for `channels` channels of `pixels` pixels; in code, for a
    /// number of `pairs` the code reads.
    static func imageSize(channels: Int, pixels: Int) -> Int { ceilDiv(channels, 2) * pixels + slack }
    static func imageSize(_ e: Emitter, pairs: Value, pixels: Int) -> Value { e.add(e.mul(pairs, pixels), e.int(slack)) }
    var kind: String { "bf16 pairs" }
    var workItems: Int { batch * pairs }
    var images: Int { batch }
    var flops: Double { 0 }
    var bytes: Double { 4 * Double(batch * (channels * pixels + imageSize)) }

    /// One plane of pairs.
    func emitItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [batch, pairs])
        let (n, pair) = (c[0], c[1])
        let odd = e.add(e.mul(pair, 2), e.int(1))
        let oddPresent = e.splatMask(e.compare(LLVMIntSLT, odd, e.int(channels)))
        func plane(_ channel: Value) -> Value { e.address(e.operandArgument(0), e.mul(e.add(e.mul(n, channels), channel), pixels)) }
        let (evenPlane, oddPlane) = (plane(e.mul(pair, 2)), plane(e.minimum(odd, e.int(channels - 1))))
        let out = e.address(e.outputArgument, e.add(e.mul(n, imageSize), e.mul(pair, pixels)))
        e.forEachVector(pixels) { x, partial in
            let oddMask = partial.map { e.and($0, oddPresent) } ?? oddPresent
            let values = e.bfloat16Pairs(even: e.loadVector(evenPlane, x, mask: partial), odd: e.loadVector(oddPlane, x, mask: oddMask))
            e.storeVector(values, out, x, mask: partial)
        }
        // Finite values where the last tile's lanes past the map read.
        e.when(e.compare(LLVMIntEQ, pair, e.int(pairs - 1))) {
            e.forEachVector(Self.slack) { x, _ in e.storeVector(e.vector(0), e.address(out, e.int(pixels)), x) }
        }
    }
}
