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
    public var host: HostTarget = .current

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
}

typealias KernelFunction = @convention(c) (UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?, Int64, Int64) -> Void

/// A graph compiled for fixed input shapes: native kernels, their argument tables over one arena,
/// and the compile-time constants (repacked weights). Running it allocates nothing.
public final class CompiledModel: @unchecked Sendable {
    public let kernels: [KernelSummary]
    public let inputShapes: [String: [Int]]
    public let outputNames: [String]
    public let compileSeconds: Double
    public let arenaBytes: Int
    public let unplannedBytes: Int
    public let threads: Int

    private let session: JITSession
    private let functions: [KernelFunction]
    private let argumentTables: [UnsafeMutablePointer<UnsafeMutablePointer<Float>?>]
    private let workItems: [Int]
    private let arena: TensorBuffer
    private let constants: [Tensor]
    private let weights: Weights
    private let inputs: [(name: String, offset: Int, shape: [Int])]
    private let outputs: [(name: String, offset: Int, shape: [Int])]
    private let lock = NSLock()

    /// Lowers, optimizes (LLVM -O3) and JIT-compiles `graph` for inputs of `inputShapes`.
    public init(graph: Graph, weights: Weights, inputShapes: [String: [Int]], options: CompileOptions = CompileOptions()) throws(Diagnostics) {
        let start = DispatchTime.now()
        let lowered = try Lowering.lower(graph, weights: weights, inputShapes: inputShapes, host: options.host)
        let plan = MemoryPlan(lowered)
        let names = lowered.kernels.enumerated().map { index, kernel in
            "k\(index)_" + String(kernel.kind.map { $0.isLetter || $0.isNumber ? $0 : "_" }.prefix(40))
        }
        do throws(JITError) {
            let module = try LLVMModule(name: graph.name, host: options.host)
            let emitter = Emitter(module: module)
            for (kernel, name) in zip(lowered.kernels, names) { kernel.emit(emitter, name: name) }
            try module.verify()
            try module.optimize()
            if let directory = options.emitLLVM { try Self.write(module.textualIR, to: directory, file: "model.ll") }
            if let directory = options.emitAssembly { try Self.write(try module.assembly(), to: directory, file: "model.s") }
            let compiled = try module.compile()
            session = compiled
            functions = try names.map { name throws(JITError) in
                let address = try compiled.address(of: name)
                guard let pointer = UnsafeRawPointer(bitPattern: UInt(address)) else { throw JITError("kernel \(name) has no address") }
                return unsafeBitCast(pointer, to: KernelFunction.self)
            }
        } catch {
            throw Diagnostics([Diagnostic("jit", error.message)])
        }

        arena = TensorBuffer(count: max(plan.size, 1))
        constants = lowered.constants
        self.weights = weights
        let arenaPointer = arena.pointer
        argumentTables = lowered.kernels.map { kernel in
            let table = UnsafeMutablePointer<UnsafeMutablePointer<Float>?>.allocate(capacity: kernel.arguments.count)
            for (i, argument) in kernel.arguments.enumerated() {
                switch argument {
                case .buffer(let b): table[i] = arenaPointer + plan.offsets[b]
                case .constant(let c): table[i] = lowered.constants[c].buffer.pointer
                case .weight(let name): table[i] = weights.tensors[name]?.buffer.pointer
                }
            }
            return table
        }
        workItems = lowered.kernels.map(\.workItems)
        kernels = zip(lowered.kernels, names).map { kernel, name in
            KernelSummary(name: name, kind: kernel.kind, nodes: kernel.nodes, workItems: kernel.workItems, flops: kernel.flops, bytes: kernel.bytes)
        }
        inputs = lowered.inputs.map { ($0.name, plan.offsets[$0.buffer], $0.shape) }
        outputs = lowered.outputs.map { ($0.name, plan.offsets[$0.buffer], $0.shape) }
        self.inputShapes = Dictionary(uniqueKeysWithValues: lowered.inputs.map { ($0.name, $0.shape) })
        outputNames = lowered.outputs.map(\.name)
        arenaBytes = plan.size * 4
        unplannedBytes = plan.unplannedSize * 4
        threads = max(options.threads, 1)
        compileSeconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    deinit { for table in argumentTables { table.deallocate() } }

    private static func write(_ text: String, to directory: String, file: String) throws(JITError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try writeAtomically(Data(text.utf8), to: (directory as NSString).appendingPathComponent(file))
        } catch {
            throw JITError("cannot write \(file) to \(directory): \(error)")
        }
    }

    /// Runs the model; `profile`, when given, receives each kernel's seconds.
    public func run(_ given: [String: Tensor], profile: ((Int, Double) -> Void)? = nil) throws(Diagnostics) -> [String: Tensor] {
        var findings: [Diagnostic] = []
        for input in inputs {
            guard let tensor = given[input.name] else {
                findings.append(Diagnostic("missing-input", "no tensor given for graph input '\(input.name)'")); continue
            }
            if tensor.shape != input.shape {
                findings.append(Diagnostic("input-shape", "input '\(input.name)' has shape \(tensor.shape); this compiled model takes \(input.shape)"))
            }
        }
        guard findings.isEmpty else { throw Diagnostics(findings) }
        lock.lock()
        defer { lock.unlock() }
        for input in inputs {
            let tensor = given[input.name]!
            (arena.pointer + input.offset).update(from: tensor.buffer.pointer, count: tensor.count)
        }
        for index in functions.indices {
            let start = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            dispatch(functions[index], argumentTables[index], workItems[index])
            if let profile { profile(index, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        var results: [String: Tensor] = [:]
        for output in outputs {
            var tensor = Tensor(zeros: output.shape)
            let source = arena.pointer + output.offset
            tensor.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: source, count: $0.count) }
            results[output.name] = tensor
        }
        return results
    }

    /// Splits a kernel's work items into contiguous chunks that the threads claim in turn.
    private func dispatch(_ function: KernelFunction, _ arguments: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>, _ items: Int) {
        let workers = min(threads, items)
        if workers <= 1 {
            function(arguments, 0, Int64(items))
            return
        }
        let chunks = min(items, workers * 4)
        let counter = ChunkCounter()
        let call = UncheckedCall(function: function, arguments: arguments)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let chunk = counter.next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard chunk < chunks else { return }
                call.function(call.arguments, Int64(chunk * items / chunks), Int64((chunk + 1) * items / chunks))
            }
        }
    }
}

/// The kernel call handed to the worker threads; the arena regions it touches are disjoint per chunk.
private struct UncheckedCall: @unchecked Sendable {
    let function: KernelFunction
    let arguments: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>
}

/// The next chunk to claim, shared by the worker threads.
private final class ChunkCounter: Sendable {
    let next = Atomic<Int>(0)
}
