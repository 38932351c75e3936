import CLLVM
import Dispatch
import Foundation
import LowpassIR
import Synchronization

/// Turns kernels into machine code: each in an LLVM module (and context) of its own, on every core at
/// once, through the persistent `CompileCache`. A kernel's function is named after its cache key, so the
/// same code has the same name in every model and every run, and its object can be reused as it is.
struct KernelCompiler {
    var target: Target
    var cache: CompileCache?
    /// Whether to keep each function's optimized IR and assembly (`--emit-llvm`, `--emit-asm`); such a
    /// compile reads nothing from the cache, as a cached object has neither.
    var keepIR = false
    var keepAssembly = false
    /// Called with (kernels done, kernels in all) as each one finishes, from any thread, one call at a time.
    var progress: (@Sendable (Int, Int) -> Void)?

    /// How Lowpass asks LLVM for code; part of every cache key.
    static var recipe: String { Target.recipe }

    struct Function {
        var symbol: String
        var object: [UInt8]
        var ir: String?
        var assembly: String?
        var cached: Bool
        /// Seconds LLVM spent optimizing and generating this function's code (on one core); 0 when cached.
        var seconds: Double = 0
    }

    /// An emitted, not yet optimized module and its cache key. The module goes once it is compiled
    /// (or found to repeat another), so a network of hundreds of kernels does not hold every LLVM
    /// context to the end.
    private final class Emitted {
        var module: LLVMModule?
        let key: [UInt8]
        let symbol: String
        /// The size of its unoptimized bitcode: what compiling it will roughly cost.
        let size: Int

        init(module: LLVMModule, key: [UInt8], symbol: String, size: Int) {
            (self.module, self.key, self.symbol, self.size) = (module, key, symbol, size)
        }
    }

    /// One function per kernel; kernels whose IR is the same (they differ only in what the code does
    /// not read, such as the work-item count) get the same function, compiled once.
    func compile(_ kernels: [any Kernel]) throws(JITError) -> [Function] {
        let emitted = try parallelMap(kernels.count) { (index) throws(JITError) in try emit(kernels[index]) }
        var firstOfKey: [[UInt8]: Int] = [:]
        for (index, function) in emitted.enumerated() {
            if firstOfKey[function.key] == nil { firstOfKey[function.key] = index } else { function.module = nil }
        }
        // Largest first, so the cores do not wait at the end on one large function begun last.
        let unique = firstOfKey.values.sorted { (emitted[$0].size, $1) > (emitted[$1].size, $0) }
        let done = Mutex(0)
        let functions = try parallelMap(unique.count) { (i) throws(JITError) -> Function in
            let function = try compile(emitted[unique[i]])
            if let progress { done.withLock { count in count += 1; progress(count, unique.count) } }
            return function
        }
        let functionOfFirst = Dictionary(uniqueKeysWithValues: zip(unique, functions))
        return try emitted.map { (function) throws(JITError) -> Function in
            guard let index = firstOfKey[function.key], let compiled = functionOfFirst[index] else { throw JITError("a kernel was not compiled (a compiler bug)") }
            return compiled
        }
    }

    /// `body(0..<count)` on every core; the first error, if any, is thrown.
    private func parallelMap<T>(_ count: Int, _ body: (Int) throws(JITError) -> T) throws(JITError) -> [T] {
        // Each index's slot is written by the one thread that computes it.
        let slots = UnsafeMutableBufferPointer<Result<T, JITError>?>.allocate(capacity: count)
        slots.initialize(repeating: nil)
        defer { slots.deinitialize(); slots.deallocate() }
        // Target.host runs LLVM's one-time initialization; make sure it happened before the threads start.
        _ = Target.host
        withoutActuallyEscaping(body) { body in
            let shared = Shared((body, slots))
            DispatchQueue.concurrentPerform(iterations: count) { index in
                let (body, slots) = shared.value
                do throws(JITError) { slots[index] = .success(try body(index)) } catch { slots[index] = .failure(error) }
            }
        }
        return try slots.map { (result) throws(JITError) -> T in
            guard let result else { throw JITError("a kernel was not compiled (a compiler bug)") }
            return try result.get()
        }
    }

    private func emit(_ kernel: any Kernel) throws(JITError) -> Emitted {
        // The module's name and the function's are fixed while the key is taken, so the code is the same
        // for the same code whatever the model or the kernel's place in it.
        let module = try LLVMModule(name: "lowpass", target: target)
        let emitter = Emitter(module: module)
        kernel.code.emit(emitter, name: "kernel")
        let bitcode = module.bitcode
        let key = CompileCache.key(ir: bitcode, target: target, recipe: Self.recipe)
        let symbol = "lowpass_" + hex(Array(key.prefix(16)))
        guard let function = LLVMGetNamedFunction(module.module, "kernel") else { throw JITError("the emitted kernel has no function (a compiler bug)") }
        LLVMSetValueName2(function, symbol, symbol.utf8.count)
        return Emitted(module: module, key: key, symbol: symbol, size: bitcode.count)
    }

    private func compile(_ emitted: Emitted) throws(JITError) -> Function {
        defer { emitted.module = nil }
        guard let module = emitted.module else { throw JITError("kernel \(emitted.symbol) was compiled twice (a compiler bug)") }
        let (key, symbol) = (emitted.key, emitted.symbol)
        if !keepIR && !keepAssembly, let object = cache?.object(for: key) {
            return Function(symbol: symbol, object: object, cached: true)
        }
        let start = DispatchTime.now()
        try module.verify()
        try module.optimize()
        let object = try module.object()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        cache?.store(object, for: key)
        return Function(symbol: symbol, object: object, ir: keepIR ? module.textualIR : nil,
                        assembly: keepAssembly ? try module.assembly() : nil, cached: false, seconds: seconds)
    }
}
