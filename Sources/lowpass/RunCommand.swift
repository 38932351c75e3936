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

    @Argument(help: "The graph file (.json).")
    var model: String

    @Option(help: "The .safetensors weight file (default: the file the graph names).")
    var weights: String?

    @Option(name: .customLong("input"), help: ArgumentHelp("An input tensor as NAME=FILE.npy; repeat for several inputs. A graph with one input also takes just FILE.npy.", valueName: "NAME=FILE"))
    var inputs: [String] = []

    @Option(help: "The folder for the output .npy files (created if missing).")
    var outputDir: String

    @Option(help: "The engine: jit (native code through LLVM) or reference (the exact, slow interpreter).")
    var engine: Engine = .jit

    @OptionGroup var jit: JITOptions

    func run() throws {
        if engine == .reference && (jit.printKernels || jit.emitLLVM != nil || jit.emitAsm != nil) {
            throw fail(Diagnostic("bad-option", "--print-kernels, --emit-llvm and --emit-asm need --engine jit"))
        }
        let graph: Graph
        do {
            graph = try Graph.load(contentsOf: model)
            // The graph's own defects come first: they are what the user must fix, whatever the inputs.
            _ = try graph.verify()
        } catch {
            throw fail(error.inFile(model))
        }
        let tensors = try readInputs(for: graph)
        let loaded: Weights
        do { loaded = try Weights.load(for: graph, graphPath: model, weightsPath: weights) } catch { throw fail(error) }
        loaded.warnings.forEach(warn)

        let outputs: [String: Tensor]
        do {
            switch engine {
            case .reference:
                outputs = try ReferenceInterpreter().run(graph, weights: loaded, inputs: tensors)
            case .jit:
                let compiled = try CompiledModel(graph: graph, weights: loaded, inputShapes: tensors.mapValues(\.shape), options: jit.compileOptions)
                if jit.printKernels { printKernels(compiled) }
                outputs = try compiled.run(tensors)
            }
        } catch {
            throw fail(error.inFile(model))
        }

        do { try createFolder(outputDir, purpose: "output folder") } catch { throw fail(error) }
        for name in graph.outputs {
            guard let tensor = outputs[name] else { continue }
            let file = (outputDir as NSString).appendingPathComponent(name.replacingOccurrences(of: "/", with: "_") + ".npy")
            do { try NPY.write(tensor, to: file) } catch { throw fail(error) }
            print("\(name): \(tensor.shape) -> \(file)")
            if tensor.rank == 2, tensor.shape[1] > 1 { printTopClasses(tensor) }
        }
    }

    func readInputs(for graph: Graph) throws(ExitCode) -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for argument in inputs {
            let name: String, path: String
            if let equals = argument.firstIndex(of: "=") {
                (name, path) = (String(argument[..<equals]), String(argument[argument.index(after: equals)...]))
            } else if graph.inputs.count == 1 {
                (name, path) = (graph.inputs[0].name, argument)
            } else {
                throw fail(Diagnostic("bad-option", "--input \(argument): give NAME=FILE.npy; the graph's inputs are: \(graph.inputs.map(\.name).joined(separator: ", "))"))
            }
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
