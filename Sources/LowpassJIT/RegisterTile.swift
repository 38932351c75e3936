/// The register tile the packed conv and the Winograd kernels share: `vectors` vectors of outputs x
/// `channels` output channels, accumulating in 12 of AVX2's 16 registers (24 of AVX-512's 32) while
/// the others hold the operands. A work item first packs its vectors' inputs, `floatsPerLane` floats
/// per output lane, into scratch; the tile narrows until that patch stays inside L2 (96K floats of
/// Zen 3's 512 KiB). Of 4 vectors x 6 channels and 3 x 8, the one that computes fewer filters x
/// vectors past the map's: 64 filters are 11 tiles of 6 (66 computed) or 8 of 8, a 7x7 map one tile
/// of 4 vectors or two of 3 (docs/performance.md, "bf16: the input rounded once").
struct RegisterTile {
    var vectors: Int, channels: Int

    init(vectorsInMap: Int, floatsPerLane: Int, filters: Int, target: Target) {
        var vectors = min(vectorsInMap, Self.maxVectors(target))
        while vectors > 1 && floatsPerLane * vectors * target.lanes > 96 * 1024 { vectors -= 1 }
        let accumulators = Self.accumulators(target)
        func work(_ vectors: Int) -> Int {
            let channels = min(filters, accumulators / vectors)
            return ceilDiv(filters, channels) * channels * ceilDiv(vectorsInMap, vectors) * vectors
        }
        if vectors == 4 && work(3) < work(4) { vectors = 3 }
        self.vectors = vectors
        channels = min(filters, accumulators / vectors)
    }

    static func accumulators(_ target: Target) -> Int { target.vectorRegisters == 32 ? 24 : 12 }
    static func maxVectors(_ target: Target) -> Int { target.vectorRegisters == 32 ? 4 : 3 }

    /// How many work items the channel tiles of one patch are split into: enough that the kernel has
    /// about 16 items, so every thread has work and the threads end together.
    static func chunks(channelTiles: Int, items: Int) -> Int { min(channelTiles, max(1, ceilDiv(16, items))) }
}
