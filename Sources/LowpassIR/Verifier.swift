/// What the verifier learned about a well-formed graph: an execution order and every value's type.
public struct VerifiedGraph: Sendable {
    public var graph: Graph
    /// Node indices in an order where every value is defined before it is used.
    public var order: [Int]
    public var types: [String: TensorType]
}

extension Graph {
    /// Checks names, arity, attributes, definitions, acyclicity and shapes, and reports every finding
    /// at once. `parameterDataShapes`, when given, are the shapes found in the weight file.
    /// `binding` fixes symbolic dimensions (e.g. `["N": 1]`) before shapes are inferred.
    public func verify(parameterDataShapes: [String: [Int]]? = nil,
                       binding: [String: Int] = [:]) throws(Diagnostics) -> VerifiedGraph {
        var findings: [Diagnostic] = []
        var nodeIndex: [String: Int] = [:]
        for (i, node) in nodes.enumerated() where nodeIndex[node.name] == nil { nodeIndex[node.name] = i }
        func report(_ id: DiagnosticID, _ message: String, _ node: String? = nil) {
            // The JSON path lets a user find the node in the file even where names repeat.
            let path = node.flatMap { nodeIndex[$0] }.map { "$.nodes[\($0)]" }
            findings.append(Diagnostic(id, message, at: SourceLocation(path: path, node: node)))
        }

        checkSpellings(report: report)

        var defined: [String: String] = [:]  // value -> what defines it, for duplicate messages
        func define(_ value: String, by owner: String, node: String? = nil) {
            if value.isEmpty { report(.emptyName, "\(owner) defines a value with an empty name", node); return }
            if let previous = defined[value] {
                report(.duplicateName, "value '\(value)' is defined by \(owner) and already by \(previous)", node)
            } else {
                defined[value] = owner
            }
        }
        for input in inputs { define(input.name, by: "graph input") }
        for parameter in parameters {
            define(parameter.name, by: "a parameter")
            checkParameter(parameter, dataShapes: parameterDataShapes) { report($0, $1) }
        }

        var nodeNames = Set<String>()
        for node in nodes {
            if node.name.isEmpty { report(.emptyName, "a \(node.op.rawValue) node has an empty name") }
            if !nodeNames.insert(node.name).inserted { report(.duplicateName, "node name '\(node.name)' is used twice", node.name) }
            for output in node.outputs { define(output, by: "node '\(node.name)'", node: node.name) }
            checkSignature(of: node, report: { report($0, $1, node.name) })
        }

        for node in nodes {
            for input in node.inputs where defined[input] == nil {
                report(.undefinedValue, "input '\(input)' is not a graph input, parameter or node output", node.name)
            }
        }
        for output in outputs where defined[output] == nil {
            report(.undefinedValue, "graph output '\(output)' is never defined")
        }
        if outputs.isEmpty { report(.noOutputs, "the graph declares no outputs") }

        let order = topologicalOrder()
        if order.count < nodes.count {
            let ordered = Set(order)
            let stuck = nodes.indices.filter { !ordered.contains($0) && nodes[$0].inputs.allSatisfy { defined[$0] != nil } }
            for i in stuck.prefix(8) {
                report(.cycle, "node is part of, or depends on, a cycle", nodes[i].name)
            }
        }

        for input in inputs where Limits.elementCount(input.type.binding(binding).shape.map { $0.value ?? 1 }) == nil {
            report(.tensorTooLarge, "graph input '\(input.name)' of type \(input.type) has more than \(Limits.maximumElementCount) elements (LOWPASS_MAX_TENSOR_ELEMENTS)")
        }
        // Shapes only once names, signatures and definitions are sound.
        let types = findings.isEmpty ? inferTypes(order: order, binding: binding, report: report) : [:]

        guard findings.isEmpty else { throw Diagnostics(findings) }
        return VerifiedGraph(graph: self, order: order, types: types)
    }

    /// A parameter's shape is fixed and within the limit, and its data (inline, or the weight file's
    /// when `dataShapes` is given) has that shape.
    private func checkParameter(_ parameter: Parameter, dataShapes: [String: [Int]]?, report: (DiagnosticID, String) -> Void) {
        if parameter.type.fixedShape == nil {
            report(.symbolicParameter, "parameter '\(parameter.name)' has symbolic shape \(parameter.type); parameters need fixed shapes")
        } else if Limits.elementCount(parameter.type.fixedShape ?? []) == nil {
            report(.tensorTooLarge, "parameter '\(parameter.name)' of type \(parameter.type) has more than \(Limits.maximumElementCount) elements (LOWPASS_MAX_TENSOR_ELEMENTS)")
        }
        if let data = parameter.inlineData, let shape = parameter.type.fixedShape, data.count != shape.reduce(1, *) {
            report(.parameterShape, "parameter '\(parameter.name)' declares \(parameter.type) but carries \(data.count) inline values")
        }
        guard let dataShapes, parameter.inlineData == nil else { return }
        if let found = dataShapes[parameter.name] {
            if let declared = parameter.type.fixedShape, found != declared {
                report(.parameterShape, "parameter '\(parameter.name)' is declared \(declared) but its data has shape \(found)")
            }
        } else {
            report(.missingParameter, "parameter '\(parameter.name)' has no data in the weight file")
        }
    }

