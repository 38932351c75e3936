import ArgumentParser
import Foundation
import LowpassIR
import LowpassONNX
import LowpassTensor

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import an ONNX model as a Lowpass graph, with its weights in a .safetensors file beside it.",
        discussion: """
            Writes OUT.json and OUT.safetensors. Initializers keep their names; blurs exported by other tools
            (Pad + depthwise binomial Conv, e.g. antialiased_cnns) become BlurPool. Unsupported ops are
            listed all at once, by node name.
            """)

    @Argument(help: "The ONNX model (.onnx).")
    var model: String

    @Option(name: [.short, .customLong("output")], help: "The graph file to write (.json); the weights go to the same name with .safetensors.")
    var output: String

    func run() throws {
        let weightsPath = (output as NSString).deletingPathExtension + ".safetensors"
        do {
            try refuseOverwriting(inputs: [(model, "ONNX model")], outputs: [(output, "graph"), (weightsPath, "weight file")])
        } catch {
            throw fail(error)
        }
        let imported: ImportedModel
        do { imported = try ONNXImporter.importModel(contentsOf: model) } catch { throw fail(error) }
        var graph = imported.graph
        if !imported.weights.isEmpty { graph.weightsFile = (weightsPath as NSString).lastPathComponent }
        do {
            if !imported.weights.isEmpty { try SafeTensorsFile(tensors: imported.weights).write(to: weightsPath) }
            try writeAtomically(graph.jsonText(), to: output)
        } catch {
            throw fail(error)
        }
        for remark in imported.remarks { FileHandle.standardError.write(Data("note: \(remark)\n".utf8)) }
        print("wrote \(output) (\(graph.nodes.count) nodes)" + (imported.weights.isEmpty ? "" : " and \(weightsPath)"))
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a Lowpass graph and its weights as a standard ONNX model (opset 17).",
        discussion: "BlurPool becomes Pad + a depthwise Conv with the fixed filter; a symbolic batch dimension stays dynamic.")

    @OptionGroup var file: ModelFile
    var model: String { file.model }
    var weights: String? { file.weights }

    @Option(name: [.short, .customLong("output")], help: "The ONNX file to write.")
    var output: String

    @Flag(inversion: .prefixedNo, help: "Express zero-padded blurs with the Conv's own pads instead of a Pad node (for runtimes without Pad).")
    var foldZeroPads = true

    func run() throws {
        let source = try readModel(model)
        let graph = source.graph
        let weightFiles = [weights, graph.weightsFile.map { resolve($0, relativeTo: model) }].compactMap { $0.map { (path: $0, what: "weight file") } }
        do { try refuseOverwriting(inputs: [(model, "graph")] + weightFiles, outputs: [(output, "ONNX file")]) } catch { throw fail(error) }
        let loaded: Weights
        do { loaded = try source.weights(graphPath: model, weightsPath: weights) } catch { throw fail(error) }
        loaded.warnings.forEach(warn)
        var options = ONNXExporter.Options()
        options.foldZeroPadding = foldZeroPads
        do {
            let data = try ONNXExporter.export(graph, weights: loaded, options: options)
            try writeAtomically(data, to: output)
        } catch let error as Diagnostics {
            throw fail(error.inFile(model))
        } catch let error as Diagnostic {
            throw fail(error)
        }
        print("wrote \(output)")
    }
}
