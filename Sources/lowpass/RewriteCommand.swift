import ArgumentParser
import Foundation
import LowpassIR
import LowpassONNX
import LowpassPasses
import LowpassTensor

struct RewriteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewrite",
        abstract: "Run a pipeline of passes over a graph file and write the result.",
        discussion: """
            PIPELINE is text such as 'remove-identity,canonicalize,dce' or 'antialias{filter=4,pad=reflect},dce'.
            'lowpass passes' lists every pass and its options. The input file is never modified unless
            --in-place is given; the output is written atomically and refers to the weight file it needs.
            """)

    @Argument(help: "The input model: a graph file (.json) or an ONNX model (.onnx), told apart by content.")
    var input: String

    @Option(name: [.short, .customLong("output")], help: "The output: an ONNX model if its name ends in .onnx (weights inside), else a graph file.")
    var output: String?

    @Option(name: .customLong("passes"), help: "The pipeline to run.")
    var pipeline: String

    @Flag(help: "Write the result over the input file.")
    var inPlace = false

    @Flag(inversion: .prefixedNo, help: "Verify the graph after every pass and name a pass that breaks it.")
    var verifyEach = true

    @Option(name: .customLong("print-after"), help: ArgumentHelp("Print the graph after the named pass (repeatable).", valueName: "NAME"))
    var printAfter: [String] = []

    @Flag(help: "Print the graph after every pass.")
    var printAfterAll = false

    @Flag(help: "After each pass that changed the graph, print a unified diff of the text form.")
    var printChanged = false

    @Flag(help: "Report the time each pass took.")
    var timePasses = false

    @Option(help: ArgumentHelp("Write 00-input.{json,txt,dot}, 01-<pass>.{json,txt,dot}, ... into this folder.", valueName: "DIR"))
    var dumpDir: String?

    @Option(name: .customLong("plugin-path"), help: ArgumentHelp("A folder with lowpass-pass-<name> executables (repeatable; also LOWPASS_PLUGIN_PATH).", valueName: "DIR"))
    var pluginPaths: [String] = []

    @Option(help: "Seconds an out-of-process pass may run before it is stopped.")
    var pluginTimeout: Double = 60

    @Option(help: "Megabytes an out-of-process pass may write on standard output (its graph), and on standard error, before it is stopped.")
    var pluginOutputLimit: Int = 256

    @Flag(help: "Print what each pass reports it did.")
    var remarks = false

    @Option(help: "The .safetensors weight file (default: the file the graph names). Passes that compute new weights (fold-bn, fuse-branches) write OUT.safetensors beside the output.")
    var weights: String?

    func validate() throws {
        if output == nil && !inPlace { throw ValidationError("give -o OUT.json, or --in-place to overwrite the input") }
        if output != nil && inPlace { throw ValidationError("give either -o OUT.json or --in-place, not both") }
        guard (1...65536).contains(pluginOutputLimit) else { throw ValidationError("--plugin-output-limit must be between 1 and 65536 (MB), got \(pluginOutputLimit)") }
    }

    func run() throws {
        let destination = output ?? input
        if !inPlace && samePath(destination, input) {
            throw fail(Diagnostic(.wouldOverwriteInput, "the output is the input file; give --in-place to overwrite it", at: SourceLocation(file: input)))
        }
        let source = try readModel(input)
        var graph = source.graph
        let outputFormat: ModelFormat = inPlace ? source.format : destination.lowercased().hasSuffix(".onnx") ? .onnx : .graphJSON
        // Passes and dumps see the weight file by its absolute path, so that files written anywhere
        // (--dump-dir) still find it; the output gets a path relative to its own folder.
        let weightsPath = graph.weightsFile.map { resolve($0, relativeTo: input) }
        graph.weightsFile = weightsPath
        let weightInputs = [weights, weightsPath].compactMap { $0.map { (path: $0, what: "weight file") } }
        do { try refuseOverwriting(inputs: weightInputs, outputs: [(destination, "output graph")]) } catch { throw fail(error) }

        let registry = makeRegistry(pluginPaths: pluginPaths, timeout: pluginTimeout, outputLimit: pluginOutputLimit << 20)
        let passes: [ConfiguredPass]
        do {
            passes = try registry.configure(Pipeline(parsing: pipeline), text: pipeline)
        } catch {
            throw fail(Diagnostic(.badPipeline, error.description))
        }
        for name in printAfter where !passes.contains(where: { $0.name == name }) {
            throw fail(Diagnostic(.badOption, "--print-after \(name): the pipeline has no pass '\(name)'; it runs \(passes.map(\.name).joined(separator: ", "))"))
        }

        var instrumentation = Instrumentation()
        instrumentation.verifyEach = verifyEach
        instrumentation.printAfter = Set(printAfter)
        instrumentation.printAfterAll = printAfterAll
        instrumentation.printChanged = printChanged
        instrumentation.timePasses = timePasses
        instrumentation.dumpDirectory = dumpDir
        let manager = PassManager(instrumentation: instrumentation) { FileHandle.standardError.write(Data($0.utf8)) }

        // The weights travel with the graph (memory-mapped, so loading costs little) for passes that change them.
        var data: [String: Tensor]?
        if weights != nil || graph.weightsFile != nil || source.embeddedWeights != nil {
            do { data = try source.weights(graphPath: input, weightsPath: weights).tensors } catch { throw fail(error) }
        }
        var result: PipelineRun
        do {
            result = try manager.run(passes, on: Model(graph: graph, weights: data))
        } catch {
            throw fail(error.diagnostics.inFile(input))
        }
        for run in result.report.passes where !run.report.isEmpty {
            FileHandle.standardError.write(Data("\(run.name):\n\(run.report)".utf8))
        }
        if remarks { for remark in result.report.remarks { FileHandle.standardError.write(Data("\(remark)\n".utf8)) } }

        // Even without --verify-each, an invalid graph is never written.
        if !verifyEach {
            do { _ = try result.model.graph.verify() } catch {
                throw fail(Diagnostics([Diagnostic(.invalidResult, "the pipeline produced an invalid graph; rerun with --verify-each to find the pass")] + error.items))
            }
        }
        if outputFormat == .onnx {
            try writeONNX(result.model, to: destination)
            return printSummary(result, destination)
        }
        if result.model.weightsChanged || source.format == .onnx, let newWeights = result.model.weights {
            // New weights: the output gets a weight file of its own with exactly its parameters.
            let file = (destination as NSString).deletingPathExtension + ".safetensors"
            if let weightsPath, !inPlace, samePath(file, weightsPath) {
                throw fail(Diagnostic(.wouldOverwriteInput, "the new weights would replace the input's weight file \(file); choose another output name or give --in-place"))
            }
            do { try refuseOverwriting(inputs: [(input, "input graph")], outputs: [(destination, "output graph"), (file, "new weight file")]) } catch { throw fail(error) }
            var kept: [String: Tensor] = [:]
            for parameter in result.model.graph.parameters where parameter.inlineData == nil { kept[parameter.name] = newWeights[parameter.name] }
            do { try SafeTensorsFile(tensors: kept).write(to: file) } catch { throw fail(error) }
            result.model.graph.weightsFile = (file as NSString).lastPathComponent
        } else if let weightsPath, result.model.graph.weightsFile == weightsPath {
            // The output refers to the same weight file as the input, seen from the output's folder.
            result.model.graph.weightsFile = relativePath(to: weightsPath, from: absoluteURL(destination).deletingLastPathComponent().path)
        }
        do { try writeAtomically(result.graph.jsonText(), to: destination) } catch { throw fail(error) }
        printSummary(result, destination)
    }

    /// The rewritten model as ONNX, its weights inside: the input's, or the passes' new ones.
    func writeONNX(_ model: Model, to destination: String) throws(ExitCode) {
        let tensors: Weights
        if let weights = model.weights {
            tensors = Weights(tensors: weights)
        } else {
            do { tensors = try Weights.load(for: model.graph, graphPath: input, weightsPath: nil) } catch { throw fail(error) }
            tensors.warnings.forEach(warn)
        }
        do {
            try writeAtomically(try ONNXExporter.export(model.graph, weights: tensors), to: destination)
        } catch let error as Diagnostics {
            throw fail(error.inFile(destination))
        } catch let error as Diagnostic {
            throw fail(error)
        } catch {
            throw fail(Diagnostic(.writeFailed, "\(error)", at: SourceLocation(file: destination)))
        }
    }

    func printSummary(_ result: PipelineRun, _ destination: String) {
        let summary = result.report.passes.map { "\($0.name)\($0.changed ? "" : " (no change)")" }.joined(separator: ", ")
        FileHandle.standardError.write(Data("wrote \(destination): \(summary)\n".utf8))
    }
}

