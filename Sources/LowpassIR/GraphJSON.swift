import Foundation

/// The graph file: JSON, versioned, documented in docs/graph-format.md and docs/graph.schema.json.
extension Graph {
    /// Decodes a graph file's bytes. Every problem found is reported with its JSON path.
    public static func decode(json bytes: some Collection<UInt8>, file: String? = nil) throws(Diagnostics) -> Graph {
        let root: JSONValue
        do {
            root = try JSONValue.parse(bytes)
        } catch {
            throw Diagnostics([Diagnostic(.malformedJson, "not valid JSON: \(error)", at: SourceLocation(file: file))])
        }
        var decoder = GraphDecoder(file: file)
        let graph = decoder.graph(from: root)
        guard decoder.findings.isEmpty, let graph else { throw Diagnostics(decoder.findings) }
        return graph
    }

    public static func load(contentsOf path: String) throws(Diagnostics) -> Graph {
        let data: [UInt8]
        do { data = try readFileBytes(path) } catch { throw Diagnostics([Diagnostic(error.id, "cannot read the graph file: \(error.message)", at: error.location)]) }
        return try decode(json: data, file: path)
    }

    public func encodedJSON() -> JSONValue {
        func type(_ t: TensorType) -> [(key: String, value: JSONValue)] {
            [("dtype", .string(t.dtype.rawValue)),
             ("shape", .array(t.shape.map { dim in
                 switch dim {
                 case .fixed(let n): return .int(n)
                 case .symbol(let s): return .string(s)
                 }
             }))]
        }
        var members: [(key: String, value: JSONValue)] = [
            ("format", .string(Graph.formatName)), ("version", .int(Graph.formatVersion)), ("name", .string(name)),
        ]
        if !metadata.isEmpty {
            members.append(("metadata", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        if let weightsFile { members.append(("weights", .string(weightsFile))) }
        members.append(("inputs", .array(inputs.map { .object([("name", .string($0.name))] + type($0.type)) })))
        members.append(("outputs", .array(outputs.map(JSONValue.string))))
        members.append(("parameters", .array(parameters.map { p in
            var object: [(key: String, value: JSONValue)] = [("name", .string(p.name))] + type(p.type)
            if let data = p.inlineData {
                // Float's shortest text ("0.1", not 0.10000000149011612) reads back to the same f32.
                object.append(("data", .array(data.map { .double(Double($0.description) ?? Double($0)) })))
            }
            return .object(object)
        })))
        members.append(("nodes", .array(nodes.map { node in
            var object: [(key: String, value: JSONValue)] = [
                ("name", .string(node.name)), ("op", .string(node.op.rawValue)),
                ("inputs", .array(node.inputs.map(JSONValue.string))),
                ("outputs", .array(node.outputs.map(JSONValue.string))),
            ]
            if !node.attributes.isEmpty {
                object.append(("attributes", .object(node.attributes.sorted.map { ($0.name, Self.encode($0.value)) })))
            }
            return .object(object)
        })))
        return .object(members)
    }

    /// The file text: stable key order, one line per small array, so diffs of graph files stay readable.
    public func jsonText() -> String { encodedJSON().formatted() }

    static func encode(_ value: AttributeValue) -> JSONValue {
        func number(_ d: Double) -> JSONValue { d.isFinite ? .double(d) : .string(d > 0 ? "inf" : "-inf") }
        switch value {
        case .int(let v): return .int(v)
        case .float(let v): return number(v)
        case .ints(let v): return .array(v.map(JSONValue.int))
        case .floats(let v): return .array(v.map(number))
        case .string(let v): return .string(v)
        }
    }
}

/// Walks the JSON document, collecting every problem with its path instead of stopping at the first.
private struct GraphDecoder {
    let file: String?
    var findings: [Diagnostic] = []

    mutating func fail(_ path: String, _ message: String, id: DiagnosticID = .badGraphFile, node: String? = nil) {
        findings.append(Diagnostic(id, message, at: SourceLocation(file: file, path: path, node: node)))
    }

    mutating func object(_ value: JSONValue?, _ path: String, allowed: [String]) -> [(key: String, value: JSONValue)]? {
        guard let value else { fail(path, "missing; expected an object"); return nil }
        guard case .object(let members) = value else { fail(path, "expected an object, found \(value.kindName)"); return nil }
        for member in members where !allowed.contains(member.key) {
            fail("\(path).\(member.key)", "unknown key; expected one of: \(allowed.joined(separator: ", "))")
        }
        return members
    }

    mutating func string(_ value: JSONValue?, _ path: String) -> String? {
        guard let value else { fail(path, "missing; expected a string"); return nil }
        guard case .string(let s) = value else { fail(path, "expected a string, found \(value.kindName)"); return nil }
        return s
    }

    mutating func array(_ value: JSONValue?, _ path: String) -> [JSONValue]? {
        guard let value else { fail(path, "missing; expected an array"); return nil }
        guard case .array(let elements) = value else { fail(path, "expected an array, found \(value.kindName)"); return nil }
        return elements
    }

    mutating func strings(_ value: JSONValue?, _ path: String) -> [String]? {
        guard let elements = array(value, path) else { return nil }
        let strings = elements.enumerated().compactMap { string($1, "\(path)[\($0)]") }
        return strings.count == elements.count ? strings : nil
    }

    mutating func tensorType(_ object: JSONValue, _ path: String) -> TensorType? {
        let dtypeName = object["dtype"].map { string($0, "\(path).dtype") } ?? "f32"
        guard let dtypeName else { return nil }
        guard let dtype = DType(rawValue: dtypeName) else {
            fail("\(path).dtype", "unsupported dtype '\(dtypeName)'; expected one of: \(DType.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        guard let dims = array(object["shape"], "\(path).shape") else { return nil }
        var shape: [Dim] = []
        for (i, dim) in dims.enumerated() {
            switch dim {
            case .int(let n) where n >= 0 && n <= Limits.maximumDimension: shape.append(.fixed(n))
            case .string(let s) where !s.isEmpty: shape.append(.symbol(s))
            default: fail("\(path).shape[\(i)]", "expected an integer from 0 to \(Limits.maximumDimension) or a symbol name, found \(dim)")
            }
        }
        return shape.count == dims.count ? TensorType(dtype, shape) : nil
    }

    mutating func graph(from root: JSONValue) -> Graph? {
        let keys = ["format", "version", "name", "metadata", "weights", "inputs", "outputs", "parameters", "nodes"]
        guard object(root, "$", allowed: keys) != nil else { return nil }
        if let format = string(root["format"], "$.format"), format != Graph.formatName {
            fail("$.format", "expected \"\(Graph.formatName)\", found \"\(format)\"")
        }
        switch root["version"] {
        case .int(Graph.formatVersion)?: break
        case .int(let v)?: fail("$.version", "unsupported version \(v); this Lowpass reads version \(Graph.formatVersion)")
        case let other: fail("$.version", "expected the integer \(Graph.formatVersion), found \(other?.kindName ?? "nothing")")
        }
        var graph = Graph(name: string(root["name"], "$.name") ?? "")
        switch root["metadata"] {
        case nil: break
        case .object(let members)?:
            for member in members {
                if let value = string(member.value, "$.metadata.\(member.key)") { graph.metadata[member.key] = value }
            }
        case let other?: fail("$.metadata", "expected an object of strings, found \(other.kindName)")
        }
        if let weights = root["weights"], let file = string(weights, "$.weights") {
            // The system would read the path only up to a NUL ("a\u0000b.safetensors" as "a").
            if file.isEmpty || file.utf8.contains(0) {
                fail("$.weights", "expected a file name, found \(file.isEmpty ? "an empty string" : "one with a NUL character")")
            } else {
                graph.weightsFile = file
            }
        }

        for (i, input) in (array(root["inputs"], "$.inputs") ?? []).enumerated() {
            let path = "$.inputs[\(i)]"
            guard object(input, path, allowed: ["name", "dtype", "shape"]) != nil,
                  let name = string(input["name"], "\(path).name"), let type = tensorType(input, path) else { continue }
            graph.inputs.append(ValueInfo(name: name, type: type))
        }
        graph.outputs = strings(root["outputs"], "$.outputs") ?? []
        for (i, parameter) in (array(root["parameters"] ?? .array([]), "$.parameters") ?? []).enumerated() {
            let path = "$.parameters[\(i)]"
            guard object(parameter, path, allowed: ["name", "dtype", "shape", "data"]) != nil,
                  let name = string(parameter["name"], "\(path).name"), let type = tensorType(parameter, path) else { continue }
            var inline: [Float]?
            if let data = parameter["data"] {
                let numbers = (array(data, "\(path).data") ?? []).enumerated().compactMap { j, v -> Float? in
                    switch v {
                    case .int(let n): return Float(n)
                    case .double(let d) where Float(d).isFinite: return Float(d)
                    case .double(let d): fail("\(path).data[\(j)]", "\(d) is beyond f32's range (+-3.4e38); JSON has no infinities, and Lowpass does not make one up"); return nil
                    default: fail("\(path).data[\(j)]", "expected a number, found \(v.kindName)"); return nil
                    }
                }
                inline = numbers
            }
            graph.parameters.append(Parameter(name: name, type: type, inlineData: inline))
        }
        for (i, node) in (array(root["nodes"], "$.nodes") ?? []).enumerated() {
            if let decoded = self.node(node, "$.nodes[\(i)]") { graph.nodes.append(decoded) }
        }
        return graph
    }

    mutating func node(_ value: JSONValue, _ path: String) -> Node? {
        guard object(value, path, allowed: ["name", "op", "inputs", "outputs", "attributes"]) != nil else { return nil }
        let name = string(value["name"], "\(path).name")
        guard let opName = string(value["op"], "\(path).op") else { return nil }
        guard let op = OpKind(rawValue: opName) else {
            let known = OpKind.allCases.map(\.rawValue)
            let hint = closestName(to: opName, in: known).map { " (did you mean '\($0)'?)" } ?? ""
            fail("\(path).op", "unknown op '\(opName)'\(hint); known ops: \(known.joined(separator: ", "))", id: .unknownOp, node: name)
            return nil
        }
        let inputs = strings(value["inputs"], "\(path).inputs")
        let outputs = strings(value["outputs"], "\(path).outputs")
        var attributes = Attributes()
        if let members = value["attributes"].flatMap({ v -> [(key: String, value: JSONValue)]? in
            guard case .object(let m) = v else { fail("\(path).attributes", "expected an object, found \(v.kindName)"); return nil }
            return m
        }) {
            for member in members {
                let type = op.schema.attribute(member.key)?.type
                if let decoded = attribute(member.value, as: type, "\(path).attributes.\(member.key)", node: name) {
                    attributes[member.key] = decoded
                }
            }
        }
        guard let name, let inputs, let outputs else { return nil }
        return Node(name: name, op: op, inputs: inputs, outputs: outputs, attributes: attributes)
    }

    /// Decodes an attribute by its declared type; an attribute the op does not declare is decoded
    /// by its JSON shape so that the verifier can name it.
    mutating func attribute(_ value: JSONValue, as type: AttributeType?, _ path: String, node: String?) -> AttributeValue? {
        func number(_ v: JSONValue) -> Double? {
            switch v {
            case .int(let n): return Double(n)
            case .double(let d): return d
            case .string("inf"): return .infinity
            case .string("-inf"): return -.infinity
            default: return nil
            }
        }
        let inferred: AttributeType? = switch value {
        case .int: .int
        case .double: .float
        case .string("inf"), .string("-inf"): type == .float ? .float : .string
        case .string: .string
        case .array(let a): a.allSatisfy({ if case .int = $0 { true } else { false } }) ? .ints : .floats
        default: nil
        }
        let expected = type ?? inferred
        var result: AttributeValue?
        switch (expected, value) {
        case (.int?, .int(let n)): result = .int(n)
        case (.float?, _): result = number(value).map(AttributeValue.float)
        case (.string?, .string(let s)): result = .string(s)
        case (.ints?, .array(let a)):
            let ints = a.compactMap { if case .int(let n) = $0 { n } else { nil } }
            if ints.count == a.count { result = .ints(ints) }
        case (.floats?, .array(let a)):
            let floats = a.compactMap(number)
            if floats.count == a.count { result = .floats(floats) }
        default: break
        }
        if result == nil {
            let what: String = switch expected {
            case .int?: "an integer"
            case .float?: "a number (or \"inf\", \"-inf\")"
            case .ints?: "an array of integers"
            case .floats?: "an array of numbers"
            case .string?: "a string"
            case nil: "an integer, number, string or array of them"
            }
            fail(path, "expected \(what), found \(value.kindName)", id: .badAttribute, node: node)
        }
        return result
    }
}

/// The candidate with the smallest edit distance, if it is close enough to be a plausible typo.
public func closestName(to word: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
    let lowered = Array(word.lowercased())
    let scored = candidates.map { ($0, distance(lowered, Array($0.lowercased()))) }
    guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, word.count / 3) else { return nil }
    return best.0
}
