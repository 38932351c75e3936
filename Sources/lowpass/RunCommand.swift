import ArgumentParser
import Foundation
import LowpassIR
import LowpassJIT
import LowpassTensor

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a graph on .npy inputs and write each output as .npy.",
        discussion: """
            Writes DIR/<output name>.npy for every graph output and prints each output's shape; for a
            classifier output (shape [batch, classes]) it also prints the top-5 classes of each sample.
            Without a weight file the parameters are random (seeded), with a warning.
            """)

    enum Engine: String, ExpressibleByArgument, CaseIterable {
        case reference, jit
    }

    @OptionGroup var file: ModelFile
    var model: String { file.model }
    var weights: String? { file.weights }

    @Option(name: .customLong("input"), help: ArgumentHelp("An input tensor as NAME=FILE.npy; repeat for several inputs. A graph with one input also takes just FILE.npy.", valueName: "NAME=FILE"))
    var inputs: [String] = []

    @Option(help: "The folder for the output .npy files (created if missing).")
    var outputDir: String

    @Option(help: "The engine: jit (native code through LLVM) or reference (the exact, slow interpreter).")
    var engine: Engine = .jit

    @OptionGroup var jit: JITOptions

    func run() throws {
        if engine == .reference && (jit.printKernels || jit.emitLLVM != nil || jit.emitAsm != nil) {
            throw fail(Diagnostic(.badOption, "--print-kernels, --emit-llvm and --emit-asm need --engine jit"))
        }
        let source = try readModel(model)
        let graph = source.graph
        // The graph's own defects come first: they are what the user must fix, whatever the inputs.
        do { _ = try graph.verify() } catch { throw fail(error.inFile(model)) }
        let outputFiles = try outputFiles(for: graph)
        let tensors = try readInputs(for: graph)
        let loaded: Weights
        do { loaded = try source.weights(graphPath: model, weightsPath: weights) } catch { throw fail(error) }
        loaded.warnings.forEach(warn)

        let outputs: [String: Tensor]
        do {
            switch engine {
            case .reference:
                outputs = try ReferenceInterpreter(precision: jit.resolvedPrecision).run(graph, weights: loaded, inputs: tensors)
            case .jit:
                let compiled = try CompiledModel(graph: graph, weights: loaded, inputShapes: tensors.mapValues(\.shape), options: jit.compileOptions)
                if jit.printKernels { printKernels(compiled) }
                outputs = try compiled.run(tensors)
            }
        } catch {
            throw fail(error.inFile(model))
        }

        do { try createFolder(outputDir, purpose: "output folder") } catch { throw fail(error) }
        // All or none: a failed write removes the files this run wrote before it.
        var written: [String] = []
        for (name, file) in zip(graph.outputs, outputFiles) {
            guard let tensor = outputs[name] else { continue }
            do {
                try NPY.write(tensor, to: file)
            } catch {
                for file in written { try? FileManager.default.removeItem(atPath: file) }
                throw fail(error)
            }
            written.append(file)
        }
        for (name, file) in zip(graph.outputs, outputFiles) {
            guard let tensor = outputs[name] else { continue }
            print("\(name): \(tensor.shape) -> \(file)")
            if tensor.rank == 2, tensor.shape[1] > 1 { printTopClasses(tensor) }
        }
    }

    /// `DIR/<output>.npy` for each graph output, `/` and NUL written `_`; refused before anything runs
    /// when two outputs would share a file, a name is too long for one, or a file is one of the inputs.
    func outputFiles(for graph: Graph) throws(ExitCode) -> [String] {
        var owner: [String: String] = [:]
        var files: [String] = []
        for name in graph.outputs {
            let fileName = name.map { $0 == "/" || $0 == "\0" ? "_" : String($0) }.joined() + ".npy"
            let file = (outputDir as NSString).appendingPathComponent(fileName)
            guard fileName.utf8.count <= 255 else {
                throw fail(Diagnostic(.badOutputName, "output '\(name.prefix(40))...' is \(name.utf8.count) bytes long; a file name holds at most 251 and '.npy'"))
            }
            if let other = owner[fileName] {
                throw fail(Diagnostic(.badOutputName, "outputs '\(other)' and '\(name)' would both be written to \(file)"))
            }
            if let input = inputPaths.first(where: { samePath($0, file) }) {
                throw fail(Diagnostic(.wouldOverwriteInput, "output '\(name)' would replace the input \(input); choose another --output-dir", at: SourceLocation(file: file)))
            }
            owner[fileName] = name
            files.append(file)
        }
        return files
    }

    /// The files given with --input.
    var inputPaths: [String] { inputs.map { argument in argument.firstIndex(of: "=").map { String(argument[argument.index(after: $0)...]) } ?? argument } }

    func readInputs(for graph: Graph) throws(ExitCode) -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for argument in inputs {
            let name: String, path: String
            if let equals = argument.firstIndex(of: "=") {
                (name, path) = (String(argument[..<equals]), String(argument[argument.index(after: equals)...]))
            } else if graph.inputs.count == 1 {
                (name, path) = (graph.inputs[0].name, argument)
            } else {
                throw fail(Diagnostic(.badOption, "--input \(argument): give NAME=FILE.npy; the graph's inputs are: \(graph.inputs.map(\.name).joined(separator: ", "))"))
            }
            guard tensors[name] == nil else { throw fail(Diagnostic(.badOption, "--input \(name) is given twice")) }
            do { tensors[name] = try NPY.read(contentsOf: path) } catch { throw fail(error) }
        }
        return tensors
    }

    func printTopClasses(_ tensor: Tensor) {
        let classes = tensor.shape[1]
        for sample in 0..<tensor.shape[0] {
            let scores = (0..<classes).map { (index: $0, score: tensor[sample * classes + $0]) }
            let top = scores.sorted { $0.score > $1.score }.prefix(5)
            print("  sample \(sample) top-5: " + top.map { "\($0.index) (\(String(format: "%.4g", $0.score)))" }.joined(separator: ", "))
        }
    }
}
