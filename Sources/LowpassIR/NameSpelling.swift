/// Swift's `String` equality and hashing follow Unicode canonical equivalence, so "é" (U+00E9) and
/// "e" + U+0301 are one dictionary key; ONNX, safetensors and Python compare names byte for byte.
/// Lowpass keys its tables by `String`, so two such names would silently become one value (and a file
/// Lowpass accepted could be rejected by ONNX's checker). Readers refuse them instead, with this text.
public enum NameSpelling {
    public static func sameBytes(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

    /// "'é' (UTF-8 c3 a9) and 'é' (UTF-8 65 cc 81) differ only in Unicode normalization".
    public static func describeConflict(_ a: String, _ b: String) -> String {
        func bytes(_ s: String) -> String { s.utf8.prefix(48).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ") }
        return "'\(a)' (UTF-8 \(bytes(a))) and '\(b)' (UTF-8 \(bytes(b))) differ only in Unicode normalization; Lowpass would take them for one name: spell them the same, or rename one"
    }
}

/// The first spelling seen of each name, to find later ones that are equal as text but not as bytes.
public struct SpellingTable {
    private var first: [String: String] = [:]

    public init() {}

    public enum Sighting: Equatable { case first, again, respelled(earlier: String) }

    /// Records `name`: its first sighting, a byte-identical repeat, or a canonically equal respelling.
    public mutating func record(_ name: String) -> Sighting {
        guard let earlier = first[name] else { first[name] = name; return .first }
        return NameSpelling.sameBytes(earlier, name) ? .again : .respelled(earlier: earlier)
    }
}
