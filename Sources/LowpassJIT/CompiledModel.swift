import Dispatch
import Foundation
import LowpassIR
import LowpassTensor
import Synchronization

public struct CompileOptions: Sendable {
    /// Threads a run uses (work items of each kernel are shared among them).
    public var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    /// Where to write the optimized module (`model.ll`) and its assembly (`model.s`), if anywhere.
    public var emitLLVM: String?
    public var emitAssembly: String?
    /// The CPU and instruction set the code is generated for (`Target.named("avx2")` for 8-lane code on
    /// an AVX-512 machine).
    public var target: Target = .host
    /// Stride-1 3x3 convs by Winograd F(4x4, 3x3) or F(2x2, 3x3) where that saves multiplies (maps of
    /// about 12x12 and more; 4x or 2.25x fewer, float error about 1e-6 relative on ResNets); off, every
    /// conv is direct.
    public var winograd = true
    /// Where the convolutions round (`Precision`): `bf16` rounds each conv's input and weights to
    /// bfloat16 and sums in fp32 (`vdpbf16ps` where the target has AVX512_BF16, the same sums by FMAs
    /// elsewhere), and computes no conv by Winograd. `Precision.automatic(for:)` picks one for a target.
    public var precision = Precision.f32
    /// Where compiled kernels are kept between runs; nil compiles every kernel afresh.
    public var cache: CompileCache?
    /// Called with (kernels compiled, kernels in all) as compilation goes, from any thread, one call at a time.
    public var progress: (@Sendable (Int, Int) -> Void)?

    public init() {}
}

/// One kernel as the runtime calls it.
public struct KernelSummary: Sendable {
    public var name: String
    public var kind: String
    public var nodes: [String]
    public var workItems: Int
    public var flops: Double
    public var bytes: Double
    /// Seconds LLVM took for this kernel's function, on the first kernel that uses it (0 on the others
    /// and where the function came from the compile cache).
    public var compileSeconds: Double = 0
}

typealias KernelFunction = @convention(c) (UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?, Int64, Int64, UnsafeMutablePointer<Float>?) -> Void

/// A graph compiled for fixed input shapes: native kernels, their argument tables over one arena,
/// and the compile-time constants (repacked weights). Running it allocates nothing.
public final class CompiledModel: @unchecked Sendable {
    public let kernels: [KernelSummary]
    public let inputShapes: [String: [Int]]
    public let compileSeconds: Double
    /// Distinct kernel functions, and how many of them came from the compile cache.
    public let functionCount: Int
    public let cachedFunctionCount: Int
    public let arenaBytes: Int
    public let unplannedBytes: Int
    public let threads: Int
    public let target: Target
    public let precision: Precision
    /// The kernels (indices into `kernels`) that run image by image, and the images: see `ImageSchedule`.
    public var imageByImage: (kernels: Range<Int>, images: Int) { (schedule.kernels, schedule.images) }

    private let session: JITSession
    private let functions: [KernelFunction]
    private let schedule: ImageSchedule
    /// Per kernel, its arguments' addresses: one table, or one per image for the image-by-image kernels
    /// (a per-image buffer is at the same place for every image).
    private let argumentTables: [[UnsafeMutablePointer<UnsafeMutablePointer<Float>?>]]
    private let arena: TensorBuffer
    /// Per-thread working memory: `threads` slices of `scratchFloats`.
    private let scratch: TensorBuffer
    private let scratchFloats: Int
    private let constants: [Tensor]
    private let weights: Weights
    private let inputs: [(name: String, buffer: Int, shape: [Int])]
    private let outputs: [(name: String, buffer: Int, shape: [Int])]
    /// Argument slots that point at a graph input or output, filled in by each run.
    private let externalSlots: [(kernel: Int, argument: Int, buffer: Int)]
    private let lock = NSLock()
    /// The threads beyond the caller's, started by the first run (under `lock`).
    private var team: ThreadTeam?
    /// The buffers of the last run's outputs, reused when the caller no longer holds them: a fresh
    /// allocation of a large output costs page faults on every run.
    private var recycled: [Int: TensorBuffer] = [:]

