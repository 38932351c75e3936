import CLLVM
import Foundation
import LowpassIR
import LowpassTensor

/// A compiled model as a library any C program links, with no Swift or LLVM at run time (`lowpass
/// compile`): the kernels' machine code (the same objects the JIT runs, through the same cache), the
/// repacked weights and constants embedded as one read-only blob, and a small generated C runtime that
/// lays out the arena, builds the argument tables, and calls the kernels in the JIT's order on a pool of
/// threads. The header declares `<name>_create(threads)`, `<name>_run(model, inputs, outputs)` and
/// `<name>_destroy(model)`, with every input's and output's name and shape.
public enum SharedLibrary {
    /// What `output`'s extension asks for: a shared library, a relocatable object, or a static archive.
    public enum Kind: String, CaseIterable, Sendable {
        case shared = "so", object = "o", archive = "a"

        public init?(path: String) { self.init(rawValue: (path as NSString).pathExtension) }
    }

    public struct Report: Sendable {
        public var kernels: Int
        public var functions: Int
        public var blobBytes: Int
        public var arenaBytes: Int
    }

    /// The code a library gets for `target`: no AMX, whose tile registers need a request to the kernel
    /// (`AMXTiles`) that the library's C runtime does not make.
    public static func libraryTarget(_ target: Target) -> Target { target.without("amx-tile") }

    /// Builds the library at `output` and its C header at `header`; `name` prefixes every exported symbol.
    public static func build(graph: Graph, weights: Weights, inputShapes: [String: [Int]], options: CompileOptions,
                             output: String, header: String, name: String) throws(Diagnostics) -> Report {
        guard let kind = Kind(path: output) else {
            throw Diagnostics([Diagnostic(.badOption, "the output must end in .so (a shared library), .o (an object) or .a (an archive)", at: SourceLocation(file: output))])
        }
        guard name.first.map({ $0.isLetter || $0 == "_" }) == true, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw Diagnostics([Diagnostic(.badOption, "the library name '\(name)' must be a C identifier (letters, digits, _)")])
        }
        var options = options
        options.target = Self.libraryTarget(options.target)
        let lowered = try Lowering.lower(graph, weights: weights, inputShapes: inputShapes, target: options.target, winograd: options.winograd,
                                           precision: options.precision)
        let schedule = ImageSchedule(lowered)
        let plan = MemoryPlan(lowered, schedule: schedule)
        let functions: [KernelCompiler.Function]
        let blob: Blob
        do throws(JITError) {
            functions = try KernelCompiler(target: options.target, cache: options.cache, progress: options.progress).compile(lowered.kernels)
            blob = try Blob(lowered, symbol: name + "_lowpass_blob", target: options.target)
        } catch {
            throw Diagnostics([Diagnostic(.jitError, error.message)])
        }
        let runtime = RuntimeSource(name: name, lowered: lowered, schedule: schedule, plan: plan, functions: functions, blob: blob, target: options.target)
        do throws(Diagnostic) {
            try link(kind, name: name, runtime: runtime.text, functions: functions, blob: blob.object, output: output)
            try writeAtomically(runtime.header(graph: graph.name), to: header)
        } catch {
            throw Diagnostics([error])
        }
        return Report(kernels: lowered.kernels.count, functions: Set(functions.map(\.symbol)).count, blobBytes: blob.bytes, arenaBytes: plan.size * 4)
    }

    /// Compiles the runtime with the system's C compiler and links it with the objects into `output`.
    static func link(_ kind: Kind, name: String, runtime: String, functions: [KernelCompiler.Function], blob: [UInt8], output: String) throws(Diagnostic) {
        let folder = NSTemporaryDirectory() + "lowpass-compile-" + UUID().uuidString
        try createFolder(folder, purpose: "build folder")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var objects: [String] = []
        var written = Set<String>()
        for function in functions where written.insert(function.symbol).inserted {
            let path = "\(folder)/\(function.symbol).o"
            try writeAtomically(Data(function.object), to: path)
            objects.append(path)
        }
        try writeAtomically(Data(blob), to: folder + "/blob.o")
        try writeAtomically(runtime, to: folder + "/runtime.c")
        objects += [folder + "/blob.o"]
        let exported = ["create", "run", "destroy"].map { "\(name)_\($0)" }
        let built = folder + "/out." + kind.rawValue
        switch kind {
        case .shared:
            try writeAtomically("{ global: \(exported.joined(separator: "; ")); local: *; };\n", to: folder + "/exports.map")
            try run("cc", ["-shared", "-O2", "-fPIC", "-std=c11", "-Wall", "-Wextra", "-o", built, folder + "/runtime.c"] + objects +
                    ["-Wl,--version-script=" + folder + "/exports.map", "-lpthread", "-lm"])
        case .object, .archive:
            // One relocatable object whose only global symbols are the API: two models' kernels can be linked into one program.
            try run("cc", ["-c", "-O2", "-fPIC", "-std=c11", "-Wall", "-Wextra", "-o", folder + "/runtime.o", folder + "/runtime.c"])
            let combined = kind == .object ? built : folder + "/model.o"
            try run("ld", ["-r", "-o", combined, folder + "/runtime.o"] + objects)
            try run("objcopy", exported.flatMap { ["--keep-global-symbol", $0] } + [combined])
            if kind == .archive { try run("ar", ["rcs", built, combined]) }
        }
        do {
            try writeAtomically(Data(contentsOf: URL(fileURLWithPath: built)), to: output)
        } catch let error as Diagnostic {
            throw error
        } catch {
            throw Diagnostic(.writeFailed, "cannot read the built library: \(error.localizedDescription)", at: SourceLocation(file: output))
        }
    }

    /// Runs a build tool found on PATH; its standard error becomes the diagnostic when it fails.
    static func run(_ tool: String, _ arguments: [String]) throws(Diagnostic) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw Diagnostic(.buildFailed, "cannot start \(tool): \(error.localizedDescription); `lowpass compile` needs a C compiler and binutils (apt-get install gcc)")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Diagnostic(.buildFailed, "\(tool) failed (status \(process.terminationStatus)): \(message.prefix(2000))")
        }
    }
}

