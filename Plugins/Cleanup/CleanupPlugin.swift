import LowpassIR
import LowpassPasses

/// Passes that tidy a graph without changing what it computes.
public enum CleanupPlugin: PassPlugin {
    public static let name = "Cleanup"

    public static func register(into registry: inout PassRegistry) {
        registry.register(DeadCodeElimination.self, plugin: name)
        registry.register(RemoveIdentity.self, plugin: name)
        registry.register(Canonicalize.self, plugin: name)
    }
}

/// Removes nodes whose results nobody reads, and parameters no node reads.
///
///     Before: %a = Relu(x); %b = Sigmoid(x); output a
///     After:  %a = Relu(x); output a
public struct DeadCodeElimination: Pass {
    public static let name = "dce"
    public static let summary = "remove nodes whose outputs are unused, and unused parameters"

    public init(options: PassOptions) {}

    public func run(on graph: inout Graph, context: inout PassContext) throws(PassError) -> Bool {
        _ = try graph.verified(for: Self.name)
        let removed = graph.eliminateDeadCode()
        if !removed.isEmpty { context.remark("removed \(removed.count): \(removed.prefix(10).joined(separator: ", "))\(removed.count > 10 ? ", ..." : "")") }
        return !removed.isEmpty
    }
}

/// Removes nodes that compute nothing at inference: Identity and Dropout.
///
///     Before: %d = Dropout(x) {ratio=0.5}; %y = Gemm(d, w, b)
///     After:  %y = Gemm(x, w, b)
public struct RemoveIdentity: Pass {
    public static let name = "remove-identity"
    public static let summary = "bypass and remove Identity and Dropout (identity at inference)"

    public init(options: PassOptions) {}

    public func run(on graph: inout Graph, context: inout PassContext) throws(PassError) -> Bool {
        _ = try graph.verified(for: Self.name)
        // Each node is bypassed at once (through the use-def index) and all are removed in one sweep.
        var bypassed = Set<String>()
        for name in graph.nodes.filter({ [.identity, .dropout].contains($0.op) }).map(\.name) {
            guard let index = graph.index(ofNodeNamed: name), let input = graph.nodes[index].inputs.first,
                  let output = graph.nodes[index].outputs.first else { continue }
            let node = graph.nodes[index]
            // A graph output keeps its name: then the producer of the input is renamed instead, unless
            // the input is itself a graph input or parameter (nothing to rename: keep the node).
            if graph.isGraphOutput(output) {
                guard graph.producerIndex(of: input) != nil, !graph.isGraphOutput(input) else { continue }
                graph.replaceAllUses(of: input, with: output, except: [node.name])
                graph.renameOutput(input, to: output)
                // The node now reads a value nobody writes and writes one its producer writes: detach it.
                graph.detach(nodeAt: index)
            } else {
                graph.replaceAllUses(of: output, with: input)
            }
            bypassed.insert(node.name)
            context.remark("removed \(node.op.rawValue)", node: node.name)
        }
        guard !bypassed.isEmpty else { return false }
        do { try graph.erase(nodesNamed: bypassed) } catch { throw PassError(pass: Self.name, error.description, node: error.node) }
        return true
    }
}
