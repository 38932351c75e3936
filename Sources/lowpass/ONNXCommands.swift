import ArgumentParser
import Foundation
import LowpassIR
import LowpassONNX
import LowpassPyTorch
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
        abstract: "Export a Lowpass graph and its weights as a standard ONNX model (opset 17) or a PyTorch module.",
        discussion: """
            ONNX (.onnx): BlurPool becomes Pad + a depthwise Conv with the fixed filter; a symbolic batch dimension stays dynamic.
            PyTorch (.py, or --format pytorch): one nn.Module class whose state_dict keys are the graph's parameter
            names, written with the weights beside it as NAME.safetensors; load them with
            model.load_state_dict(safetensors.torch.load_file("NAME.safetensors")) and fine-tune (docs/pytorch.md).
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case onnx, pytorch }

    @OptionGroup var file: ModelFile
    var model: String { file.model }
    var weights: String? { file.weights }

    @Option(name: [.short, .customLong("output")], help: "The file to write: .onnx, or .py for a PyTorch module.")
    var output: String

    @Option(help: "onnx or pytorch (default: from the output's extension).")
    var format: Format?

    @Option(help: "The PyTorch module's class name (default: the graph's name in CamelCase).")
    var className: String?

    @Flag(inversion: .prefixedNo, help: "ONNX: express zero-padded blurs with the Conv's own pads instead of a Pad node (for runtimes without Pad).")
    var foldZeroPads = true

    func validate() throws {
        if let className, !PyTorchExporter.isValidClassName(className) {
            throw ValidationError("--class-name must be a Python identifier (ASCII letters, digits and _, not a keyword), got '\(className)'")
        }
    }

    var chosenFormat: Format { format ?? ((output as NSString).pathExtension.lowercased() == "py" ? .pytorch : .onnx) }

    func run() throws {
        let source = try readModel(model)
        let graph = source.graph
        let weightFiles = [weights, graph.weightsFile.map { resolve($0, relativeTo: model) }].compactMap { $0.map { (path: $0, what: "weight file") } }
        let sideWeights = (output as NSString).deletingPathExtension + ".safetensors"
        let outputs = [(output, chosenFormat == .onnx ? "ONNX file" : "Python module")] + (chosenFormat == .pytorch && !graph.parameters.isEmpty ? [(sideWeights, "weight file")] : [])
        do { try refuseOverwriting(inputs: [(model, "graph")] + weightFiles, outputs: outputs) } catch { throw fail(error) }
        let loaded: Weights
        do { loaded = try source.weights(graphPath: model, weightsPath: weights) } catch { throw fail(error) }
        loaded.warnings.forEach(warn)
        do {
            switch chosenFormat {
            case .onnx:
                var options = ONNXExporter.Options()
                options.foldZeroPadding = foldZeroPads
                try writeAtomically(try ONNXExporter.export(graph, weights: loaded, options: options), to: output)
                print("wrote \(output)")
            case .pytorch:
                let text = try PyTorchExporter.export(graph, className: className,
                                                      weightsFile: graph.parameters.isEmpty ? nil : (sideWeights as NSString).lastPathComponent)
                var tensors: [String: Tensor] = [:]
                var withInline = loaded
                withInline.addInlineData(of: graph)
                for parameter in graph.parameters {
                    guard let tensor = withInline[parameter.name] else { throw Diagnostic(.missingParameter, "no data for parameter '\(parameter.name)'") }
                    tensors[parameter.name] = tensor
                }
                if !tensors.isEmpty { try SafeTensorsFile(tensors: tensors).write(to: sideWeights) }
                try writeAtomically(text, to: output)
                print("wrote \(output)" + (tensors.isEmpty ? "" : " and \(sideWeights)"))
            }
        } catch let error as Diagnostics {
            throw fail(error.inFile(model))
        } catch let error as Diagnostic {
            throw fail(error)
        }
    }
}