func absoluteURL(_ path: String) -> URL {
    URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL
}

/// Whether `a` and `b` name one file: the same path once links are resolved, or (both existing) the
/// same inode, which also catches hard links.
func samePath(_ a: String, _ b: String) -> Bool {
    if absoluteURL(a).resolvingSymlinksInPath().path == absoluteURL(b).resolvingSymlinksInPath().path { return true }
    var first = stat(), second = stat()
    return stat(a, &first) == 0 && stat(b, &second) == 0 && first.st_dev == second.st_dev && first.st_ino == second.st_ino
}

/// Refuses a command whose outputs would replace one of its inputs, or each other (an import to
/// `m.safetensors` would write the graph and its weights to one file).
func refuseOverwriting(inputs: [(path: String, what: String)], outputs: [(path: String, what: String)]) throws(Diagnostic) {
    for (i, output) in outputs.enumerated() {
        if let input = inputs.first(where: { samePath($0.path, output.path) }) {
            throw Diagnostic(.wouldOverwriteInput, "the \(output.what) would replace the \(input.what) \(input.path); choose another output name",
                             at: SourceLocation(file: output.path))
        }
        if let other = outputs[..<i].first(where: { samePath($0.path, output.path) }) {
            throw Diagnostic(.wouldOverwriteInput, "the \(output.what) and the \(other.what) would be one file; choose another output name",
                             at: SourceLocation(file: output.path))
        }
    }
}

/// `file` as written in the graph at `graphPath`: relative to the graph's folder unless absolute.
func resolve(_ file: String, relativeTo graphPath: String) -> String {
    if file.hasPrefix("/") { return file }
    return absoluteURL(graphPath).deletingLastPathComponent().appendingPathComponent(file).standardizedFileURL.path
}

/// The relative path from folder `base` to `target` (both absolute).
func relativePath(to target: String, from base: String) -> String {
    let targetParts = URL(fileURLWithPath: target).standardizedFileURL.pathComponents
    let baseParts = URL(fileURLWithPath: base).standardizedFileURL.pathComponents
    var common = 0
    while common < min(targetParts.count, baseParts.count), targetParts[common] == baseParts[common] { common += 1 }
    let ups = Array(repeating: "..", count: baseParts.count - common)
    return (ups + targetParts[common...]).joined(separator: "/")
}
