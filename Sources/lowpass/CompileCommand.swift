import ArgumentParser
import Foundation
import LowpassIR
import LowpassJIT
import LowpassTensor

/// `lowpass compile MODEL -o libmodel.so`: the model as a library and a C header, for a serving stack
/// that has neither Swift nor LLVM.
struct CompileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compile",
        abstract: "Compile a model ahead of time into a C library (.so, .o or .a) and header.",
        discussion: """
            The library holds the kernels' machine code (the same code `run` uses, for this CPU or --target), the repacked weights, and a small C runtime with a thread pool. Its header (NAME.h beside the library unless --header says otherwise) declares NAME_create(threads), NAME_run(model, inputs, outputs) and NAME_destroy(model), and each input's and output's shape.

            Shapes are fixed at compile time: a symbolic batch becomes --batch (default 1). Building needs the system's C compiler and binutils (cc, ld, objcopy, ar); running the library needs only libc and libm. docs/aot.md has a C program and a Python ctypes snippet that call it.
            """)

    @OptionGroup var file: ModelFile

    @Option(name: .shortAndLong, help: ArgumentHelp("The library to write: libNAME.so, NAME.o or libNAME.a.", valueName: "FILE"))
    var output: String

    @Option(help: ArgumentHelp("The C header to write (default: NAME.h beside the library).", valueName: "FILE"))
    var header: String?

    @Option(help: ArgumentHelp("The prefix of the exported functions (default: the library's file name without lib and extension).", valueName: "NAME"))
    var name: String?

    @Option(help: "The batch size a symbolic batch dimension is fixed to.")
    var batch: Int = 1

    @OptionGroup var jit: JITOptions

    func validate() throws {
        if jit.printKernels || jit.emitLLVM != nil || jit.emitAsm != nil {
            throw ValidationError("--print-kernels, --emit-llvm and --emit-asm are for run and bench; compile writes a library")
        }
        guard (1...1_000_000).contains(batch) else { throw ValidationError("--batch must be at least 1") }
        guard SharedLibrary.Kind(path: output) != nil else { throw ValidationError("-o must end in .so, .o or .a, got '\(output)'") }
    }

    /// `libresnet.so` -> `resnet`; characters C does not allow in names become `_`.
    var libraryName: String {
        if let name { return name }
        var base = ((output as NSString).lastPathComponent as NSString).deletingPathExtension
        if base.hasPrefix("lib") && base.count > 3 { base.removeFirst(3) }
        let cleaned = String(base.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
        return cleaned.first?.isNumber == false ? cleaned : "model_" + cleaned
    }

    func run() throws {
        let source = try readModel(file.model)
        var graph = source.graph
        do { _ = try graph.verify() } catch { throw fail(error.inFile(file.model)) }
        let loaded: Weights
        do { loaded = try source.weights(graphPath: file.model, weightsPath: file.weights) } catch { throw fail(error) }
        loaded.warnings.forEach(warn)
        var shapes: [String: [Int]] = [:]
        for i in graph.inputs.indices {
            let shape = graph.inputs[i].type.shape.enumerated().map { axis, dim -> Int in dim.value ?? (axis == 0 ? batch : -1) }
            guard shape.allSatisfy({ $0 >= 0 }) else {
                throw fail(Diagnostic(.symbolicDimension, "input '\(graph.inputs[i].name)' has symbolic dimensions past the batch (\(graph.inputs[i].type)); give it a fixed shape in the graph", at: SourceLocation(file: file.model)))
            }
            graph.inputs[i].type.shape = shape.map(Dim.fixed)
            shapes[graph.inputs[i].name] = shape
        }
        let headerPath = header ?? ((output as NSString).deletingLastPathComponent as NSString).appendingPathComponent(libraryName + ".h")
        do {
            var options = jit.compileOptions
            // `auto` asks what is fastest for the library's code, which has no AMX.
            if jit.precision == "auto" { options.precision = .automatic(for: SharedLibrary.libraryTarget(options.target)) }
            let report = try SharedLibrary.build(graph: graph, weights: loaded, inputShapes: shapes, options: options,
                                                 output: output, header: headerPath, name: libraryName)
            print("wrote \(output) (\(report.kernels) kernels, \(report.functions) functions, \(String(format: "%.1f", Double(report.blobBytes) / 1_048_576)) MiB of weights and constants, arena \(String(format: "%.1f", Double(report.arenaBytes) / 1_048_576)) MiB) and \(headerPath)")
        } catch {
            throw fail(error.inFile(file.model))
        }
    }
}
