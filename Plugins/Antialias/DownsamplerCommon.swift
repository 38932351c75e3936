import LowpassIR
import LowpassPasses

/// What the two downsampler passes (`antialias`, `aps`) share: which nodes they rewrite, how they
/// check their result, and the table they report.
extension Node {
    /// A MaxPool, AveragePool or Conv with a stride above 1.
    var isStridedDownsampler: Bool {
        guard [.maxPool, .averagePool, .conv].contains(op), let strides = try? ints("strides") else { return false }
        return strides.contains { $0 > 1 }
    }
}

extension Graph {
    /// Puts `nodes` where the node named `name` stood (in order once the pass settles the graph's order).
    mutating func replaceNode(named name: String, with nodes: [Node]) {
        guard let index = index(ofNodeNamed: name) else { return }
        replaceNode(at: index, with: nodes)
    }

    /// Spatial sizes of the graph's 4-D inputs: a strided conv reading a map of such a size is in the stem.
    var inputMapSizes: Set<[Int]> { Set(inputs.compactMap { $0.type.rank == 4 ? $0.type.shape[2...].compactMap(\.value) : nil }) }
}

/// [height, width] of a feature map.
func mapSize(_ value: String, _ types: [String: TensorType]) throws(NodeError) -> [Int] {
    let size = types[value].map { $0.rank == 4 ? $0.shape.suffix(2).compactMap(\.value) : [] } ?? []
    guard size.count == 2 else {
        throw NodeError(.notAMap, "'\(value)' is not a 4-D feature map with a known height and width")
    }
    return size
}

/// The include and exclude options of the downsampler passes: which nodes they may rewrite.
struct NodeSelection: Sendable {
    var include: [String]
    var exclude: [String]

    static let options = [
        PassOption("include", .string, default: .string(""), help: "only rewrite nodes whose name matches one of these glob patterns, separated by '|'"),
        PassOption("exclude", .string, default: .string(""), help: "never rewrite nodes whose name matches one of these glob patterns, separated by '|'"),
    ]

    init(_ options: PassOptions) {
        include = options.string("include").split(separator: "|").map(String.init)
        exclude = options.string("exclude").split(separator: "|").map(String.init)
    }

    func selects(_ name: String) -> Bool {
        (include.isEmpty || include.contains { globMatches($0, name) }) && !exclude.contains { globMatches($0, name) }
    }
}

/// Shell-style matching: `*` any run of characters, `?` one character; everything else literal.
func globMatches(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern), t = Array(text)
    var (i, j, star, mark) = (0, 0, -1, 0)
    while j < t.count {
        if i < p.count && (p[i] == "?" || p[i] == t[j]) { i += 1; j += 1 }
        else if i < p.count && p[i] == "*" { star = i; mark = j; i += 1 }
        else if star >= 0 { i = star + 1; mark += 1; j = mark }
        else { return false }
    }
    while i < p.count && p[i] == "*" { i += 1 }
    return i == p.count
}

/// The rewritten graph, verified, with every output's type as `types` (the original's) had it: a
/// downsampler rule that changed one is a bug in the pass, reported as such.
func verifyOutputsKept(_ rewritten: Graph, outputs: [String], types: [String: TensorType], pass: String) throws(PassError) -> VerifiedGraph {
    let after: VerifiedGraph
    do { after = try rewritten.verify() } catch {
        throw PassError(pass: pass, "the rewritten graph does not verify (a bug): \(error)")
    }
    for output in outputs where after.types[output] != types[output] {
        throw PassError(pass: pass, "output '\(output)' would change from \(types[output].map(String.init(describing:)) ?? "?") to \(after.types[output].map(String.init(describing:)) ?? "?")")
    }
    return after
}

/// `56x56`.
func dims(_ size: [Int]) -> String { size.map(String.init).joined(separator: "x") }

/// The table a downsampler pass reports: node, rule, map, added multiply-adds; then the totals.
func renderRewriteReport(_ rows: [[String]], macsBefore: Int, macsAfter: Int) -> String {
    let header = ["node", "rule", "map", "added MACs"]
    let table = [header] + rows
    let widths = (0..<4).map { column in table.map { $0[column].count }.max() ?? 0 }
    var lines = table.map { row in
        zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }
    lines.insert(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "), at: 1)
    let ratio = macsBefore > 0 ? Double(macsAfter) / Double(macsBefore) : 1
    lines.append("multiply-adds per sample: \(macsBefore) -> \(macsAfter) (x\(String(format: "%.3f", ratio)))")
    return lines.map { "  " + $0 }.joined(separator: "\n") + "\n"
}
