import Foundation
import LowpassIR
import LowpassTensor
import SwiftProtobuf

/// An imported model: the graph, its parameters' data, and what the importer wants the user to know.
public struct ImportedModel {
    public var graph: Graph
    public var weights: [String: Tensor]
    public var remarks: [String]
}

/// Reads ONNX models (opsets 11 and later, as torch.onnx and tf2onnx write them) into Lowpass graphs.
/// Initializers become parameters under their own names; constant inputs (Clip bounds, Pad pads, Reshape
/// shapes) become attributes; small constant subgraphs (Shape of a static tensor, Gather, Unsqueeze,
/// Concat, Cast of integers) are folded. Every unsupported op is reported at once, by node name.
public enum ONNXImporter {
    public static let supportedOpsets = 11...25

    /// The folder holding `path`; "." for a bare file name (whose folder would otherwise be "", which
    /// no path resolves to).
    static func folder(of path: String) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        return folder.isEmpty ? "." : folder
    }

    public static func importModel(contentsOf path: String, name: String? = nil) throws(Diagnostics) -> ImportedModel {
        let location = SourceLocation(file: path)
        // Mapped, not read: the protobuf decoder copies each tensor's bytes out anyway, and a read
        // first would copy a file of hundreds of megabytes once more, page fault by page fault.
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch { throw Diagnostics([error]) }
        let model: Onnx_ModelProto
        do {
            model = try withExtendedLifetime(file) {
                let bytes = file.bytes
                guard let base = bytes.baseAddress, !bytes.isEmpty else { return try Onnx_ModelProto(serializedBytes: [UInt8]()) }
                return try Onnx_ModelProto(serializedBytes: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count, deallocator: .none))
            }
        } catch {
            throw Diagnostics([Diagnostic(.badOnnx, "not an ONNX model: the protobuf does not decode (\(error))", at: location)])
        }
        guard model.hasGraph, !model.graph.node.isEmpty || !model.graph.output.isEmpty else {
            throw Diagnostics([Diagnostic(.badOnnx, "not an ONNX model: it holds no graph", at: location)])
        }
        let opset = Int(model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version ?? 0)
        guard supportedOpsets.contains(opset) else {
            throw Diagnostics([Diagnostic(.unsupportedOpset, "the model uses ONNX opset \(opset); Lowpass reads opsets \(supportedOpsets.lowerBound) to \(supportedOpsets.upperBound)", at: location)])
        }
        var importer = GraphImporter(opset: opset, directory: Self.folder(of: path),
                                     name: name ?? ((path as NSString).lastPathComponent as NSString).deletingPathExtension)
        do {
            return try importer.run(model.graph)
        } catch {
            throw error.inFile(path)
        }
    }
}

struct GraphImporter {
    let opset: Int
    let directory: String
    var graph: Graph
    var weights: [String: Tensor] = [:]
    var constants: [String: ONNXConstant] = [:]
    var types: [String: TensorType] = [:]
    var findings: [Diagnostic] = []
    var remarks: [String] = []
    var nodeNames = Set<String>()

    init(opset: Int, directory: String, name: String) {
        self.opset = opset
        self.directory = directory
        graph = Graph(name: name, metadata: ["source": "onnx", "onnx_opset": String(opset)])
    }

    mutating func run(_ onnx: Onnx_GraphProto) throws(Diagnostics) -> ImportedModel {
        var initializerNames = Set<String>()
        for initializer in onnx.initializer {
            // ONNX Runtime takes the first of two initializers with one name, other readers the last:
            // the model means nothing definite.
            guard initializerNames.insert(initializer.name).inserted else {
                findings.append(Diagnostic(.badOnnx, "two initializers are named '\(initializer.name)'", at: SourceLocation(path: "initializer '\(initializer.name)'")))
                continue
            }
            do { constants[initializer.name] = try initializer.constant(directory: directory) } catch { findings.append(error) }
        }
        for input in onnx.input where constants[input.name] == nil {
            guard let type = tensorType(input.type, name: input.name) else {
                findings.append(Diagnostic(.unsupportedInput, "graph input '\(input.name)' must be a float tensor with dimensions from 0 to \(Limits.maximumDimension) (or symbolic)"))
                continue
            }
            graph.inputs.append(ValueInfo(name: input.name, type: type))
            types[input.name] = type
        }
        guard findings.isEmpty else { throw Diagnostics(findings) }
        // Nodes Lowpass has no translation for, by op; what depends on them is skipped, so the missing
        // op is reported first and alone, not the undefined values downstream of it.
        var unsupported: [(op: String, nodes: [String])] = []
        var missing = Set<String>()
        var recognizer = PolyphaseRecognizer(onnx.node, constants: constants, graphOutputs: onnx.output.map(\.name))
        let onnxNodes = recognizer.raise()
        if recognizer.raised > 0 { remarks.append("raised \(recognizer.raised) adaptive polyphase sampling pattern(s) to PolyphaseIndex and PolyphaseSelect") }
        for (index, node) in onnxNodes.enumerated() {
            let name = uniqueName(node.name.isEmpty ? "\(node.opType)_\(index)" : node.name)
            if node.input.contains(where: missing.contains) {
                missing.formUnion(node.output)
                continue
            }
            do throws(Diagnostic) {
                if try !translate(node, name: name) {
                    let op = (node.domain.isEmpty ? "" : node.domain + ".") + node.opType
                    if let i = unsupported.firstIndex(where: { $0.op == op }) { unsupported[i].nodes.append(name) } else { unsupported.append((op, [name])) }
                    missing.formUnion(node.output)
                }
            } catch {
                var located = error
                located.location.node = located.location.node ?? name
                findings.append(located)
                break
            }
        }
        if !unsupported.isEmpty {
            findings = unsupported.map { op, nodes in
                let more = nodes.count > 1 ? " (here and in \(nodes.count - 1) more node\(nodes.count > 2 ? "s" : ""))" : ""
                let hint = Self.familyHints[op].map { "; \($0)" } ?? ""
                return Diagnostic(.unsupportedOp, "ONNX op \(op) is not one Lowpass imports\(more)\(hint)", at: .node(nodes[0]))
            }
            throw Diagnostics(findings)
        }
        for output in onnx.output {
            if let constant = constants[output.name], types[output.name] == nil, let tensor = constant.floatTensor {
                addParameter(output.name, tensor)
            }
            graph.outputs.append(output.name)
        }
        guard findings.isEmpty else { throw Diagnostics(findings) }
        WrapPadRecognizer.raise(&graph, types: types, remarks: &remarks)
        BlurRecognizer.raise(&graph, weights: &weights, remarks: &remarks)
        GroupNormRecognizer.raise(&graph, weights: &weights, types: types, remarks: &remarks)
        do { _ = try graph.verify(parameterDataShapes: weights.mapValues(\.shape)) } catch { throw error }
        return ImportedModel(graph: graph, weights: weights, remarks: remarks)
    }

    /// Where the ops Lowpass does not import yet come from, so a user knows which models are affected.
    static let familyHints: [String: String] = [
        "Upsample": "older exports of segmentation models upsample with it; re-export with opset 11 or later (Resize)",
        "Mod": "imported only as a constant (integer shape arithmetic); on computed tensors (Swin's shifted-window masks) it is not",
        "Range": "imported only as a constant: its bounds must be constants, with at most 2^31 elements that fit in int64",
        "CumSum": "imported only as a constant (position encodings): its input and axis must be constants",
        "ScatterND": "imported only as a constant (a mask filled in place); in-place updates of computed tensors are not",
    ]

    mutating func uniqueName(_ base: String) -> String {
        var name = base
        var i = 1
        while nodeNames.contains(name) { name = "\(base)_\(i)"; i += 1 }
        nodeNames.insert(name)
        return name
    }

    func tensorType(_ type: Onnx_TypeProto, name: String) -> TensorType? {
        guard case .tensorType(let tensor)? = type.value, tensor.elemType == ONNXDataType.float.rawValue else { return nil }
        guard tensor.shape.dim.allSatisfy({ if case .dimValue(let n)? = $0.value { (0...Int64(Limits.maximumDimension)).contains(n) } else { true } }) else {
            return nil
        }
        let dims: [Dim] = tensor.shape.dim.enumerated().map { i, dim in
            switch dim.value {
            case .dimValue(let n)?: return .fixed(Int(clamping: n))
            case .dimParam(let p)? where !p.isEmpty: return .symbol(p)
            default: return .symbol(i == 0 ? "N" : "\(name)_\(i)")
            }
        }
        return TensorType(.f32, dims)
    }

    mutating func addParameter(_ name: String, _ tensor: Tensor) {
        guard weights[name] == nil else { return }
        graph.parameters.append(Parameter(name: name, type: TensorType(fixed: tensor.shape)))
        weights[name] = tensor
        types[name] = TensorType(fixed: tensor.shape)
    }

    /// Makes sure a node input names a value: a float constant becomes a parameter.
    mutating func value(_ name: String, of node: String) throws(Diagnostic) -> String {
        if types[name] != nil { return name }
        if let tensor = constants[name]?.floatTensor {
            addParameter(name, tensor)
            return name
        }
        throw Diagnostic(.undefinedValue, "input '\(name)' is neither a graph input, an initializer nor an earlier node's output", at: .node(node))
    }

    /// An integer constant input. Values that stand for a symbolic dimension are refused unless the
    /// caller can express them (`allowSymbolic`: Reshape's "copy this dimension").
    func intConstant(_ name: String, _ what: String, of node: String, allowSymbolic: Bool = false) throws(Diagnostic) -> [Int] {
        guard let values = constants[name]?.ints else {
            throw Diagnostic(.dynamicConstant, "\(what) ('\(name)') must be a constant integer tensor, known when the model is imported", at: .node(node))
        }
        if !allowSymbolic && values.contains(where: { $0 <= Self.placeholderBase }) {
            throw Diagnostic(.dynamicConstant, "\(what) ('\(name)') depends on a symbolic dimension, so it is not known when the model is imported", at: .node(node))
        }
        return values
    }

    func floatScalar(_ name: String, of node: String) throws(Diagnostic) -> Double? {
        guard !name.isEmpty else { return nil }
        guard let tensor = constants[name]?.floatTensor, tensor.count == 1 else {
            throw Diagnostic(.dynamicConstant, "input '\(name)' must be a constant scalar", at: .node(node))
        }
        return Double(tensor[0])
    }

    /// Adds a Lowpass node and infers its output type at once, so later nodes (and auto_pad) can use it.
    mutating func emit(_ op: OpKind, _ name: String, _ inputs: [String], _ output: String, _ attributes: Attributes = [:]) throws(Diagnostic) {
        let node = Node(name: name, op: op, inputs: inputs, outputs: [output], attributes: attributes)
        let inputTypes = inputs.compactMap { types[$0] }
        guard inputTypes.count == inputs.count else {
            throw Diagnostic(.undefinedValue, "an input of the node has no known type", at: .node(name))
        }
        do {
            let outputTypes = try node.schema.shape(node, inputTypes)
            types[output] = outputTypes.first
        } catch {
            throw Diagnostic(error.id, error.message, at: .node(name))
        }
        graph.nodes.append(node)
    }
}
