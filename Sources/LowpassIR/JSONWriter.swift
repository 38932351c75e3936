import Foundation

extension JSONValue {
    /// Pretty-printed JSON, written for diffs: two-space indents, members in their stored order,
    /// and arrays or objects of scalars kept on one line (`"shape": [1, 3, 224, 224]`).
    public func formatted() -> String {
        var out = ""
        write(to: &out, indent: 0, compact: false)
        out += "\n"
        return out
    }

    /// JSON on one line without spaces, for machine-read headers (safetensors).
    public func compactText() -> String {
        var out = ""
        write(to: &out, indent: 0, compact: true)
        return out
    }

    private var isScalar: Bool {
        switch self {
        case .array, .object: return false
        default: return true
        }
    }

    private var fitsOnOneLine: Bool {
        switch self {
        case .array(let elements): return elements.allSatisfy(\.isScalar)
        case .object(let members): return members.count <= 4 && members.allSatisfy { $0.value.isScalar }
        default: return true
        }
    }

    private func write(to out: inout String, indent: Int, compact: Bool) {
        let (comma, colon) = compact ? (",", ":") : (", ", ": ")
        let pad = String(repeating: "  ", count: indent + 1)
        let closePad = String(repeating: "  ", count: indent)
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += Self.format(d)
        case .string(let s): out += Self.quote(s)
        case .array(let elements):
            if elements.isEmpty { out += "[]"; return }
            if compact || fitsOnOneLine {
                out += "["
                for (i, element) in elements.enumerated() {
                    if i > 0 { out += comma }
                    element.write(to: &out, indent: indent, compact: compact)
                }
                out += "]"
                return
            }
            out += "[\n"
            for (i, element) in elements.enumerated() {
                out += pad
                element.write(to: &out, indent: indent + 1, compact: compact)
                out += i + 1 < elements.count ? ",\n" : "\n"
            }
            out += closePad + "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            if compact || fitsOnOneLine {
                out += "{"
                for (i, member) in members.enumerated() {
                    if i > 0 { out += comma }
                    out += Self.quote(member.key) + colon
                    member.value.write(to: &out, indent: indent, compact: compact)
                }
                out += "}"
                return
            }
            out += "{\n"
            for (i, member) in members.enumerated() {
                out += pad + Self.quote(member.key) + ": "
                member.value.write(to: &out, indent: indent + 1, compact: compact)
                out += i + 1 < members.count ? ",\n" : "\n"
            }
            out += closePad + "}"
        }
    }

    /// The shortest text that parses back to the same Double, always with a '.' or exponent so
    /// that a float attribute stays a float after a round trip.
    static func format(_ d: Double) -> String {
        // JSON has no infinities; the graph codec writes them as the strings "inf" and "-inf".
        guard d.isFinite else { return "null" }
        var text = "\(d)"
        if !text.contains(".") && !text.contains("e") { text += ".0" }
        return text
    }

    /// `s` as a JSON string literal (control characters escaped, other text as it is), which Python 3
    /// also reads back as `s`.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
