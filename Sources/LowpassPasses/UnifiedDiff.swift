/// A unified diff (`diff -u` style, 3 lines of context) between two texts, line by line.
public func unifiedDiff(from old: String, to new: String, oldName: String = "before", newName: String = "after",
                        context: Int = 3) -> String {
    let a = old.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let b = new.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let difference = b.difference(from: a)
    guard !difference.isEmpty else { return "" }
    // Mark which lines of each side are removed or inserted, then walk both sides in step.
    var removed = Set<Int>(), inserted = Set<Int>()
    for change in difference {
        switch change {
        case .remove(let offset, _, _): removed.insert(offset)
        case .insert(let offset, _, _): inserted.insert(offset)
        }
    }
    enum Line { case same(Int, Int), minus(Int), plus(Int) }
    var lines: [Line] = []
    var i = 0, j = 0
    while i < a.count || j < b.count {
        if i < a.count, removed.contains(i) { lines.append(.minus(i)); i += 1 }
        else if j < b.count, inserted.contains(j) { lines.append(.plus(j)); j += 1 }
        else { lines.append(.same(i, j)); i += 1; j += 1 }
    }
    // Group changed lines with their context into hunks.
    let changed = lines.indices.filter { if case .same = lines[$0] { return false } else { return true } }
    var hunks: [ClosedRange<Int>] = []
    for k in changed {
        let range = max(k - context, 0)...min(k + context, lines.count - 1)
        if let last = hunks.last, range.lowerBound <= last.upperBound + 1 {
            hunks[hunks.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
        } else {
            hunks.append(range)
        }
    }
    var out = "--- \(oldName)\n+++ \(newName)\n"
    for hunk in hunks {
        var oldStart: Int?, newStart: Int?, oldCount = 0, newCount = 0
        var body = ""
        for line in lines[hunk] {
            switch line {
            case .same(let x, let y):
                oldStart = oldStart ?? x; newStart = newStart ?? y; oldCount += 1; newCount += 1
                body += " \(a[x])\n"
            case .minus(let x):
                oldStart = oldStart ?? x; oldCount += 1
                body += "-\(a[x])\n"
            case .plus(let y):
                newStart = newStart ?? y; newCount += 1
                body += "+\(b[y])\n"
            }
        }
        out += "@@ -\((oldStart ?? 0) + 1),\(oldCount) +\((newStart ?? 0) + 1),\(newCount) @@\n" + body
    }
    return out
}
