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
protocol Kernel: Hashable {
    /// Family and fusion, e.g. `conv3x3+bn+add+relu` or `maxblurpool`.
    var kind: String { get }
    /// The graph nodes it computes, in order.
    var nodes: [String] { get set }
    /// Arguments in the order `emitItem` reads them: for every kernel the buffer it writes first
    /// (`Emitter.outputArgument`), then its operands in the node's input order (`operandArgument(k)`).
    var arguments: [Operand] { get set }
    /// The buffer it writes.
    var output: Int { get set }
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
    /// An argument whose memory the output may take over when nothing reads it later: each of its
    /// elements is read only by the work item that writes the output's element at the same index, and
    /// before that write (a conv's residual). Writing over it spares the cache the lines a fresh output
    /// would first fetch (`MemoryPlan`). nil for most kernels.
    var inPlaceArgument: Int? { get }
    /// What the function a kernel shares with others computes, for its name: `kind`, less what the
    /// code reads at run time (a conv's ReLU bound).
    var functionKind: String { get }
    /// Emits the code that computes work item `item`.
    func emitItem(_ e: Emitter, _ item: Value)
    /// Integers the code reads at run time (`Emitter.runTimeInteger`) instead of as constants, so
    /// kernels that differ only in them share one function; lowering passes them in argument
    /// `runTimeIntegerArgument` (`passRunTimeIntegers`).
    var runTimeIntegers: [Int] { get }
    /// Where the run-time integers are among the arguments: the last by default. A kernel whose
    /// number of arguments is not part of its code (concat) names a fixed place.
    var runTimeIntegerArgument: Int { get }
    mutating func passRunTimeIntegers(_ table: Operand)
    /// Sets the fields `runTimeIntegers` carries to 0, so they are no part of the code's key and the
    /// shared code cannot read them as constants by mistake (a kernel that did would compute nothing).
    mutating func eraseRunTimeIntegers()
}

extension Kernel {
    var scratchFloats: Int { 0 }
    var images: Int { 1 }
    var inPlaceArgument: Int? { nil }
    var functionKind: String { kind }
    var runTimeIntegers: [Int] { [] }
    mutating func eraseRunTimeIntegers() {}
    var runTimeIntegerArgument: Int { arguments.count - 1 }
    mutating func passRunTimeIntegers(_ table: Operand) { arguments.append(table) }

    /// The kernel as its shared code sees it: with its run-time integers erased.
    var code: Self {
        var code = self
        code.eraseRunTimeIntegers()
        return code
    }

    /// Everything the generated code depends on: the kernel with its graph nodes and buffers cleared
    /// (they reach the code only as argument pointers) and its run-time integers erased. Kernels with equal keys share one function, so a
    /// network's repeated blocks are compiled once. Every other stored property is part of the key,
    /// so a new field can never be left out of it by mistake.
    var codeKey: AnyHashable {
        var code = self.code
        code.nodes = []
        code.arguments = []
        code.output = 0
        return AnyHashable(code)
    }

    func emit(_ e: Emitter, name: String) {
        e.runTimeIntegerArgument = runTimeIntegerArgument
        e.kernel(name) { begin, end in e.loop(begin, end) { item in emitItem(e, item) } }
    }
}

/// Splits a flat work-item index into coordinates, innermost last: `[n, t] = split(item, [N, T])`.
func split(_ e: Emitter, _ index: Value, _ extents: [Int]) -> [Value] { split(e, index, extents.map { e.int($0) }) }

/// `split` by extents that may be known only at run time.
func split(_ e: Emitter, _ index: Value, _ extents: [Value]) -> [Value] {
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

extension Emitter {
    /// Argument 0 of every kernel: the buffer it writes.
    var outputArgument: Value { argument(0) }
    /// Operand `k` (0-based, in the node's input order), which follows the output.
    func operandArgument(_ k: Int) -> Value { argument(k + 1) }
}
