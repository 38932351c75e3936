/// Places every intermediate buffer in one arena: two buffers share memory only if their lifetimes
/// (first write to last read, in kernel order) are disjoint. Greedy first fit in order of definition; a
/// buffer a kernel reads is never the one it writes, because both are live at that kernel, except the
/// argument a kernel may write over (`Kernel.inPlaceArgument`, a conv's residual) where that kernel is
/// its last reader. Graph inputs and outputs are not placed: the caller's tensors are used in place.
///
/// Under an `ImageSchedule`, a per-image buffer takes one image's room, its kernel-order lifetime holding
/// within each image's pass; a whole-batch buffer that the image-by-image kernels touch lives through all
/// of them, since every image's pass reads or writes it.
struct MemoryPlan {
    /// Offsets in floats, aligned to a cache line.
    var offsets: [Int]
    var size: Int
    /// What the arena would need without reuse, for the report.
    var unplannedSize: Int
    /// Graph inputs and outputs: not in the arena, the caller's tensors are bound to them at each run.
    var external: Set<Int>

    static let alignment = 16

    /// `floats` rounded up to whole cache lines.
    static func aligned(_ floats: Int) -> Int { ceilDiv(floats, alignment) * alignment }

    init(_ model: LoweredModel, schedule: ImageSchedule) {
        let count = model.buffers.count
        var first = [Int](repeating: Int.max, count: count), last = [Int](repeating: -1, count: count)
        for (index, kernel) in model.kernels.enumerated() {
            first[kernel.output] = min(first[kernel.output], index)
            last[kernel.output] = max(last[kernel.output], index)
            // An argument may be written too (a conv's pair planes beside its output).
            for case .buffer(let b) in kernel.arguments {
                first[b] = min(first[b], index)
                last[b] = max(last[b], index)
            }
        }
        for index in schedule.kernels {
            let kernel = model.kernels[index]
            for case .buffer(let b) in kernel.arguments + [.buffer(kernel.output)] where !schedule.perImage.contains(b) {
                first[b] = min(first[b], schedule.kernels.lowerBound)
                last[b] = max(last[b], schedule.kernels.upperBound - 1)
            }
        }

        offsets = [Int](repeating: 0, count: count)
        size = 0
        let external = Set(model.inputs.map(\.buffer) + model.outputs.map(\.buffer))
        self.external = external
        unplannedSize = model.buffers.indices.reduce(0) { $0 + (external.contains($1) ? 0 : Self.aligned(model.buffers[$1].elements)) }
        // The argument whose memory an output takes over, by the output's buffer.
        var takesOver: [Int: Int] = [:]
        for (index, kernel) in model.kernels.enumerated() {
            guard let slot = kernel.inPlaceArgument, slot < kernel.arguments.count, case .buffer(let argument) = kernel.arguments[slot],
                  first[kernel.output] == index, last[argument] == index, argument != kernel.output,
                  !external.contains(argument), !external.contains(kernel.output),
                  kernel.arguments.filter({ $0 == .buffer(argument) }).count == 1,
                  schedule.floats(of: argument, in: model) == schedule.floats(of: kernel.output, in: model) else { continue }
            takesOver[kernel.output] = argument
        }

        var live: [(offset: Int, size: Int, last: Int)] = []
        for b in (0..<count).sorted(by: { first[$0] < first[$1] }) where first[b] != Int.max && !external.contains(b) {
            live.removeAll { $0.last < first[b] }
            live.sort { $0.offset < $1.offset }
            if let argument = takesOver[b], let block = live.firstIndex(where: { $0.offset == offsets[argument] && $0.last == first[b] }) {
                offsets[b] = offsets[argument]
                live[block].last = last[b]
                continue
            }
            let needed = Self.aligned(max(schedule.floats(of: b, in: model), 1))
            var offset = 0
            for block in live {
                if block.offset - offset >= needed { break }
                offset = max(offset, block.offset + block.size)
            }
            offsets[b] = offset
            size = max(size, offset + needed)
            live.append((offset, needed, last[b]))
        }
    }
}
