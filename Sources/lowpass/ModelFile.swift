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
/// is JSON text, whose first non-blank byte opens a JSON value; anything else is read as ONNX's protobuf.
enum ModelFormat {
    case graphJSON, onnx

    static let jsonStarts = Set("{[\"-0123456789tfn".utf8).union([0xEF])

    /// Peeks at the first bytes through `openRegularFile`, which refuses a FIFO or a device without
    /// blocking on it; a file it refuses, or an empty one, goes to the JSON reader, which says why.
    static func of(file path: String) -> ModelFormat {
        guard let (fd, size) = try? openRegularFile(path) else { return .graphJSON }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: min(size, 64))
        let count = head.isEmpty ? 0 : read(fd, &head, head.count)
        guard let first = head.prefix(max(count, 0)).first(where: { ![0x20, 0x09, 0x0a, 0x0d].contains($0) }) else { return .graphJSON }
        // What opens a JSON value (or 0xEF, a UTF-8 byte-order mark, which the JSON reader reports) is
        // read as a graph file; an ONNX file starts with a protobuf field tag (0x08: ir_version).
        return Self.jsonStarts.contains(first) ? .graphJSON : .onnx
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
