/// The human text form: one line per value, readable in a terminal and in a diff.
///
///     graph small-convnet
///       input x: f32[N,3,12,12]
///       param conv1.weight: f32[8,3,3,3]
///       %c1: f32[N,8,12,12] = Conv(x, conv1.weight, conv1.bias) {pads=[1,1,1,1]}  # conv1
///       output y
extension Graph {
    /// The text form. `types` (from the verifier) adds each node's output type; without it, or for a
    /// graph that does not verify, outputs are printed untyped.
    /// `annotate` may add a trailing comment to a node's line (e.g. its cost).
    public func text(types: [String: TensorType]? = nil, showParameters: Bool = true,
                     annotate: (Node) -> String? = { _ in nil }) -> String {
        let types = types ?? (try? verify().types) ?? [:]
        var lines = ["graph \(name)"]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) { lines.append("  meta \(key) = \(value)") }
        if let weightsFile { lines.append("  weights \(weightsFile)") }
        for input in inputs { lines.append("  input \(input.name): \(input.type)") }
        if showParameters {
            for parameter in parameters {
                lines.append("  param \(parameter.name): \(parameter.type)" + (parameter.inlineData.map { " = \($0)" } ?? ""))
            }
        }
        let order = topologicalOrder()
        let orderedNodes = order.count == nodes.count ? order.map { nodes[$0] } : nodes
        for node in orderedNodes {
            let results = node.outputs.map { name in "%\(name)" + (types[name].map { ": \($0)" } ?? "") }.joined(separator: ", ")
            let attributes = node.attributes.isEmpty ? "" : " {" + node.attributes.sorted.map { "\($0.name)=\($0.value)" }.joined(separator: ", ") + "}"
            let notes = (node.outputs == [node.name] ? [] : [node.name]) + [annotate(node)].compactMap { $0 }
            let comment = notes.isEmpty ? "" : "  # " + notes.joined(separator: ", ")
            lines.append("  \(results) = \(node.op.rawValue)(\(node.inputs.joined(separator: ", ")))\(attributes)\(comment)")
        }
        lines.append("  output " + outputs.joined(separator: ", "))
        return lines.joined(separator: "\n") + "\n"
    }

    /// Graphviz DOT: values flow along edges labelled with their types; parameters are left out to
    /// keep the picture about the dataflow.
    public func dot(types: [String: TensorType]? = nil) -> String {
        let types = types ?? (try? verify().types) ?? [:]
        func quoted(_ s: String) -> String { JSONValue.quote(s) }
        let parameterNames = Set(parameters.map(\.name))
        var lines = ["digraph \(quoted(name)) {", "  rankdir=TB;", "  node [shape=box, style=rounded, fontname=\"Helvetica\"];"]
        var producer: [String: String] = [:]
        for input in inputs {
            lines.append("  \(quoted("input:" + input.name)) [label=\(quoted("\(input.name)\n\(input.type)")), shape=ellipse];")
            producer[input.name] = "input:" + input.name
        }
        for node in nodes {
            let blur = node.op == .blurPool ? ", style=\"rounded,filled\", fillcolor=\"#cfe8ff\"" : ""
            lines.append("  \(quoted("node:" + node.name)) [label=\(quoted("\(node.name)\n\(node.op.rawValue)"))\(blur)];")
            for output in node.outputs { producer[output] = "node:" + node.name }
        }
        for node in nodes {
            for input in node.inputs where !parameterNames.contains(input) {
                guard let from = producer[input] else { continue }
                lines.append("  \(quoted(from)) -> \(quoted("node:" + node.name)) [label=\(quoted(types[input]?.description ?? ""))];")
            }
        }
        for output in outputs {
            lines.append("  \(quoted("output:" + output)) [label=\(quoted(output)), shape=ellipse];")
            if let from = producer[output] { lines.append("  \(quoted(from)) -> \(quoted("output:" + output)) [label=\(quoted(types[output]?.description ?? ""))];") }
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}
