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

    public func run(on graph: inout Graph, context: inout PassContext) -> Bool {
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
        var changed = false
        // By name: each removal rewires later nodes, so the node is read afresh from the graph.
        for name in graph.nodes.filter({ [.identity, .dropout].contains($0.op) }).map(\.name) {
            guard let node = graph.node(named: name), let input = node.inputs.first, let output = node.outputs.first else { continue }
            // A graph output keeps its name: then the producer of the input is renamed instead, unless
            // the input is itself a graph input or parameter (nothing to rename: keep the node).
            if graph.outputs.contains(output) {
                guard let producer = graph.producerIndex(of: input), !graph.outputs.contains(input) else { continue }
                graph.replaceAllUses(of: input, with: output, except: [node.name])
                if let slot = graph.nodes[producer].outputs.firstIndex(of: input) { graph.nodes[producer].outputs[slot] = output }
                graph.nodes.removeAll { $0.name == node.name }
            } else {
                graph.replaceAllUses(of: output, with: input)
                do { try graph.erase(nodeNamed: node.name) } catch { throw PassError(pass: Self.name, error.description, node: node.name) }
            }
            context.remark("removed \(node.op.rawValue)", node: node.name)
            changed = true
        }
        return changed
    }
}
