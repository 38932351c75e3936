/// The few edit verbs every rewrite is made of, in the spirit of torch.fx: find uses and producers,
/// insert a node, replace a node, replace all uses of a value, erase nodes (refused while their outputs
/// are used), remove dead code, and make fresh names. The questions are answered from the use-def
/// index (UseDefIndex.swift) in constant time, and the verbs keep it up to date, so a pass that makes
/// n edits through them costs O(n), not O(n^2).
///
/// Node order in `nodes` is kept readable: new nodes go right after (or before) the node they are
/// placed by, so printed graphs read in dataflow order. `insert(_:after:)` does that at once, moving the
/// nodes behind it (O(n)); `append(_:placedAfter:)` appends in O(1) and `settleOrder()` moves every
/// appended node into place in one O(n) sweep, for passes that insert many nodes.
extension Graph {
    /// A place a value is read: an input slot of a node, or a graph output.
    public enum Use: Hashable, Sendable, Comparable {
        case node(index: Int, slot: Int)
        case graphOutput(index: Int)

        public static func < (a: Use, b: Use) -> Bool {
            switch (a, b) {
            case (.node(let i, let s), .node(let j, let t)): return (i, s) < (j, t)
            case (.node, .graphOutput): return true
            case (.graphOutput, .node): return false
            case (.graphOutput(let i), .graphOutput(let j)): return i < j
            }
        }
    }

    /// Where `value` is read, nodes in graph order first, then graph outputs.
    public func uses(of value: String) -> [Use] {
        withIndex { ($0.readers[value] ?? []).sorted() }
    }

    /// How many places read `value`.
    public func useCount(of value: String) -> Int {
        withIndex { $0.readers[value]?.count ?? 0 }
    }

    /// Whether `value` is one of the graph's outputs.
    public func isGraphOutput(_ value: String) -> Bool {
        withIndex { ($0.readers[value] ?? []).contains { if case .graphOutput = $0 { true } else { false } } }
    }

    /// Nodes that read `value`, by index, each once, in graph order.
    public func consumers(of value: String) -> [Int] {
        withIndex { index in
            Set((index.readers[value] ?? []).compactMap { use -> Int? in if case .node(let i, _) = use { i } else { nil } }).sorted()
        }
    }

    /// Whether `value` is read exactly once, by a node (not as a graph output).
    public func hasSingleUse(_ value: String) -> Bool {
        withIndex { index in
            guard let readers = index.readers[value], readers.count == 1, case .node? = readers.first else { return false }
            return true
        }
    }

    /// The index of the node named `name` (the first, if names repeat).
    public func index(ofNodeNamed name: String) -> Int? { withIndex { $0.position[name] } }

    public func node(named name: String) -> Node? { index(ofNodeNamed: name).map { nodes[$0] } }

    /// The node whose outputs include `value`, by index.
    public func producerIndex(of value: String) -> Int? { withIndex { $0.producer[value] } }

    /// Every name already taken by a node, a value or a parameter.
    public var takenNames: Set<String> { withIndex { $0.taken } }

    /// `base` if free, else `base_1`, `base_2`, ...: a name no node, value or parameter has yet.
    public func freshName(_ base: String, avoiding extra: Set<String> = []) -> String {
        indexCache.index.withLock { stored in
            // Out of the box while it changes: a copy left there would make the change copy the tables.
            var index = stored ?? UseDefIndex(self)
            stored = nil
            defer { stored = index }
            if !index.taken.contains(base) && !extra.contains(base) { return base }
            // Suffixes below the remembered one are taken (names are never given back within one index).
            var i = index.nextSuffix[base] ?? 1
            while index.taken.contains("\(base)_\(i)") { i += 1 }
            index.nextSuffix[base] = i
            while index.taken.contains("\(base)_\(i)") || extra.contains("\(base)_\(i)") { i += 1 }
            return "\(base)_\(i)"
        }
    }

    /// Inserts `node` right after the node at `index`, moving the nodes behind it; returns its index.
    @discardableResult
    public mutating func insert(_ node: Node, after index: Int) -> Int {
        nodes.insert(node, at: index + 1)
        return index + 1
    }

    /// Inserts `node` right before the node at `index`, moving the nodes behind it; returns its index.
    @discardableResult
    public mutating func insert(_ node: Node, before index: Int) -> Int {
        nodes.insert(node, at: index)
        return index
    }

    /// Appends `node` in O(1), to be moved right after the node named `anchor` by `settleOrder()`
    /// (before it when `before` is set). Returns its index until then.
    @discardableResult
    public mutating func append(_ node: Node, placed anchor: String, before: Bool = false) -> Int {
        editing { graph, index in
            graph.nodes.append(node)
            index.add(node, at: graph.nodes.count - 1)
            graph.placements.append(Placement(node: node.name, anchor: anchor, before: before))
            return graph.nodes.count - 1
        }
    }

