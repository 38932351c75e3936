/// The few edit verbs every rewrite is made of, in the spirit of torch.fx: find uses, insert a node,
/// replace all uses of a value, erase a node (refused while its outputs are used), remove dead code,
/// and make fresh names. Node order in `nodes` is kept readable: new nodes go right after the node
/// that produces their first input, so printed graphs read in dataflow order.
extension Graph {
    /// A place a value is read: an input slot of a node, or a graph output.
    public enum Use: Hashable, Sendable {
        case node(index: Int, slot: Int)
        case graphOutput(index: Int)
    }

    public func uses(of value: String) -> [Use] {
        var found: [Use] = []
        for (i, node) in nodes.enumerated() {
            for (slot, input) in node.inputs.enumerated() where input == value { found.append(.node(index: i, slot: slot)) }
        }
        for (i, output) in outputs.enumerated() where output == value { found.append(.graphOutput(index: i)) }
        return found
    }

    /// Nodes that read `value`, by index, each once.
    public func consumers(of value: String) -> [Int] {
        nodes.indices.filter { nodes[$0].inputs.contains(value) }
    }

    /// Whether `value` is read exactly once, by a node (not as a graph output).
    public func hasSingleUse(_ value: String) -> Bool {
        let found = uses(of: value)
        if found.count == 1, case .node = found[0] { return true }
        return false
    }

    /// Every name already taken by a node, a value or a parameter.
    public var takenNames: Set<String> {
        var names = Set(inputs.map(\.name))
        names.formUnion(parameters.map(\.name))
        for node in nodes { names.insert(node.name); names.formUnion(node.outputs) }
        return names
    }

    /// `base` if free, else `base_1`, `base_2`, ...: a name no node, value or parameter has yet.
    public func freshName(_ base: String, avoiding extra: Set<String> = []) -> String {
        let taken = takenNames.union(extra)
        if !taken.contains(base) { return base }
        var i = 1
        while taken.contains("\(base)_\(i)") { i += 1 }
        return "\(base)_\(i)"
    }

    /// Inserts `node` right after the node at `index`; returns the new node's index.
    @discardableResult
    public mutating func insert(_ node: Node, after index: Int) -> Int {
        nodes.insert(node, at: index + 1)
        return index + 1
    }

    /// Inserts `node` right before the node at `index`; returns the new node's index.
    @discardableResult
    public mutating func insert(_ node: Node, before index: Int) -> Int {
        nodes.insert(node, at: index)
        return index
    }

    /// Inserts `node` after the producer of its first input (or first, if a graph input feeds it).
    @discardableResult
    public mutating func insertAfterProducer(_ node: Node) -> Int {
        guard let first = node.inputs.first, let producer = producerIndex(of: first) else { return insert(node, before: 0) }
        return insert(node, after: producer)
    }

    /// Makes every reader of `old` read `new` instead, graph outputs included, except the nodes named
    /// in `except` (typically the node that now computes `new` from `old`). Returns how many uses changed.
    @discardableResult
    public mutating func replaceAllUses(of old: String, with new: String, except: Set<String> = []) -> Int {
        var changed = 0
        for i in nodes.indices where !except.contains(nodes[i].name) {
            for slot in nodes[i].inputs.indices where nodes[i].inputs[slot] == old {
                nodes[i].inputs[slot] = new
                changed += 1
            }
        }
        for i in outputs.indices where outputs[i] == old {
            outputs[i] = new
            changed += 1
        }
        return changed
    }

    public struct StillUsed: Error, CustomStringConvertible {
        public var node: String
        public var value: String
        public var description: String { "cannot erase node '\(node)': its output '\(value)' is still used" }
    }

    /// Removes the node named `name`. Refused while any of its outputs has a use.
    public mutating func erase(nodeNamed name: String) throws(StillUsed) {
        guard let index = nodes.firstIndex(where: { $0.name == name }) else { return }
        for output in nodes[index].outputs where !uses(of: output).isEmpty {
            throw StillUsed(node: name, value: output)
        }
        nodes.remove(at: index)
    }

    /// Removes nodes whose outputs nobody reads, repeatedly, then parameters no node reads.
    /// Returns the names of what was removed (empty: nothing changed).
    @discardableResult
    public mutating func eliminateDeadCode() -> [String] {
        var used = Set(outputs)
        var live = [Bool](repeating: false, count: nodes.count)
        // Walk backwards in dataflow order so that a node is decided after all its readers.
        let order = topologicalOrder()
        let orderedSet = Set(order)
        for i in nodes.indices where !orderedSet.contains(i) { live[i] = true }  // leave cyclic parts alone
        for i in order.reversed() where live[i] || nodes[i].outputs.contains(where: used.contains) {
            live[i] = true
            used.formUnion(nodes[i].inputs)
        }
        for i in nodes.indices where live[i] { used.formUnion(nodes[i].inputs) }
        var removed = nodes.indices.filter { !live[$0] }.map { nodes[$0].name }
        nodes = nodes.indices.filter { live[$0] }.map { nodes[$0] }
        let deadParameters = parameters.filter { !used.contains($0.name) }.map(\.name)
        parameters.removeAll { !used.contains($0.name) }
        removed += deadParameters
        return removed
    }
}
