import CLLVM
import LowpassIR

/// What a kernel argument points at when the model runs.
enum Operand: Hashable {
    /// An intermediate or graph input/output tensor in the arena (a memory-plan buffer id).
    case buffer(Int)
    /// A tensor prepared at compile time (repacked weights, folded BatchNorm scales).
    case constant(Int)
    /// A parameter used in place from the (memory-mapped) weight file.
    case weight(String)
}

/// One generated function and how to call it: its arguments, its number of independent work items,
/// and what it computes, for `--print-kernels` and the profile.
protocol Kernel {
    /// Family and fusion, e.g. `conv3x3+bn+add+relu` or `maxblurpool`.
    var kind: String { get }
    /// The graph nodes it computes, in order.
    var nodes: [String] { get }
    /// Arguments in the order `emitItem` reads them with `Emitter.argument(_:)`.
    var arguments: [Operand] { get }
    /// The buffer it writes.
    var output: Int { get }
    var workItems: Int { get }
    /// Floating-point operations (a multiply-add counts two) and bytes moved, for the bench's rates.
    var flops: Double { get }
    var bytes: Double { get }
    /// Floats of per-thread working memory each work item may use (`Emitter.scratch`).
    var scratchFloats: Int { get }
    /// The images (batch entries) the work items are ordered by: items `i * workItems / images ..<
    /// (i + 1) * workItems / images` compute image `i` alone and touch only image `i` of every buffer
    /// the kernel reads or writes, so the kernel can run image by image (`ImageSchedule`). 1 where
    /// items mix images.
    var images: Int { get }
    /// Emits the code that computes work item `item`.
    func emitItem(_ e: Emitter, _ item: Value)
}

extension Kernel {
    var scratchFloats: Int { 0 }
    var images: Int { 1 }

    /// Everything the generated code depends on: the kernel without its graph nodes and buffers (which
    /// reach the code only as argument pointers). Kernels with equal keys share one function, so a
    /// network's repeated blocks are compiled once.
    var codeKey: String {
        let fields = Mirror(reflecting: self).children.filter { !["nodes", "arguments", "output"].contains($0.label ?? "") }
        return "\(type(of: self))(" + fields.map { "\($0.label ?? ""): \($0.value)" }.joined(separator: ", ") + ")"
    }

    func emit(_ e: Emitter, name: String) {
        e.kernel(name) { begin, end in e.loop(begin, end) { item in emitItem(e, item) } }
    }
}

/// The activations a producer applies in its epilogue.
enum Activation: Hashable, CustomStringConvertible {
    case relu
    case clip(Double, Double)

    func apply(_ e: Emitter, _ v: Value) -> Value {
        switch self {
        case .relu: return e.fmax(v, e.constant(0, like: v))
        case .clip(let low, let high): return e.fmin(e.fmax(v, e.constant(low, like: v)), e.constant(high, like: v))
        }
    }

    var description: String {
        switch self {
        case .relu: return "relu"
        case .clip(let low, let high): return "clip(\(low),\(high))"
        }
    }
}

/// The register tile the packed conv and the Winograd kernels share: `vectors` vectors of outputs x
/// `channels` output channels, accumulating in 12 of AVX2's 16 registers (24 of AVX-512's 32) while
/// the others hold the operands. A work item first packs its vectors' inputs, `floatsPerLane` floats
/// per output lane, into scratch; the tile narrows until that patch stays inside L2 (96K floats of
/// Zen 3's 512 KiB).
struct RegisterTile {
    var vectors: Int, channels: Int

    init(vectorsInMap: Int, floatsPerLane: Int, filters: Int, target: Target) {
        var vectors = min(vectorsInMap, Self.maxVectors(target))
        while vectors > 1 && floatsPerLane * vectors * target.lanes > 96 * 1024 { vectors -= 1 }
        self.vectors = vectors
        channels = min(filters, Self.accumulators(target) / vectors)
    }

    static func accumulators(_ target: Target) -> Int { target.vectorRegisters == 32 ? 24 : 12 }
    static func maxVectors(_ target: Target) -> Int { target.vectorRegisters == 32 ? 4 : 3 }

    /// How many work items the channel tiles of one patch are split into: enough that the kernel has
    /// about 16 items, so every thread has work and the threads end together.
    static func chunks(channelTiles: Int, items: Int) -> Int { min(channelTiles, max(1, ceilDiv(16, items))) }
}

/// The end of every conv kernel for one vector of outputs: the residual (same layout as the output)
/// added, the activation applied, one store.
func storeConvOutput(_ e: Emitter, _ value: Value, residual: Value?, activation: Activation?, to base: Value, at index: Value, mask: Value?) {
    var v = value
    if let residual { v = e.fadd(v, e.loadVector(residual, index, mask: mask)) }
    if let activation { v = activation.apply(e, v) }
    e.storeVector(v, base, index, mask: mask)
}

/// What an index outside `0..<extent` reads: the mirror image without repeating the edge (reflect), the
/// edge (replicate), or nothing, the caller supplying a constant (zero). BlurPool and Pad share it.
extension BlurPadMode {
    /// The index to read, always inside (so the load is safe even for maps smaller than their
    /// padding), and whether `index` itself was inside.
    func resolve(_ e: Emitter, _ index: Value, extent: Int) -> (index: Value, inside: Value) {
        let inside = e.and(e.compare(LLVMIntSGE, index, e.int(0)), e.compare(LLVMIntSLT, index, e.int(extent)))
        switch self {
        case .replicate, .zero:
            return (e.clamp(index, 0, extent - 1), inside)
        case .reflect:
            let mirrored = e.select(e.compare(LLVMIntSLT, index, e.int(0)), e.sub(e.int(0), index), e.sub(e.int(2 * (extent - 1)), index))
            return (e.clamp(e.select(inside, index, mirrored), 0, extent - 1), inside)
        }
    }
}

/// Splits a flat work-item index into coordinates, innermost last: `[n, t] = split(item, [N, T])`.
func split(_ e: Emitter, _ index: Value, _ extents: [Int]) -> [Value] {
    var coordinates: [Value] = []
    var rest = index
    for extent in extents.dropFirst().reversed() {
        coordinates.append(e.rem(rest, extent))
        rest = e.div(rest, extent)
    }
    coordinates.append(rest)
    return coordinates.reversed()
}

/// Ceiling division of non-negative integers.
func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }
