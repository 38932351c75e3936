import ArgumentParser
import LowpassIR

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a graph with inferred shapes, parameter count and multiply-adds.")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, dot
    }

    @Argument(help: "The model: a graph file (.json) or an ONNX model (.onnx), told apart by content.")
    var model: String

    @Option(help: "Output format: text (one line per node), json (machine-readable summary) or dot (Graphviz).")
    var format: Format = .text

    func run() throws {
        let verified = try loadVerifiedGraph(model)
        let graph = verified.graph
        switch format {
        case .text:
            print(graph.text(types: verified.types, showParameters: false) { node in
                let macs = verified.multiplyAdds(of: node)
                return macs > 0 ? "\(scaled(macs)) MACs" : nil
            }, terminator: "")
            print("parameters: \(grouped(verified.parameterCount)) learnable; \(grouped(verified.storedElementCount)) stored in \(graph.parameters.count) tensors")
            print("multiply-adds: \(grouped(verified.totalMultiplyAdds)) per sample (\(scaled(verified.totalMultiplyAdds)))")
        case .json:
            let nodes: [JSONValue] = verified.order.map { index in
                let node = graph.nodes[index]
                return .object([
                    ("name", .string(node.name)), ("op", .string(node.op.rawValue)),
                    ("outputs", .array(node.outputs.map { .string(verified.types[$0]?.description ?? "?") })),
                    ("multiply_adds", .int(verified.multiplyAdds(of: node))),
                ])
            }
            let summary = JSONValue.object([
                ("graph", .string(graph.name)),
                ("inputs", .array(graph.inputs.map { .object([("name", .string($0.name)), ("type", .string($0.type.description))]) })),
                ("outputs", .array(graph.outputs.map { .object([("name", .string($0)), ("type", .string(verified.types[$0]?.description ?? "?"))]) })),
                ("parameters", .int(verified.parameterCount)),
                ("multiply_adds", .int(verified.totalMultiplyAdds)),
                ("nodes", .array(nodes)),
            ])
            print(summary.formatted(), terminator: "")
        case .dot:
            print(graph.dot(types: verified.types), terminator: "")
        }
    }
}
