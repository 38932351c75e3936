/// Where a problem is: a file, a JSON path inside it, a node. Any part may be unknown.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public var file: String?
    public var path: String?
    public var node: String?

    public init(file: String? = nil, path: String? = nil, node: String? = nil) {
        self.file = file
        self.path = path
        self.node = node
    }

    public static func node(_ name: String) -> SourceLocation { SourceLocation(node: name) }

    public var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let path { parts.append(path) }
        if let node { parts.append("node '\(node)'") }
        return parts.joined(separator: ": ")
    }
}

/// One finding: a stable id (for tests and scripts), a severity, a location and a message.
public struct Diagnostic: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning, note }

    public var id: DiagnosticID
    public var severity: Severity
    public var location: SourceLocation
    public var message: String

    public init(_ id: DiagnosticID, _ message: String, at location: SourceLocation = SourceLocation(), severity: Severity = .error) {
        self.id = id
        self.severity = severity
        self.location = location
        self.message = message
    }

    public var description: String {
        let place = location.description
        return "\(severity.rawValue): \(place.isEmpty ? "" : place + ": ")\(message) [\(id)]"
    }

    /// The same finding placed in a file, for errors raised before the file name was known.
    public func inFile(_ file: String) -> Diagnostic {
        var copy = self
        if copy.location.file == nil { copy.location.file = file }
        return copy
    }
}

/// Every finding of a check that looks at the whole input before failing.
public struct Diagnostics: Error, Sendable, CustomStringConvertible {
    public var items: [Diagnostic]

    public init(_ items: [Diagnostic]) { self.items = items }

    public var errors: [Diagnostic] { items.filter { $0.severity == .error } }

    public var description: String { items.map(\.description).joined(separator: "\n") }

    public func inFile(_ file: String) -> Diagnostics { Diagnostics(items.map { $0.inFile(file) }) }
}
