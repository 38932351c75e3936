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

/// Applies `patterns` wherever they match until none does (a fixed point), sweeping the graph at most
/// `maximumSweeps` times, with a bounded number of rewrites, so that patterns that undo each other
/// cannot loop forever.
/// Returns true if anything changed.
public func applyPatternsGreedily(_ patterns: [any RewritePattern], to graph: inout Graph, context: inout PassContext,
                                  maximumSweeps: Int = 10) throws(PassError) -> Bool {
    var changedAny = false
    // Patterns that keep rewriting the same spot would never finish a sweep: bound the total work.
    var budget = maximumSweeps * 2 * (graph.nodes.count + 1)
    for _ in 0..<maximumSweeps {
        var changed = false
        var i = 0
        while i < graph.nodes.count && budget > 0 {
            budget -= 1
            let op = graph.nodes[i].op
            var rewrote = false
            for pattern in patterns where pattern.root == op {
                if try pattern.matchAndRewrite(nodeAt: i, in: &graph, context: &context) {
                    rewrote = true
                    break
                }
            }
            // After a rewrite, look at the same position again: a new node may stand there.
            if rewrote { changed = true } else { i += 1 }
        }
        changedAny = changedAny || changed
        if !changed { break }
    }
    return changedAny
}
