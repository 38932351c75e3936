/// What differs between two graphs, node by node and edge by edge, matched by name: what `lowpass diff` prints.
public struct GraphDiff: Sendable {
    public var lines: [String] = []

    public var isEmpty: Bool { lines.isEmpty }

    public init(from old: Graph, to new: Graph) {
        func edges(_ g: Graph) -> Set<String> {
            var producer: [String: String] = [:]
            for input in g.inputs { producer[input.name] = "input \(input.name)" }
            for node in g.nodes { for output in node.outputs { producer[output] = node.name } }
            var result = Set<String>()
            for node in g.nodes {
                for input in node.inputs { if let from = producer[input] { result.insert("\(from) -> \(node.name) (\(input))") } }
            }
            for output in g.outputs { result.insert("\(producer[output] ?? "?") -> output \(output)") }
            return result
        }
        func describe(_ node: Node) -> String {
            let attributes = node.attributes.isEmpty ? "" : " {" + node.attributes.sorted.map { "\($0.name)=\($0.value)" }.joined(separator: ", ") + "}"
            return "\(node.name): \(node.op.rawValue)(\(node.inputs.joined(separator: ", ")))\(attributes)"
        }
        let oldNodes = Dictionary(old.nodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let newNodes = Dictionary(new.nodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for node in old.nodes where newNodes[node.name] == nil { lines.append("- node \(describe(node))") }
        for node in new.nodes where oldNodes[node.name] == nil { lines.append("+ node \(describe(node))") }
        for node in new.nodes {
            guard let before = oldNodes[node.name], before != node else { continue }
            var changes: [String] = []
            if before.op != node.op { changes.append("op \(before.op.rawValue) -> \(node.op.rawValue)") }
            if before.inputs != node.inputs { changes.append("inputs (\(before.inputs.joined(separator: ", "))) -> (\(node.inputs.joined(separator: ", ")))") }
            if before.outputs != node.outputs { changes.append("outputs (\(before.outputs.joined(separator: ", "))) -> (\(node.outputs.joined(separator: ", ")))") }
            let names = Set(before.attributes.values.keys).union(node.attributes.values.keys).sorted()
            for name in names where before.attributes[name] != node.attributes[name] {
                changes.append("\(name) \(before.attributes[name]?.description ?? "(unset)") -> \(node.attributes[name]?.description ?? "(unset)")")
            }
            lines.append("~ node \(node.name): " + changes.joined(separator: "; "))
        }
        let (oldEdges, newEdges) = (edges(old), edges(new))
        for edge in oldEdges.subtracting(newEdges).sorted() { lines.append("- edge \(edge)") }
        for edge in newEdges.subtracting(oldEdges).sorted() { lines.append("+ edge \(edge)") }
        let oldParameters = Dictionary(old.parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let newParameters = Dictionary(new.parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for p in old.parameters where newParameters[p.name] == nil { lines.append("- param \(p.name): \(p.type)") }
        for p in new.parameters where oldParameters[p.name] == nil { lines.append("+ param \(p.name): \(p.type)") }
        for p in new.parameters {
            if let before = oldParameters[p.name], before != p { lines.append("~ param \(p.name): \(before.type) -> \(p.type)") }
        }
        if old.inputs != new.inputs {
            lines.append("~ inputs: " + old.inputs.map { "\($0.name): \($0.type)" }.joined(separator: ", ")
                         + " -> " + new.inputs.map { "\($0.name): \($0.type)" }.joined(separator: ", "))
        }
        if old.outputs != new.outputs { lines.append("~ outputs: \(old.outputs.joined(separator: ", ")) -> \(new.outputs.joined(separator: ", "))") }
        if old.metadata != new.metadata { lines.append("~ metadata changed") }
        if old.weightsFile != new.weightsFile { lines.append("~ weights: \(old.weightsFile ?? "(none)") -> \(new.weightsFile ?? "(none)")") }
    }

    public var text: String { lines.map { $0 + "\n" }.joined() }

    /// A one-line count: "2 nodes added, 1 removed, 3 changed; 4 edges added, 2 removed".
    public var summary: String {
        func count(_ prefix: String) -> Int { lines.filter { $0.hasPrefix(prefix) }.count }
        return "\(count("+ node")) nodes added, \(count("- node")) removed, \(count("~ node")) changed; "
            + "\(count("+ edge")) edges added, \(count("- edge")) removed"
    }
}
