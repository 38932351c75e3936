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
        func fail(_ message: String) -> Diagnostic { Diagnostic("bad-npy", message) }
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
        guard let descr = dictionary["descr"] else { throw fail("header has no 'descr'") }
        guard dictionary["fortran_order"] == "False" else {
            throw fail("Fortran-order arrays are not supported; save with numpy.ascontiguousarray")
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
        tensor.withUnsafeMutableBufferPointer { out in
            bytes.withUnsafeBytes { raw in
                let data = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
                convert(data, elementSize: elementSize, into: out)
            }
        }
        return tensor
    }

    /// Decodes little-endian floats of 2, 4 or 8 bytes into f32.
    static func convert(_ data: UnsafeRawBufferPointer, elementSize: Int, into out: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<out.count {
            switch elementSize {
            case 2: out[i] = Float(Float16(bitPattern: UInt16(littleEndian: data.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
            case 8: out[i] = Float(Double(bitPattern: UInt64(littleEndian: data.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            default: out[i] = Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        }
    }

    /// The header is a Python dict literal: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    static func parseHeader(_ header: String) throws(Diagnostic) -> [String: String] {
        var result: [String: String] = [:]
        let body = header.trimmingCharacters(in: .whitespacesAndNewlines)
        guard body.hasPrefix("{"), body.hasSuffix("}") else { throw Diagnostic("bad-npy", "header is not a dictionary: \(body.prefix(80))") }
        var rest = Substring(body.dropFirst().dropLast())
        while let keyStart = rest.firstIndex(of: "'") {
            guard let keyEnd = rest[rest.index(after: keyStart)...].firstIndex(of: "'"),
                  let colon = rest[keyEnd...].firstIndex(of: ":") else { break }
            let key = String(rest[rest.index(after: keyStart)..<keyEnd])
            var value = rest[rest.index(after: colon)...].drop { $0 == " " }
            let end: String.Index
            if value.first == "(" {
                guard let close = value.firstIndex(of: ")") else { throw Diagnostic("bad-npy", "unterminated shape tuple") }
                end = value.index(after: close)
            } else if value.first == "'" {
                guard let close = value.dropFirst().firstIndex(of: "'") else { throw Diagnostic("bad-npy", "unterminated string in header") }
                end = value.index(after: close)
            } else {
                end = value.firstIndex(of: ",") ?? value.endIndex
            }
            result[key] = String(value[..<end]).trimmingCharacters(in: CharacterSet(charactersIn: "' "))
            value = value[end...]
            rest = value
        }
        return result
    }

    static func parseShape(_ text: String) throws(Diagnostic) -> [Int] {
        let inner = text.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
        if inner.isEmpty { return [] }
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let n = Int(trimmed), n >= 0 else { throw Diagnostic("bad-npy", "invalid shape \(text)") }
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
