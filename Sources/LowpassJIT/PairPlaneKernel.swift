import CLLVM

/// A bf16 conv's input rounded once to bfloat16 pairs: per image, plane `p` holds channels 2p and
/// 2p + 1 as pairs (`BFloat16.swift`), the even channel in each lane's low half, zeros past an odd
/// channel count. A conv reading it (`ConvKernel.readsPairPlanes`) fills its patch by copying 32-bit
/// lanes with the masks and gathers of an fp32 patch, instead of rounding and interleaving two float
/// vectors per tap: a 3x3 conv rounds each input value once, not nine times (docs/performance.md,
/// "bf16: the input rounded once"). With `padding`, each plane has the conv's zero border written
/// around the map, so a conv with lanes over filters (`FilterLaneConvKernel`) reads every tap of
/// every pixel in place without a test.
struct PairPlaneKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var batch: Int, channels: Int, height: Int, width: Int
    /// Zero rows and columns around the map: top, left, bottom, right.
    var padding = [0, 0, 0, 0]

    /// The planes of `channels` maps of `height` x `width` with `padding`, before lowering gives them a
    /// buffer and a source (or as the layout a conv's epilogue writes).
    init(nodes: [String] = [], batch: Int, channels: Int, height: Int, width: Int, padding: [Int] = [0, 0, 0, 0]) {
        (self.nodes, arguments, output) = (nodes, [], 0)
        (self.batch, self.channels, self.height, self.width, self.padding) = (batch, channels, height, width, padding)
    }

    /// Floats after each image's planes, which a 1x1 conv's last pixel tile reads past the map
    /// (`ConvKernel.readsInPlace`): a tile's pixels at most.
    static let slack = 64
    var pairs: Int { ceilDiv(channels, 2) }
    var paddedHeight: Int { height + padding[0] + padding[2] }
    var paddedWidth: Int { width + padding[1] + padding[3] }
    /// Pairs (floats) of one plane, its border included.
    var planeSize: Int { paddedHeight * paddedWidth }
    var isPadded: Bool { padding.contains { $0 != 0 } }
    var imageSize: Int { Self.imageSize(channels: channels, pixels: planeSize) }
    /// Floats of one image's planes and slack, for `channels` channels of `pixels` pixels; in code, for a
    /// number of `pairs` the code reads.
    static func imageSize(channels: Int, pixels: Int) -> Int { ceilDiv(channels, 2) * pixels + slack }
    static func imageSize(_ e: Emitter, pairs: Value, pixels: Int) -> Value { e.add(e.mul(pairs, pixels), e.int(slack)) }
    var kind: String { isPadded ? "bf16 pairs padded" : "bf16 pairs" }
    var workItems: Int { batch * pairs }
    var images: Int { batch }
    var flops: Double { 0 }
    var bytes: Double { 4 * Double(batch * (channels * height * width + imageSize)) }

    /// One plane of pairs.
    func emitItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [batch, pairs])
        let (n, pair) = (c[0], c[1])
        let odd = e.add(e.mul(pair, 2), e.int(1))
        let oddPresent = e.splatMask(e.compare(LLVMIntSLT, odd, e.int(channels)))
        let pixels = height * width
        func plane(_ channel: Value) -> Value { e.address(e.operandArgument(0), e.mul(e.add(e.mul(n, channels), channel), pixels)) }
        let (evenPlane, oddPlane) = (plane(e.mul(pair, 2)), plane(e.minimum(odd, e.int(channels - 1))))
        let out = e.address(e.outputArgument, e.add(e.mul(n, imageSize), e.mul(pair, planeSize)))
        func roundedPairs(at index: Value, mask: Value?) -> Value {
            let oddMask = mask.map { e.and($0, oddPresent) } ?? oddPresent
            return e.bfloat16Pairs(even: e.loadVector(evenPlane, index, mask: mask), odd: e.loadVector(oddPlane, index, mask: oddMask))
        }
        if isPadded {
            // Row by row of the padded plane: the lanes outside the map are zeros (pairs of +0).
            e.loop(paddedHeight) { paddedRow in
                let row = e.sub(paddedRow, e.int(padding[0]))
                let outRow = e.address(out, e.mul(paddedRow, paddedWidth))
                e.forEachVector(paddedWidth) { x, partial in
                    let column = e.sub(x, e.int(padding[1]))
                    var inside = e.spanInside(row: row, start: column, height: height, width: width)
                    if let partial { inside = e.and(inside, partial) }
                    e.storeVector(roundedPairs(at: e.add(e.mul(row, width), column), mask: inside), outRow, x, mask: partial)
                }
            }
        } else {
            e.forEachVector(pixels) { x, partial in e.storeVector(roundedPairs(at: x, mask: partial), out, x, mask: partial) }
        }
        // Finite values where the last tile's lanes past the map read.
        e.when(e.compare(LLVMIntEQ, pair, e.int(pairs - 1))) {
            e.forEachVector(Self.slack) { x, _ in e.storeVector(e.vector(0), e.address(out, e.int(planeSize)), x) }
        }
    }
}

