import Foundation
import LowpassIR

/// NumPy's `.npy` format: little-endian f32 (f64 and f16 are converted on reading), C order.
public enum NPY {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    public static func read(contentsOf path: String) throws(Diagnostic) -> Tensor {
        let data = try readFileBytes(path)
        do {
            return try decode(data)
        } catch {
            throw error.inFile(path)
        }
    }

    public static func decode(_ bytes: [UInt8]) throws(Diagnostic) -> Tensor {
        func fail(_ message: String) -> Diagnostic { Diagnostic(.badNpy, message) }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("not a .npy file (the magic string \\x93NUMPY is missing)") }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerLength = (8..<12).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 8)) }
            headerStart = 12
        default: throw fail("unsupported .npy version \(major)")
        }
        guard headerStart + headerLength <= bytes.count else { throw fail("truncated header: it declares \(headerLength) bytes") }
        guard let header = String(bytes: bytes[headerStart..<headerStart + headerLength], encoding: .utf8) else {
            throw fail("header is not text")
        }
        let dictionary = try parseHeader(header)
        guard let descrLiteral = dictionary["descr"] else { throw fail("header has no 'descr'") }
        guard let descr = unquoted(descrLiteral) else {
            throw fail("structured dtype \(descrLiteral.prefix(80)) is not supported; Lowpass reads plain float32, float64 and float16 arrays")
        }
        switch dictionary["fortran_order"] {
        case "False": break
        case "True": throw fail("Fortran-order arrays are not supported; save with numpy.ascontiguousarray")
        case let other: throw fail("'fortran_order' must be True or False, found \(other ?? "nothing")")
        }
        guard let shapeText = dictionary["shape"] else { throw fail("header has no 'shape'") }
        let shape = try parseShape(shapeText)
        let count = try Tensor.elementCount(of: shape)
        let elementSize: Int
        switch descr {
        case "<f4", "|f4": elementSize = 4
        case "<f8": elementSize = 8
        case "<f2": elementSize = 2
        default:
            throw fail("unsupported dtype '\(descr)'; Lowpass reads little-endian float32, float64 and float16")
        }
        let dataStart = headerStart + headerLength
        let expected = count * elementSize
        guard bytes.count - dataStart == expected else {
            throw fail("data holds \(bytes.count - dataStart) bytes, but shape \(shape) of '\(descr)' needs \(expected)")
        }
        var tensor = Tensor(zeros: shape)
        let overflow = tensor.withUnsafeMutableBufferPointer { out in
            bytes.withUnsafeBytes { raw in
                convert(UnsafeRawBufferPointer(rebasing: raw[dataStart...]), elementSize: elementSize, into: out)
            }
        }
        if let overflow { throw fail(overflowMessage(overflow)) }
        return tensor
    }

    /// Decodes little-endian floats of 2, 4 or 8 bytes into f32. Returns the first f64 element that is
    /// finite but beyond f32's range, with its value: it would become an infinity the file does not hold.
    @discardableResult
    static func convert(_ data: UnsafeRawBufferPointer, elementSize: Int, into out: UnsafeMutableBufferPointer<Float>) -> (index: Int, value: Double)? {
        var overflow: (index: Int, value: Double)?
        for i in 0..<out.count {
            switch elementSize {
            case 2: out[i] = Float(Float16(bitPattern: UInt16(littleEndian: data.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
            case 8:
                let wide = Double(bitPattern: UInt64(littleEndian: data.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
                out[i] = Float(wide)
                if overflow == nil, wide.isFinite, !out[i].isFinite { overflow = (i, wide) }
            default: out[i] = Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        }
        return overflow
    }

    /// The message for an f64 value that f32 cannot hold.
    static func overflowMessage(_ overflow: (index: Int, value: Double)) -> String {
        "element \(overflow.index) holds \(overflow.value), beyond f32's range (+-3.4e38); Lowpass computes in f32 and would turn it into an infinity"
    }

    /// The header is a Python dict literal: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    /// Values keep their Python spelling (quotes, brackets), so a string 'False' is not the literal False.
    static func parseHeader(_ header: String) throws(Diagnostic) -> [String: String] {
        func fail(_ message: String) -> Diagnostic { Diagnostic(.badNpy, message) }
        let text = Array(header.trimmingCharacters(in: .whitespacesAndNewlines).unicodeScalars)
        guard text.first == "{", text.last == "}" else { throw fail("header is not a dictionary: \(header.prefix(80))") }
        var i = 1
        func skip(_ characters: String) { while i < text.count - 1, characters.unicodeScalars.contains(text[i]) { i += 1 } }
        /// One Python literal from i: a quoted string, a bracketed group (nesting and quotes respected), or a bare word.
        func literal() throws(Diagnostic) -> String {
            let start = i
            var depth = 0, quote: Unicode.Scalar?
            while i < text.count - 1 {
                let c = text[i]
                if let q = quote { if c == q { quote = nil; if depth == 0 { i += 1; break } } }
                else if c == "'" || c == "\"" { quote = c }
                else if "([{".unicodeScalars.contains(c) { depth += 1 }
                else if ")]}".unicodeScalars.contains(c) { depth -= 1; if depth == 0 { i += 1; break } }
                else if depth == 0, c == "," || c == ":" { break }
                i += 1
            }
            guard quote == nil, depth == 0 else { throw fail("unterminated \(quote != nil ? "string" : "bracket") in header: \(header.prefix(120))") }
            return String(String.UnicodeScalarView(text[start..<i])).trimmingCharacters(in: .whitespaces)
        }
        var result: [String: String] = [:]
        while true {
            skip(" \n\t,")
            if i >= text.count - 1 { break }
            let key = try literal()
            guard key.count >= 2, key.first == "'" || key.first == "\"", key.last == key.first else { throw fail("header key \(key) is not a quoted string") }
            skip(" ")
            guard i < text.count - 1, text[i] == ":" else { throw fail("expected ':' after key \(key) in header") }
            i += 1
            skip(" ")
            let name = String(key.dropFirst().dropLast())
            guard result.updateValue(try literal(), forKey: name) == nil else { throw fail("header gives '\(name)' twice") }
        }
        let unknown = Set(result.keys).subtracting(["descr", "fortran_order", "shape"])
        guard unknown.isEmpty else { throw fail("header has keys \(unknown.sorted()) besides 'descr', 'fortran_order' and 'shape'") }
        return result
    }

    /// The quoted string's content, or nil for any other literal.
    static func unquoted(_ literal: String) -> String? {
        guard literal.count >= 2, let first = literal.first, first == "'" || first == "\"", literal.last == first else { return nil }
        return String(literal.dropFirst().dropLast())
    }

    static func parseShape(_ text: String) throws(Diagnostic) -> [Int] {
        guard text.hasPrefix("("), text.hasSuffix(")") else {
            throw Diagnostic(.badNpy, "'shape' must be a tuple of integers such as (1, 3, 224, 224), found \(text)")
        }
        let inner = text.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
        if inner.isEmpty { return [] }
        var parts = inner.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if parts.count > 1, parts.last == "" { parts.removeLast() }  // (3,) is a one-element tuple
        var shape: [Int] = []
        for part in parts {
            guard let n = Int(part), n >= 0 else { throw Diagnostic(.badNpy, "invalid shape \(text): '\(part)' is not a non-negative integer") }
            shape.append(n)
        }
        return shape
    }

    /// The file bytes of `tensor` as a version 1.0 little-endian f32 array, header padded to 64 bytes.
    public static func encode(_ tensor: Tensor) -> Data {
        let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data(magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        tensor.appendLittleEndianBytes(to: &data)
        return data
    }

    /// Writes through a temporary file and a rename, so a failure never leaves a partial file.
    public static func write(_ tensor: Tensor, to path: String) throws(Diagnostic) {
        try writeAtomically(encode(tensor), to: path)
    }
}
