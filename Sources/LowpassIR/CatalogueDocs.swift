/// The op catalogue rendered for people and for validators: the op and attribute tables of
/// docs/graph-format.md and the op-dependent parts of docs/graph.schema.json. Both files are generated
/// from here (a test fails when they differ), so the docs cannot drift from what Lowpass accepts.
extension OpSchema {
    /// Every op, in `OpKind`'s order.
    public static var all: [OpSchema] { OpKind.allCases.map(\.schema) }

    // MARK: Markdown

    public static func markdownTables() -> String {
        var lines = ["| op | inputs | output | computes |", "|---|---|---|---|"]
        for schema in all {
            lines.append("| `\(schema.kind.rawValue)` | \(schema.inputsText) | \(schema.output) | \(schema.summaryText) |")
        }
        lines += ["", "Attributes, as the catalogue declares them; \"checked\" is what the verifier adds",
                  "(`bad-attribute` unless noted):", "",
                  "| op | attribute | type | default | meaning | checked |", "|---|---|---|---|---|---|"]
        for schema in all {
            for (i, spec) in schema.attributes.enumerated() {
                let op = i == 0 ? "`\(schema.kind.rawValue)`" : ""
                lines.append("| \(op) | `\(spec.name)` | \(spec.typeText) | \(spec.defaultText) | \(spec.help) | \(spec.checkedText) |")
            }
        }
        let bare = all.filter { $0.attributes.isEmpty }.map { "`\($0.kind.rawValue)`" }
        lines += ["", "No attributes: \(bare.joined(separator: ", "))."]
        return lines.joined(separator: "\n")
    }

    private var inputsText: String {
        inputs.enumerated().map { i, spec in
            let name = spec.name + (spec.isParameter ? "\\*" : "")
            if isVariadic && i == inputs.count - 1 { return "\(name) (1 or more)" }
            return spec.isOptional ? "[\(name)]" : name
        }.joined(separator: ", ")
    }

    /// An element-wise op without attributes shows its expression: what the reference and the JIT compute.
    private var summaryText: String {
        guard let scalar, attributes.isEmpty else { return summary }
        return "\(summary); per element: `\(String(describing: (try? scalar(Node(name: "", op: kind, inputs: Array(repeating: "", count: max(inputs.count, 2)), outputs: []))) ?? .input(0)))`"
    }

    // MARK: JSON Schema

    /// The ops' names, per-op input counts, and per-op attribute schemas, as docs/graph.schema.json
    /// holds them under `$defs.node.properties.op.enum`, `$defs.node.allOf` and `$defs.attributes`.
    public static func jsonSchemaParts() -> (names: JSONValue, arity: JSONValue, attributes: JSONValue) {
        let names = JSONValue.array(all.map { .string($0.kind.rawValue) })
        let arity = JSONValue.array(all.map { schema in
            var inputs: [(key: String, value: JSONValue)] = [("minItems", .int(schema.minimumInputs))]
            if !schema.isVariadic { inputs.append(("maxItems", .int(schema.inputs.count))) }
            var then: [(key: String, value: JSONValue)] = [("properties", .object([
                ("inputs", .object(inputs)), ("attributes", .object([("$ref", .string("#/$defs/attributes/\(schema.kind.rawValue)"))])),
            ]))]
            if schema.attributes.contains(where: \.isRequired) { then.append(("required", .array([.string("attributes")]))) }
            return .object([("if", .object([("properties", .object([("op", .object([("const", .string(schema.kind.rawValue))]))])),
                                            ("required", .array([.string("op")]))])),
                            ("then", .object(then))])
        })
        let attributes = JSONValue.object(all.map { schema in
            var members: [(key: String, value: JSONValue)] = [
                ("description", .string("\(schema.kind.rawValue): \(schema.summary)")), ("type", .string("object")),
                ("properties", .object(schema.attributes.map { ($0.name, $0.jsonSchema) })), ("additionalProperties", .bool(false)),
            ]
            let required = schema.attributes.filter(\.isRequired).map { JSONValue.string($0.name) }
            if !required.isEmpty { members.append(("required", .array(required))) }
            return (schema.kind.rawValue, .object(members))
        })
        return (names, arity, attributes)
    }
}

extension AttributeSpec {
    var isRequired: Bool { defaultValue == nil && !isOptional }

    var typeText: String {
        allowedValues.isEmpty ? type.rawValue : "\(type.rawValue) (\(allowedValues.map { "`\($0)`" }.joined(separator: ", ")))"
    }

    var defaultText: String {
        guard let defaultValue else { return isOptional ? "none (optional)" : "**required**" }
        return "`\(Graph.encode(defaultValue).compactText().replacingOccurrences(of: ",", with: ", "))`"
    }

    /// The structured checks in words, then the rest.
    var checkedText: String {
        var parts: [String] = []
        switch (entries, minimum, maximum) {
        case let (count?, low?, high?): parts.append("\(count) entries, \(low) to \(high)")
        case let (count?, low?, nil): parts.append("\(count) entries >= \(low)")
        case let (count?, nil, _): parts.append("\(count) entries")
        case let (nil, low?, high?): parts.append("\(low) to \(high)")
        case let (nil, low?, nil): parts.append(type == .ints ? "entries >= \(low)" : ">= \(low)")
        default: break
        }
        if !checks.isEmpty { parts.append(checks) }
        return parts.joined(separator: "; ")
    }

    var jsonSchema: JSONValue {
        var members: [(key: String, value: JSONValue)] = [("description", .string(help))]
        switch type {
        case .int:
            members.append(("type", .string("integer")))
            if let minimum { members.append(("minimum", .int(minimum))) }
            if let maximum { members.append(("maximum", .int(maximum))) }
        case .float:
            members.append(("$ref", .string("#/$defs/float")))
        case .string:
            members.append(("type", .string("string")))
            if !allowedValues.isEmpty { members.append(("enum", .array(allowedValues.map { .string($0) }))) }
        case .ints, .floats:
            members.append(("type", .string("array")))
            var items: [(key: String, value: JSONValue)] = [("type", .string(type == .ints ? "integer" : "number"))]
            if let minimum { items.append(("minimum", .int(minimum))) }
            if let maximum { items.append(("maximum", .int(maximum))) }
            members.append(("items", .object(items)))
            if let entries { members += [("minItems", .int(entries)), ("maxItems", .int(entries))] }
        }
        if let defaultValue { members.append(("default", Graph.encode(defaultValue))) }
        return .object(members)
    }
}