    /// Puts `replacements` where the node at `index` stands: the first in its place (O(1)), the rest
    /// appended after it for `settleOrder()`.
    public mutating func replaceNode(at index: Int, with replacements: [Node]) {
        guard let first = replacements.first else { return }
        editing { graph, useDef in
            useDef.remove(graph.nodes[index], at: index)
            graph.nodes[index] = first
            useDef.add(first, at: index)
        }
        var anchor = first.name
        for node in replacements.dropFirst() {
            append(node, placed: anchor)
            anchor = node.name
        }
    }

    /// Makes the node that writes `value` write `newName` instead; readers of `value` stay as they are
    /// (the caller gives `value` a new writer, or rewires them). False if no node writes `value`.
    @discardableResult
    public mutating func renameOutput(_ value: String, to newName: String) -> Bool {
        guard let producer = producerIndex(of: value), let slot = nodes[producer].outputs.firstIndex(of: value) else { return false }
        var writer = nodes[producer]
        writer.outputs[slot] = newName
        replaceNode(at: producer, with: [writer])
        return true
    }

    /// Leaves the node at `index` reading and writing nothing, so that its values are free for other
    /// nodes at once; `erase(nodesNamed:)` then removes such nodes in one sweep.
    public mutating func detach(nodeAt index: Int) {
        replaceNode(at: index, with: [Node(name: nodes[index].name, op: nodes[index].op, inputs: [], outputs: [])])
    }

    /// Moves every node appended by `append(_:placed:)` next to its anchor, in one O(n) sweep; a node
    /// whose anchor is gone stays where it is, at the end.
    public mutating func settleOrder() {
        guard !placements.isEmpty else { return }
        var after: [String: [String]] = [:], before: [String: [String]] = [:], placed = Set<String>()
        for p in placements where p.node != p.anchor && placed.insert(p.node).inserted {
            if p.before { before[p.anchor, default: []].append(p.node) } else { after[p.anchor, default: []].append(p.node) }
        }
        placements = []
        var byName: [String: [Int]] = [:]
        for (i, node) in nodes.enumerated() { byName[node.name, default: []].append(i) }
        var done = [Bool](repeating: false, count: nodes.count)
        var result: [Node] = []
        result.reserveCapacity(nodes.count)
        // Depth-first over "placed next to" links with an explicit stack: a long run of nodes each
        // placed after the previous one must not exhaust the call stack.
        func place(_ start: Int) {
            var work: [(index: Int, emitNow: Bool)] = [(start, false)]
            while let (i, emitNow) = work.popLast() {
                if emitNow { result.append(nodes[i]); continue }
                guard !done[i] else { continue }
                done[i] = true
                let name = nodes[i].name
                for f in (after[name] ?? []).flatMap({ byName[$0] ?? [] }).reversed() { work.append((f, false)) }
                work.append((i, true))
                for l in (before[name] ?? []).flatMap({ byName[$0] ?? [] }).reversed() { work.append((l, false)) }
            }
        }
        for i in nodes.indices where !placed.contains(nodes[i].name) { place(i) }
        for i in nodes.indices where !done[i] { place(i) }
        nodes = result
    }

    /// Makes every reader of `old` read `new` instead, graph outputs included, except the nodes named
    /// in `except` (typically the node that now computes `new` from `old`). Returns how many uses changed.
    @discardableResult
    public mutating func replaceAllUses(of old: String, with new: String, except: Set<String> = []) -> Int {
        guard old != new else { return 0 }
        return editing { graph, index in
            var changed = 0
            for use in index.readers[old] ?? [] {
                switch use {
                case .node(let i, let slot):
                    guard !except.contains(graph.nodes[i].name) else { continue }
                    graph.nodes[i].inputs[slot] = new
                case .graphOutput(let i):
                    graph.outputs[i] = new
                }
                index.readers[old]?.remove(use)
                index.readers[new, default: []].insert(use)
                changed += 1
            }
            if index.readers[old]?.isEmpty == true { index.readers[old] = nil }
            return changed
        }
    }

    public struct StillUsed: Error, CustomStringConvertible {
        public var node: String
        public var value: String
        public var description: String { "cannot erase node '\(node)': its output '\(value)' is still used" }
    }

    /// Removes the node named `name`. Refused while any of its outputs has a use.
    public mutating func erase(nodeNamed name: String) throws(StillUsed) {
        try erase(nodesNamed: [name])
    }

    /// Removes the named nodes in one O(n) sweep. Refused, removing nothing, while an output of one of
    /// them is read by a node that stays or by the graph.
    public mutating func erase(nodesNamed names: Set<String>) throws(StillUsed) {
        guard !names.isEmpty else { return }
        let doomed = nodes.indices.filter { names.contains(nodes[$0].name) }
        for i in doomed {
            for output in nodes[i].outputs {
                for use in uses(of: output) {
                    if case .node(let reader, _) = use, names.contains(nodes[reader].name) { continue }
                    throw StillUsed(node: nodes[i].name, value: output)
                }
            }
        }
        nodes.removeAll { names.contains($0.name) }
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