    /// Every value's type, in dataflow order, by each op's shape rule; a node whose inputs are unknown
    /// (after an earlier error) is skipped.
    private func inferTypes(order: [Int], binding: [String: Int], report: (DiagnosticID, String, String?) -> Void) -> [String: TensorType] {
        var types: [String: TensorType] = [:]
        for input in inputs { types[input.name] = input.type.binding(binding) }
        for parameter in parameters { types[parameter.name] = parameter.type }
        for i in order {
            let node = nodes[i]
            let inputTypes = node.inputs.compactMap { types[$0] }
            guard inputTypes.count == node.inputs.count else { continue }
            do throws(NodeError) {
                let outputTypes = try node.schema.shape(node, inputTypes)
                for (name, type) in zip(node.outputs, outputTypes) {
                    // Symbolic dimensions count as 1: the bound is on what the graph itself fixes.
                    guard Limits.elementCount(type.shape.map { $0.value ?? 1 }) != nil else {
                        throw NodeError(.tensorTooLarge, "output '\(name)' of type \(type) has more than \(Limits.maximumElementCount) elements, the limit for one tensor (LOWPASS_MAX_TENSOR_ELEMENTS)")
                    }
                    types[name] = type
                }
            } catch {
                report(error.id, error.message, node.name)
            }
        }
        return types
    }

    private func checkSignature(of node: Node, report: (DiagnosticID, String) -> Void) {
        let schema = node.schema
        let arity = schema.arity
        if !arity.contains(node.inputs.count) {
            let expected = arity.upperBound == Int.max ? "at least \(arity.lowerBound)"
                : arity.count == 1 ? "\(arity.lowerBound)" : "\(arity.lowerBound) to \(arity.upperBound)"
            let names = schema.inputs.map { $0.isOptional ? "[\($0.name)]" : $0.name }.joined(separator: ", ")
            report(.arity, "\(node.op.rawValue) takes \(expected) inputs (\(names)), got \(node.inputs.count)")
        }
        if node.outputs.count != schema.outputCount {
            report(.arity, "\(node.op.rawValue) has \(schema.outputCount) output(s), got \(node.outputs.count)")
        }
        for (name, value) in node.attributes {
            guard let spec = schema.attribute(name) else {
                let known = schema.attributes.map(\.name)
                report(.unknownAttribute, "\(node.op.rawValue) has no attribute '\(name)'" +
                       (known.isEmpty ? "" : "; it has: \(known.joined(separator: ", "))"))
                continue
            }
            let integers: [Int] = switch value {
            case .int(let v): [v]
            case .ints(let v): v
            default: []
            }
            if integers.contains(where: { abs($0) > Limits.maximumDimension }) {
                report(.badAttribute, "attribute '\(name)' holds a value beyond +-\(Limits.maximumDimension)")
                continue
            }
            let compatible = value.type == spec.type || (spec.type == .float && value.type == .int)
            if !compatible {
                report(.badAttribute, "attribute '\(name)' must be of type \(spec.type.rawValue), got \(value.type.rawValue)")
            } else if case .string(let s) = value, !spec.allowedValues.isEmpty, !spec.allowedValues.contains(s) {
                report(.badAttribute, "attribute '\(name)' must be one of \(spec.allowedValues.joined(separator: ", ")); got '\(s)'")
            }
        }
        for spec in schema.attributes where spec.defaultValue == nil && !spec.isOptional && node.attributes[spec.name] == nil {
            report(.missingAttribute, "\(node.op.rawValue) needs attribute '\(spec.name)' (\(spec.type.rawValue): \(spec.help))")
        }
    }

    /// Dataflow order that keeps file order wherever the file is already valid: each node goes
    /// right after the producers it still waits on. Iterative, so a 100,000-node chain cannot
    /// overflow the stack. Nodes on or behind a cycle are left out.
    public func topologicalOrder() -> [Int] {
        var producer: [String: Int] = [:]
        for (i, node) in nodes.enumerated() { for output in node.outputs where producer[output] == nil { producer[output] = i } }
        enum Mark { case unvisited, inProgress, done, blocked }
        var mark = [Mark](repeating: .unvisited, count: nodes.count)
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        for root in nodes.indices where mark[root] == .unvisited {
            // Each frame: a node and how many of its inputs have been looked at.
            var stack: [(node: Int, next: Int)] = [(root, 0)]
            mark[root] = .inProgress
            while let frame = stack.last {
                let (i, next) = (frame.node, frame.next)
                let inputs = nodes[i].inputs
                if next < inputs.count {
                    stack[stack.count - 1].next += 1
                    guard let p = producer[inputs[next]] else { continue }
                    switch mark[p] {
                    case .unvisited: mark[p] = .inProgress; stack.append((p, 0))
                    case .inProgress, .blocked: mark[i] = .blocked
                    case .done: break
                    }
                    continue
                }
                stack.removeLast()
                if mark[i] == .blocked || inputs.contains(where: { producer[$0].map { mark[$0] != .done } ?? false }) {
                    mark[i] = .blocked
                } else {
                    mark[i] = .done
                    order.append(i)
                }
                if let parent = stack.last?.node, mark[i] == .blocked { mark[parent] = .blocked }
            }
        }
        return order
    }
}

extension Graph {
    /// Reports names equal as text but not as bytes (see `NameSpelling`): value names among themselves,
    /// node names among themselves.
    func checkSpellings(report: (DiagnosticID, String, String?) -> Void) {
        var values = SpellingTable(), nodeNames = SpellingTable()
        func check(_ name: String, in table: inout SpellingTable, _ node: String?) {
            if case .respelled(let earlier) = table.record(name) {
                report(.ambiguousName, NameSpelling.describeConflict(earlier, name), node)
            }
        }
        for input in inputs { check(input.name, in: &values, nil) }
        for parameter in parameters { check(parameter.name, in: &values, nil) }
        for node in nodes {
            check(node.name, in: &nodeNames, node.name)
            for value in node.inputs + node.outputs { check(value, in: &values, node.name) }
        }
        for output in outputs { check(output, in: &values, nil) }
    }
}
