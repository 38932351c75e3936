import LowpassPasses

/// The include and exclude options of the downsampler passes: which nodes they may rewrite.
struct NodeSelection: Sendable {
    var include: [String]
    var exclude: [String]

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
