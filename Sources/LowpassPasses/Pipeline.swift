import Foundation
import LowpassIR

/// A pipeline written as text, LLVM/MLIR style: `antialias{filter=4,pad=reflect},fold-bn,dce`.
///
/// Grammar: `pipeline := pass (',' pass)*`, `pass := name ('{' option (',' option)* '}')?`,
/// `option := key '=' value`. Names and keys are `[A-Za-z0-9._-]`; a value runs to the next `,` or `}`
/// unless it is double-quoted (`"a,b"`, with `\"` and `\\` escapes). Whitespace between tokens is ignored.
/// A parsed pipeline prints back as the same text, canonically spaced.
public struct Pipeline: Sendable, Equatable, CustomStringConvertible {
    public struct Step: Sendable, Equatable {
        public var name: String
        public var options: [(key: String, value: String)]
        /// 1-based column of the name in the source text, and of each option key.
        public var column: Int
        public var optionColumns: [Int]

        public static func == (a: Step, b: Step) -> Bool {
            a.name == b.name && a.options.count == b.options.count
                && zip(a.options, b.options).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        }
    }

    public var steps: [Step]

    /// The longest pipeline text accepted; longer text is refused before parsing.
    public static let maximumLength = 64 * 1024

    public var description: String {
        steps.map { step in
            step.options.isEmpty ? step.name
                : step.name + "{" + step.options.map { "\($0.key)=\(Self.quoteIfNeeded($0.value))" }.joined(separator: ",") + "}"
        }.joined(separator: ",")
    }

    static func quoteIfNeeded(_ value: String) -> String {
        let plain = !value.isEmpty && value.allSatisfy { !",{}=\" \\".contains($0) }
        if plain { return value }
        return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// A mistake in pipeline text, with the column it was found at.
public struct PipelineError: Error, Sendable, CustomStringConvertible {
    public var text: String
    public var column: Int
    public var message: String

    /// The message, then the pipeline with a caret under the column (for short pipelines).
    public var description: String {
        var out = "pipeline:\(column): \(message)"
        if text.count <= 200 {
            out += "\n  \(text)\n  " + String(repeating: " ", count: max(column - 1, 0)) + "^"
        }
        return out
    }
}

extension Pipeline {
    public init(parsing text: String) throws(PipelineError) {
        guard text.utf8.count <= Self.maximumLength else {
            throw PipelineError(text: String(text.prefix(60)) + "...", column: 1,
                                message: "pipeline text is \(text.utf8.count) bytes; the limit is \(Self.maximumLength)")
        }
        var scanner = PipelineScanner(text: text)
        steps = try scanner.parse()
    }
}

private struct PipelineScanner {
    let text: String
    let chars: [Character]
    var i = 0

    init(text: String) {
        self.text = text
        chars = Array(text)
    }

    func error(_ message: String, at position: Int? = nil) -> PipelineError {
        PipelineError(text: text, column: (position ?? i) + 1, message: message)
    }

    mutating func skipSpaces() { while i < chars.count, chars[i].isWhitespace { i += 1 } }

    static func isNameCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_" || c == ".")
    }

    mutating func name(_ what: String) throws(PipelineError) -> (String, Int) {
        skipSpaces()
        let start = i
        while i < chars.count, Self.isNameCharacter(chars[i]) { i += 1 }
        guard i > start else {
            let found = i < chars.count ? "'\(chars[i])'" : "the end"
            throw error("expected \(what), found \(found)")
        }
        return (String(chars[start..<i]), start)
    }

    mutating func value() throws(PipelineError) -> String {
        skipSpaces()
        if i < chars.count, chars[i] == "\"" {
            let start = i
            i += 1
            var out = ""
            while i < chars.count, chars[i] != "\"" {
                if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                out.append(chars[i])
                i += 1
            }
            guard i < chars.count else { throw error("unterminated quoted value", at: start) }
            i += 1
            return out
        }
        let start = i
        while i < chars.count, !",}{=\"".contains(chars[i]) { i += 1 }
        let raw = String(chars[start..<i]).trimmingCharacters(in: .whitespaces)
        guard !raw.isEmpty else { throw error("expected a value after '='") }
        return raw
    }

    mutating func parse() throws(PipelineError) -> [Pipeline.Step] {
        var steps: [Pipeline.Step] = []
        skipSpaces()
        guard i < chars.count else { throw error("the pipeline is empty; give passes such as 'dce' or 'fold-bn,dce'") }
        while true {
            let (passName, column) = try name("a pass name")
            var step = Pipeline.Step(name: passName, options: [], column: column + 1, optionColumns: [])
            skipSpaces()
            if i < chars.count, chars[i] == "{" {
                let open = i
                i += 1
                skipSpaces()
                if i < chars.count, chars[i] == "}" { throw error("empty option list; leave out the braces", at: open) }
                while true {
                    let (key, keyStart) = try name("an option name")
                    if step.options.contains(where: { $0.key == key }) { throw error("option '\(key)' is given twice", at: keyStart) }
                    skipSpaces()
                    guard i < chars.count, chars[i] == "=" else { throw error("expected '=' after option '\(key)'") }
                    i += 1
                    step.options.append((key, try value()))
                    step.optionColumns.append(keyStart + 1)
                    skipSpaces()
                    guard i < chars.count else { throw error("missing '}' to close the options opened here", at: open) }
                    if chars[i] == "," { i += 1; continue }
                    if chars[i] == "}" { i += 1; break }
                    throw error("expected ',' or '}' in the options of '\(passName)', found '\(chars[i])'")
                }
            }
            steps.append(step)
            skipSpaces()
            if i == chars.count { return steps }
            guard chars[i] == "," else { throw error("expected ',' between passes, found '\(chars[i])'") }
            i += 1
            skipSpaces()
            if i == chars.count { throw error("trailing ',': a pass name must follow") }
        }
    }
}
