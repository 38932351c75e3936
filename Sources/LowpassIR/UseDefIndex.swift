import Synchronization

/// Who writes and who reads each value, and where each node stands: the use-def chains torch.fx keeps
/// in `node.users`, so that the edit verbs answer in constant time instead of scanning the graph.
///
/// A graph builds its index on the first question and keeps it in a box of its own. The edit verbs in
/// GraphEditing.swift update it as they edit; any other change to `nodes`, `inputs`, `parameters` or
/// `outputs` drops it, and the next question builds it again (O(n)). A pass that edits only through the
/// verbs therefore pays for one build, however many edits it makes.
struct UseDefIndex: Sendable {
    /// Node name -> index in `nodes` (the first node of that name).
    var position: [String: Int] = [:]
    /// Value -> index of the node that writes it (the first, if several do).
    var producer: [String: Int] = [:]
    /// Value -> every place it is read. Unordered: `Graph.uses(of:)` sorts.
    var readers: [String: Set<Graph.Use>] = [:]
    /// Every name a node, value, graph input or parameter has; `freshName` avoids them.
    var taken: Set<String> = []
    /// The next suffix `freshName` tries for each base, so that n fresh names of one base cost O(n).
    var nextSuffix: [String: Int] = [:]

    init(_ graph: Graph) {
        position.reserveCapacity(graph.nodes.count)
        producer.reserveCapacity(graph.nodes.count)
        for input in graph.inputs { taken.insert(input.name) }
        for parameter in graph.parameters { taken.insert(parameter.name) }
        for (i, node) in graph.nodes.enumerated() { add(node, at: i) }
        for (i, output) in graph.outputs.enumerated() { readers[output, default: []].insert(.graphOutput(index: i)) }
    }

    mutating func add(_ node: Node, at i: Int) {
        if position[node.name] == nil { position[node.name] = i }
        taken.insert(node.name)
        for output in node.outputs {
            if producer[output] == nil { producer[output] = i }
            taken.insert(output)
        }
        for (slot, input) in node.inputs.enumerated() { readers[input, default: []].insert(.node(index: i, slot: slot)) }
    }

    /// Forgets `node` at `i`; names stay taken (a name once used is not handed out again in one edit).
    mutating func remove(_ node: Node, at i: Int) {
        if position[node.name] == i { position[node.name] = nil }
        for output in node.outputs where producer[output] == i { producer[output] = nil }
        for (slot, input) in node.inputs.enumerated() {
            readers[input]?.remove(.node(index: i, slot: slot))
            if readers[input]?.isEmpty == true { readers[input] = nil }
        }
    }
}

/// The box a graph keeps its index in. Graphs are values: a copy shares the box until either side
/// changes, and then the changed one takes a box of its own (`Graph.dropIndex`).
final class UseDefCache: Sendable {
    let index = Mutex<UseDefIndex?>(nil)
}

extension Graph {
    /// Answers from the index, building it if needed.
    func withIndex<R>(_ body: (UseDefIndex) -> R) -> R {
        indexCache.index.withLock { stored in
            let index = stored ?? UseDefIndex(self)
            stored = index
            return body(index)
        }
    }

    /// Edits the index in step with an edit of the graph: `body` changes `self` and the index together.
    /// The index is taken out of the box first, so the graph's own change-hooks find nothing to drop.
    mutating func editing<R>(_ body: (inout Graph, inout UseDefIndex) -> R) -> R {
        var index: UseDefIndex
        if isKnownUniquelyReferenced(&indexCache) {
            // Taken out, not copied: a copy would duplicate every table on the first change.
            index = indexCache.index.withLock { stored in
                defer { stored = nil }
                return stored ?? UseDefIndex(self)
            }
        } else {
            index = withIndex { $0 }
            indexCache = UseDefCache()
        }
        let result = body(&self, &index)
        if !isKnownUniquelyReferenced(&indexCache) { indexCache = UseDefCache() }
        indexCache.index.withLock { $0 = index }
        return result
    }

    /// Called on any change not made through the verbs: the index no longer describes the graph.
    mutating func dropIndex() {
        if isKnownUniquelyReferenced(&indexCache) {
            indexCache.index.withLock { $0 = nil }
        } else {
            indexCache = UseDefCache()
        }
    }
}