/// A conv kernel whose epilogue can write its output as pair planes for the convs that read it: only
/// those (`.only`, in the output buffer) or beside the floats (`.alsoFloats`, to `pairsArgument`), with
/// the border the readers need (`pairsPadding`, zeros the kernel writes around each plane).
protocol PairsWritingKernel: Kernel {
    var pairsOutput: ConvKernel.PairsOutput { get set }
    var pairsPadding: [Int] { get set }
    var pairsArgument: Int { get }
    /// The layout of the pair planes written.
    var outputPlanes: PairPlaneKernel { get }
}

/// Where things sit in the planes of this layout, and the border's zeros, for every kernel that writes
/// or reads them.
extension PairPlaneKernel {
    /// Plane `pair` of image `image` in buffer `base`; `imageSize` where the channel count is read at
    /// run time (`ConvKernel.dimensionsAtRunTime`).
    func plane(_ e: Emitter, in base: Value, image: Value, pair: Value, imageSize: Value? = nil) -> Value {
        e.address(base, e.add(e.mul(image, imageSize ?? e.int(self.imageSize)), e.mul(pair, planeSize)))
    }

    /// Where the map's pixel (`row`, `column`) sits in a plane: past the top border's rows and the
    /// left border's columns.
    func offset(_ e: Emitter, row: Value, column: Value) -> Value {
        e.add(e.mul(e.add(row, e.int(padding[0])), paddedWidth), e.add(column, e.int(padding[1])))
    }

    /// Zeros in the border columns left of map row `row`.
    func zeroLeftBorder(_ e: Emitter, of plane: Value, row: Value) {
        zeros(e, plane, at: offset(e, row: row, column: e.int(-padding[1])), count: padding[1])
    }

    /// Zeros in the border columns right of map row `row`.
    func zeroRightBorder(_ e: Emitter, of plane: Value, row: Value) {
        zeros(e, plane, at: offset(e, row: row, column: e.int(width)), count: padding[3])
    }

    /// Zeros in the border rows above the map.
    func zeroTopBorder(_ e: Emitter, of plane: Value) { zeros(e, plane, at: e.int(0), count: padding[0] * paddedWidth) }

    /// Zeros in the border rows below the map.
    func zeroBottomBorder(_ e: Emitter, of plane: Value) {
        zeros(e, plane, at: e.int((padding[0] + height) * paddedWidth), count: padding[2] * paddedWidth)
    }

    private func zeros(_ e: Emitter, _ plane: Value, at offset: Value, count: Int) {
        if count > 0 { e.storeZeros(e.address(plane, offset), count: count) }
    }
}

extension Emitter {
    /// Zeros in `count` floats from `base`: a plane's border.
    func storeZeros(_ base: Value, count: Int) {
        forEachVector(count) { x, partial in storeVector(vector(0), base, x, mask: partial) }
    }
}
