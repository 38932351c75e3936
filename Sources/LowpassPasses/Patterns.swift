import LowpassIR

extension Graph {
    /// Every chain of nodes with the given ops where each node's only output is read only by the next
    /// (e.g. `[.conv, .batchNormalization, .relu]`): the shape a fusion may rewrite without changing
    /// what other nodes see. The last node's output may have any number of uses. Node indices, first to last.
    public func chains(_ ops: [OpKind]) -> [[Int]] {
        guard let first = ops.first else { return [] }
        var producer: [String: Int] = [:]
        var useCount: [String: Int] = [:]
        for (i, node) in nodes.enumerated() {
            for output in node.outputs { producer[output] = i }
            for input in node.inputs { useCount[input, default: 0] += 1 }
        }
        for output in outputs { useCount[output, default: 0] += 1 }
        var consumer: [String: Int] = [:]
        for (i, node) in nodes.enumerated() { for input in node.inputs { consumer[input] = i } }

        var found: [[Int]] = []
        for (start, node) in nodes.enumerated() where node.op == first {
            var chain = [start]
            for op in ops.dropFirst() {
                let current = nodes[chain[chain.count - 1]]
                guard current.outputs.count == 1, let value = current.outputs.first, useCount[value] == 1,
                      let next = consumer[value], nodes[next].op == op, nodes[next].inputs.first == value else { break }
                chain.append(next)
            }
            if chain.count == ops.count { found.append(chain) }
        }
        return found
    }
}

/// A rewrite rooted at one op: it looks at a node of that op and either rewrites the graph around it
/// (returning true) or leaves everything untouched (returning false).
public protocol RewritePattern: Sendable {
    var root: OpKind { get }
    func matchAndRewrite(nodeAt index: Int, in graph: inout Graph, context: inout PassContext) throws(PassError) -> Bool
}

/// What a greedy rewrite did.
public struct GreedyRewriteResult: Sendable {
    /// Whether any pattern rewrote anything.
    public var changed: Bool
    /// False when the rewrite budget ran out with work still queued: the patterns may undo each other.
    public var converged: Bool
    public var rewrites: Int
}

/// Applies `patterns` wherever they match until none does (a fixed point), as MLIR's greedy driver:
/// a worklist starts with every node; after a rewrite at a node, the node now standing there, the
/// readers of its outputs and the writers of its inputs are queued again, since a rewrite there may
/// have made new matches. The number of rewrites is bounded by `maximumSweeps` times the graph's size,
/// so that patterns that undo each other stop, and say so (`converged` false).
public func applyPatternsGreedily(_ patterns: [any RewritePattern], to graph: inout Graph, context: inout PassContext,
                                  maximumSweeps: Int = 10) throws(PassError) -> GreedyRewriteResult {
    var byRoot: [OpKind: [any RewritePattern]] = [:]
    for pattern in patterns { byRoot[pattern.root, default: []].append(pattern) }
    // By name, since rewrites move nodes; popped from the end, so queued in reverse to start at the top.
    var worklist = graph.nodes.reversed().map(\.name)
    var queued = Set(worklist)
    var budget = maximumSweeps * (graph.nodes.count + 1)
    var rewrites = 0
    while let name = worklist.popLast() {
        queued.remove(name)
        guard let index = graph.index(ofNodeNamed: name), let candidates = byRoot[graph.nodes[index].op] else { continue }
        guard budget > 0 else {
            return GreedyRewriteResult(changed: rewrites > 0, converged: false, rewrites: rewrites)
        }
        for pattern in candidates {
            guard try pattern.matchAndRewrite(nodeAt: index, in: &graph, context: &context) else { continue }
            budget -= 1
            rewrites += 1
            var neighbours: [String] = []
            if graph.nodes.indices.contains(index) {
                let node = graph.nodes[index]
                neighbours.append(node.name)
                for output in node.outputs { neighbours += graph.consumers(of: output).map { graph.nodes[$0].name } }
                for input in node.inputs { if let p = graph.producerIndex(of: input) { neighbours.append(graph.nodes[p].name) } }
            }
            for neighbour in neighbours where queued.insert(neighbour).inserted { worklist.append(neighbour) }
            break
        }
    }
    return GreedyRewriteResult(changed: rewrites > 0, converged: true, rewrites: rewrites)
}