/// Every compile-time constant and parameter the kernels read, each at a 64-byte aligned offset in
/// one read-only array, compiled into an object that defines it under `symbol`.
struct Blob {
    /// Float offsets of each constant (by index) and weight (by name) in the blob.
    var constantOffsets: [Int]
    var weightOffsets: [String: Int]
    var bytes: Int
    var object: [UInt8]

    init(_ lowered: LoweredModel, symbol: String, target: Target) throws(JITError) {
        var floats: [Float] = []
        func append(_ tensor: Tensor) -> Int {
            let offset = floats.count
            floats += tensor.values
            floats += [Float](repeating: 0, count: (16 - floats.count % 16) % 16)
            return offset
        }
        constantOffsets = lowered.constants.map(append)
        weightOffsets = [:]
        for kernel in lowered.kernels {
            for case .weight(let name) in kernel.arguments where weightOffsets[name] == nil {
                guard let tensor = lowered.weights.tensors[name] else { throw JITError("parameter '\(name)' has no data") }
                weightOffsets[name] = append(tensor)
            }
        }
        if floats.isEmpty { floats = [0] }
        bytes = floats.count * 4
        let module = try LLVMModule(name: "blob", target: target)
        let context = module.context
        let data = floats.withUnsafeBytes { raw in
            raw.withMemoryRebound(to: CChar.self) { LLVMConstStringInContext(context, $0.baseAddress, UInt32($0.count), 1) }
        }
        let global = LLVMAddGlobal(module.module, LLVMTypeOf(data), symbol)
        LLVMSetInitializer(global, data)
        LLVMSetGlobalConstant(global, 1)
        LLVMSetAlignment(global, 64)
        object = try module.object()
    }
}
