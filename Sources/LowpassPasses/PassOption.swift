import LowpassIR

/// One option a pass declares: its name, type, default and help text.
public struct PassOption: Sendable {
    public enum Kind: Sendable, Equatable {
        case int(ClosedRange<Int>)
        case float
        case bool
        case string
        /// One of a fixed set of words.
        case choice([String])
    }

    public var name: String
    public var kind: Kind
    public var defaultValue: PassOptions.Value
    public var help: String

    public init(_ name: String, _ kind: Kind, default defaultValue: PassOptions.Value, help: String) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.help = help
    }

    public var typeDescription: String {
        switch kind {
        case .int(let range): return range == Int.min...Int.max ? "int" : "int in \(range.lowerBound)...\(range.upperBound)"
        case .float: return "float"
        case .bool: return "bool"
        case .string: return "string"
        case .choice(let words): return words.joined(separator: "|")
        }
    }

    /// Converts option text from a pipeline into a typed value.
    public func parse(_ text: String) throws(PassOptionError) -> PassOptions.Value {
        switch kind {
        case .int(let range):
            guard let n = Int(text) else { throw PassOptionError(message: "option '\(name)' expects an integer, got '\(text)'") }
            guard range.contains(n) else { throw PassOptionError(message: "option '\(name)' must be in \(range.lowerBound)...\(range.upperBound), got \(n)") }
            return .int(n)
        case .float:
            guard let x = Double(text), x.isFinite else { throw PassOptionError(message: "option '\(name)' expects a number, got '\(text)'") }
            return .float(x)
        case .bool:
            switch text {
            case "true", "1", "on": return .bool(true)
            case "false", "0", "off": return .bool(false)
            default: throw PassOptionError(message: "option '\(name)' expects true or false, got '\(text)'")
            }
        case .string:
            return .string(text)
        case .choice(let words):
            guard words.contains(text) else { throw PassOptionError(message: "option '\(name)' must be one of \(words.joined(separator: ", ")); got '\(text)'") }
            return .string(text)
        }
    }
}

/// An option value that does not fit the option's type.
public struct PassOptionError: Error, Sendable {
    public var message: String
}

/// A pass's option values, every declared option present (defaults filled in).
public struct PassOptions: Sendable, Equatable {
    public enum Value: Sendable, Equatable, CustomStringConvertible {
        case int(Int)
        case float(Double)
        case bool(Bool)
        case string(String)

        public var description: String {
            switch self {
            case .int(let n): return String(n)
            case .float(let x): return String(x)
            case .bool(let b): return String(b)
            case .string(let s): return s
            }
        }
    }

    public var values: [String: Value]

    public init(_ values: [String: Value] = [:]) { self.values = values }

    /// The declared defaults, overridden by `given`.
    public init(defaults: [PassOption], given: [String: Value] = [:]) {
        var values = Dictionary(uniqueKeysWithValues: defaults.map { ($0.name, $0.defaultValue) })
        values.merge(given) { $1 }
        self.values = values
    }

    // Option names here are the pass's own constants, never user text: a name the pass did not
    // declare is a bug in the pass, caught by the assertion in debug builds and tests.
    private func declared(_ name: String) -> Value? {
        assert(values[name] != nil, "option '\(name)' is not declared by this pass")
        return values[name]
    }

    public func int(_ name: String) -> Int {
        if case .int(let n)? = declared(name) { return n }
        return 0
    }

    /// A `.choice` option as the enum whose raw values are its words.
    public func choice<Choice: RawRepresentable>(_ name: String, as type: Choice.Type) -> Choice? where Choice.RawValue == String {
        Choice(rawValue: string(name))
    }

    public func float(_ name: String) -> Double {
        switch declared(name) {
        case .float(let x)?: return x
        case .int(let n)?: return Double(n)
        default: return 0
        }
    }

    public func bool(_ name: String) -> Bool {
        if case .bool(let b)? = declared(name) { return b }
        return false
    }

    public func string(_ name: String) -> String {
        if case .string(let s)? = declared(name) { return s }
        return values[name]?.description ?? ""
    }
}
