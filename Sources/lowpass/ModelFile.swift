import ArgumentParser
import Foundation
import LowpassIR
import LowpassONNX
import LowpassTensor

/// The model a command reads: the graph file and, optionally, a weight file other than the one the
/// graph names. Shared by `run`, `bench`, `verify` and `export`.
struct ModelFile: ParsableArguments {
    @Argument(help: "The model: a Lowpass graph file (.json) or an ONNX model (.onnx), told apart by content.")
    var model: String

    @Option(help: "The .safetensors weight file (default: the file the graph names; an ONNX model carries its own).")
    var weights: String?
}

/// The two formats a model may come in. They are told apart by content, not by name: a graph file
/// is JSON text, whose first non-blank byte is `{`; anything else is read as ONNX's protobuf.
enum ModelFormat {
    case graphJSON, onnx

    static func of(file path: String) -> ModelFormat {
        guard let handle = FileHandle(forReadingAtPath: path) else { return .graphJSON }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 64)) ?? Data()
        guard let first = head.first(where: { ![0x20, 0x09, 0x0a, 0x0d].contains($0) }) else { return .graphJSON }
        // An empty or unreadable file is reported by the JSON reader, whose messages say more.
        return first == UInt8(ascii: "{") || first == 0xEF ? .graphJSON : .onnx
    }
}

/// A model as read from either format: its graph, and for ONNX the weights the file carries.
struct LoadedModel {
    var graph: Graph
    var format: ModelFormat
    /// The ONNX file's initializers; nil for a graph file, whose weights live in a .safetensors file.
    var embeddedWeights: [String: Tensor]?

    /// Reads `path` in whichever format it is in; ONNX is imported as `lowpass import` would.
    static func read(_ path: String) throws(Diagnostics) -> LoadedModel {
        switch ModelFormat.of(file: path) {
        case .graphJSON:
            return LoadedModel(graph: try Graph.load(contentsOf: path), format: .graphJSON, embeddedWeights: nil)
        case .onnx:
            let imported = try ONNXImporter.importModel(contentsOf: path)
            return LoadedModel(graph: imported.graph, format: .onnx, embeddedWeights: imported.weights)
        }
    }

    /// The weights to run or rewrite it with: an ONNX model's own, or the graph's weight file (or
    /// `weightsPath`), or seeded random ones with a warning.
    func weights(graphPath: String, weightsPath: String?) throws(Diagnostics) -> Weights {
        guard let embeddedWeights else { return try Weights.load(for: graph, graphPath: graphPath, weightsPath: weightsPath) }
        guard weightsPath == nil else {
            throw Diagnostics([Diagnostic(.badOption, "--weights applies to graph files; an ONNX model carries its weights", at: SourceLocation(file: graphPath))])
        }
        return Weights(tensors: embeddedWeights)
    }
}

/// Reads a model of either format, turning every problem into a failure exit after printing it.
func readModel(_ path: String) throws(ExitCode) -> LoadedModel {
    do { return try LoadedModel.read(path) } catch { throw fail(error.inFile(path)) }
}