    /// Lowers, optimizes (`Target.pipeline`) and JIT-compiles `graph` for inputs of `inputShapes`.
    public init(graph: Graph, weights: Weights, inputShapes: [String: [Int]], options: CompileOptions = CompileOptions()) throws(Diagnostics) {
        let start = DispatchTime.now()
        let lowered = try Lowering.lower(graph, weights: weights, inputShapes: inputShapes, target: options.target, winograd: options.winograd,
                                           precision: options.precision)
        schedule = ImageSchedule(lowered)
        let plan = MemoryPlan(lowered, schedule: schedule)
        let shared = Self.sharedFunctions(lowered.kernels)
        let names = shared.functionOfKernel.map { shared.firstUses[$0].name }
        let compiled = try Self.compile(shared.firstUses, options: options)
        session = compiled.session
        functions = shared.functionOfKernel.map { compiled.functions[$0] }
        functionCount = compiled.distinct
        cachedFunctionCount = compiled.cached

        threads = max(options.threads, 1)
        target = options.target
        precision = options.precision
        scratchFloats = MemoryPlan.aligned(lowered.kernels.map(\.scratchFloats).max() ?? 0)
        let floats = plan.size.addingReportingOverflow(threads.multipliedReportingOverflow(by: scratchFloats).partialValue)
        guard !floats.overflow, floats.partialValue <= Limits.memoryBudget / 4 else {
            throw Diagnostics([Diagnostic(.memoryBudget, "the intermediates need \(String(format: "%.1f", Double(plan.size) / 262_144)) MiB, more than this machine's memory (\(Limits.memoryBudget >> 20) MiB, LOWPASS_MEMORY_BUDGET_MB)")])
        }
        arena = TensorBuffer(count: max(plan.size, 1))
        scratch = TensorBuffer(count: max(threads * scratchFloats, 1))
        constants = lowered.constants
        // The lowering's weights: the caller's plus the graph's inline constants.
        self.weights = lowered.weights
        (argumentTables, externalSlots) = try Self.argumentTables(lowered, plan: plan, schedule: schedule, arena: arena, names: names)
        var timed = Set<Int>()
        kernels = zip(lowered.kernels, zip(names, shared.functionOfKernel)).map { kernel, named in
            let (name, function) = named
            let seconds = timed.insert(function).inserted ? compiled.seconds[function] : 0
            return KernelSummary(name: name, kind: kernel.kind, nodes: kernel.nodes, workItems: kernel.workItems, flops: kernel.flops,
                                 bytes: kernel.bytes, compileSeconds: seconds)
        }
        inputs = lowered.inputs
        outputs = lowered.outputs
        self.inputShapes = Dictionary(uniqueKeysWithValues: lowered.inputs.map { ($0.name, $0.shape) })
        arenaBytes = plan.size * 4
        unplannedBytes = plan.unplannedSize * 4
        compileSeconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    /// One function per distinct kernel code (`codeKey`): kernels that differ only in their buffers
    /// share it. Returns, per kernel, its function's index, and each function's first kernel and name.
    private static func sharedFunctions(_ kernels: [any Kernel]) -> (functionOfKernel: [Int], firstUses: [(kernel: any Kernel, name: String)]) {
        var functionOfCode: [AnyHashable: Int] = [:]
        var firstUses: [(kernel: any Kernel, name: String)] = []
        let functionOfKernel = kernels.enumerated().map { index, kernel in
            let key = kernel.codeKey
            if let function = functionOfCode[key] { return function }
            functionOfCode[key] = firstUses.count
            firstUses.append((kernel, "k\(index)_" + String(kernel.functionKind.map { $0.isLetter || $0.isNumber ? $0 : "_" }.prefix(40))))
            return firstUses.count - 1
        }
        return (functionOfKernel, firstUses)
    }

    /// Compiles the functions (`KernelCompiler`), links them into a JIT session and writes the listings
    /// `options` asks for.
    private static func compile(_ kernels: [(kernel: any Kernel, name: String)], options: CompileOptions)
        throws(Diagnostics) -> (session: JITSession, functions: [KernelFunction], distinct: Int, cached: Int, seconds: [Double]) {
        let compiler = KernelCompiler(target: options.target, cache: options.cache, keepIR: options.emitLLVM != nil,
                                      keepAssembly: options.emitAssembly != nil, progress: options.progress)
        let result: (session: JITSession, functions: [KernelFunction], distinct: Int, cached: Int, seconds: [Double])
        let compiled: [KernelCompiler.Function]
        do throws(JITError) {
            compiled = try compiler.compile(kernels.map(\.kernel))
            let session = try JITSession(target: options.target)
            var linked = Set<String>()
            for function in compiled where linked.insert(function.symbol).inserted { try session.add(object: function.object, name: function.symbol) }
            let functions = try compiled.map { (function) throws(JITError) -> KernelFunction in
                let address = try session.address(of: function.symbol)
                guard let pointer = UnsafeRawPointer(bitPattern: UInt(address)) else { throw JITError("kernel \(function.symbol) has no address") }
                return unsafeBitCast(pointer, to: KernelFunction.self)
            }
            result = (session, functions, linked.count, Set(compiled.filter(\.cached).map(\.symbol)).count, compiled.map(\.seconds))
        } catch {
            throw Diagnostics([Diagnostic(.jitError, error.message)])
        }
        options.cache?.evict()
        // Each function under a line naming the kernel it is (functions are named by their code's hash).
        var listed = Set<String>()
        let distinct = zip(kernels, compiled).filter { listed.insert($1.symbol).inserted }
        func header(_ comment: String, _ kernel: (kernel: any Kernel, name: String), _ function: KernelCompiler.Function) -> String {
            "\(comment) \(kernel.name) (\(kernel.kernel.kind)) is @\(function.symbol)\n"
        }
        let listings = [(options.emitLLVM, "model.ll", distinct.map { header(";", $0, $1) + ($1.ir ?? "") }),
                        (options.emitAssembly, "model.s", distinct.map { header("#", $0, $1) + ($1.assembly ?? "") })]
        for case let (directory?, file, texts) in listings {
            do throws(Diagnostic) {
                try createFolder(directory, purpose: "listing folder")
                try writeAtomically(texts.joined(separator: "\n"), to: (directory as NSString).appendingPathComponent(file))
            } catch {
                throw Diagnostics([error])
            }
        }
        return result
    }

    /// Per kernel, the table of its arguments' addresses (one per image for image-by-image kernels),
    /// and the slots that graph inputs and outputs fill at each run.
    private static func argumentTables(_ lowered: LoweredModel, plan: MemoryPlan, schedule: ImageSchedule, arena: TensorBuffer, names: [String])
        throws(Diagnostics) -> ([[UnsafeMutablePointer<UnsafeMutablePointer<Float>?>]], [(kernel: Int, argument: Int, buffer: Int)]) {
        let arenaPointer = arena.pointer
        let external = plan.external
        var slots: [(kernel: Int, argument: Int, buffer: Int)] = []
        var tables: [[UnsafeMutablePointer<UnsafeMutablePointer<Float>?>]] = []
        for (k, kernel) in lowered.kernels.enumerated() {
            let images = schedule.kernels.contains(k) ? schedule.images : 1
            let perImage = (0..<images).map { _ in UnsafeMutablePointer<UnsafeMutablePointer<Float>?>.allocate(capacity: kernel.arguments.count) }
            tables.append(perImage)
            for (i, argument) in kernel.arguments.enumerated() {
                if case .buffer(let b) = argument, external.contains(b) { slots.append((k, i, b)) }
                for (image, table) in perImage.enumerated() {
                    switch argument {
                    case .buffer(let b) where external.contains(b): table[i] = nil
                    case .buffer(let b) where schedule.perImage.contains(b):
                        // The kernel adds image * (one image's floats) itself: the table points that far
                        // before the slot, so every image lands in it.
                        table[i] = arenaPointer + plan.offsets[b] - image * schedule.floats(of: b, in: lowered)
                    case .buffer(let b): table[i] = arenaPointer + plan.offsets[b]
                    case .constant(let c): table[i] = lowered.constants[c].buffer.pointer
                    case .weight(let name):
                        guard let tensor = lowered.weights.tensors[name] else {
                            tables.joined().forEach { $0.deallocate() }
                            throw Diagnostics([Diagnostic(.jitInternal, "kernel \(names[k]) reads parameter '\(name)', which has no data")])
                        }
                        table[i] = tensor.buffer.pointer
                    }
                }
            }
        }
        return (tables, slots)
    }

    deinit {
        team?.stop()
        for table in argumentTables.joined() { table.deallocate() }
    }

    /// Runs the model; `profile`, when given, receives each kernel's seconds.
    public func run(_ given: [String: Tensor], profile: ((Int, Double) -> Void)? = nil) throws(Diagnostics) -> [String: Tensor] {
        // Inputs are read in place; each output is a fresh tensor the kernels write directly. An output
        // that is an input (or another output) is that same tensor: tensors are copy-on-write values.
        var tensors: [Int: Tensor] = [:]
        var findings: [Diagnostic] = []
        for input in inputs {
            guard let tensor = given[input.name] else {
                findings.append(Diagnostic(.missingInput, "no tensor given for graph input '\(input.name)'")); continue
            }
            if tensor.shape != input.shape {
                findings.append(Diagnostic(.inputShape, "input '\(input.name)' has shape \(tensor.shape); this compiled model takes \(input.shape)"))
            }
            tensors[input.buffer] = tensor
        }
        guard findings.isEmpty else { throw Diagnostics(findings) }
        lock.lock()
        defer { lock.unlock() }
        if team == nil && threads > 1 { team = ThreadTeam(helpers: threads - 1) }
        for output in outputs where tensors[output.buffer] == nil {
            if var buffer = recycled.removeValue(forKey: output.buffer), isKnownUniquelyReferenced(&buffer) {
                tensors[output.buffer] = Tensor(shape: output.shape, buffer: buffer)
            } else {
                tensors[output.buffer] = Tensor(zeros: output.shape)
            }
        }
        // Every external buffer is an input or an output, all bound above.
        func bindExternals(_ bind: (Int) -> UnsafeMutablePointer<Float>?) {
            for slot in externalSlots {
                for table in argumentTables[slot.kernel] { table[slot.argument] = bind(slot.buffer) }
            }
        }
        bindExternals { tensors[$0]?.buffer.pointer }
        var seconds = [Double](repeating: 0, count: profile == nil ? 0 : functions.count)
        func call(_ index: Int, image: Int, items: Range<Int>) {
            let start = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            dispatch(functions[index], argumentTables[index][image], items)
            if profile != nil { seconds[index] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        }
        for image in 0..<schedule.images {
            for index in schedule.kernels { call(index, image: image, items: schedule.items(kernels[index].workItems, image: image)) }
        }
        for index in schedule.kernels.upperBound..<functions.count { call(index, image: 0, items: 0..<kernels[index].workItems) }
        if let profile { for (index, time) in seconds.enumerated() { profile(index, time) } }
        bindExternals { _ in nil }
        var results: [String: Tensor] = [:]
        for output in outputs {
            guard let tensor = tensors[output.buffer] else { continue }
            recycled[output.buffer] = tensor.buffer
            results[output.name] = tensor.reshaped(output.shape)
        }
        return results
    }

    /// Splits a kernel's work items into contiguous chunks that the team's threads claim in turn. Many
    /// small chunks (16 per thread) balance the threads when items cost unevenly or do not divide
    /// evenly, or a core is slow (measured: docs/performance.md, "Where the JIT's thresholds come from").
    private func dispatch(_ function: KernelFunction, _ arguments: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>, _ range: Range<Int>) {
        let (first, items) = (range.lowerBound, range.count)
        guard let team, min(threads, items) > 1 else {
            function(arguments, Int64(first), Int64(range.upperBound), scratch.pointer)
            return
        }
        team.run(ThreadTeam.Job(function: function, arguments: arguments, first: first, items: items, chunks: min(items, threads * 16),
                                scratch: scratch.pointer, scratchFloats: scratchFloats))
    }
}
