/// The types an operator attribute can have (ONNX's INT, FLOAT, INTS, FLOATS, STRING).
public enum AttributeType: String, Sendable {
    case int, float, ints, floats, string
}

public enum AttributeValue: Hashable, Sendable, CustomStringConvertible {
    case int(Int)
    case float(Double)
    case ints([Int])
    case floats([Double])
    case string(String)

    public var type: AttributeType {
        switch self {
        case .int: return .int
        case .float: return .float
        case .ints: return .ints
        case .floats: return .floats
        case .string: return .string
        }
    }

    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .float(let v): return Self.format(v)
        case .ints(let v): return "[" + v.map(String.init).joined(separator: ",") + "]"
        case .floats(let v): return "[" + v.map(Self.format).joined(separator: ",") + "]"
        case .string(let v): return v
        }
    }

    static func format(_ v: Double) -> String {
        if v == .infinity { return "inf" }
        if v == -.infinity { return "-inf" }
        return JSONValue.format(v)
    }
}

/// A node's attributes by name. Absent attributes take the default that the op's schema declares.
public struct Attributes: Hashable, Sendable, ExpressibleByDictionaryLiteral, Sequence {
    public var values: [String: AttributeValue]

    public init(_ values: [String: AttributeValue] = [:]) { self.values = values }

    public init(dictionaryLiteral elements: (String, AttributeValue)...) {
        self.values = Dictionary(elements, uniquingKeysWith: { $1 })
    }

    public subscript(name: String) -> AttributeValue? {
        get { values[name] }
        set { values[name] = newValue }
    }

    public var isEmpty: Bool { values.isEmpty }

    /// Attributes in name order, so printed and encoded forms are stable.
    public var sorted: [(name: String, value: AttributeValue)] {
        values.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public func makeIterator() -> some IteratorProtocol<(name: String, value: AttributeValue)> {
        sorted.makeIterator()
    }
}
