import Foundation
import LowpassIR

/// A read-only memory map of a whole file, unmapped when the last tensor viewing it goes away.
public final class MappedFile: @unchecked Sendable {
    let base: UnsafeRawPointer
    let size: Int

    public init(path: String) throws(Diagnostic) {
        let (fd, size) = try openRegularFile(path)
        defer { close(fd) }
        self.size = size
        guard size > 0 else {
            base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1))
            return
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw Diagnostic(.unreadableFile, "cannot map the file: \(String(cString: strerror(errno)))", at: SourceLocation(file: path))
        }
        base = UnsafeRawPointer(mapped)
    }

    deinit {
        if size > 0 { munmap(UnsafeMutableRawPointer(mutating: base), size) } else { base.deallocate() }
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }
}

/// Hugging Face's `.safetensors`: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the data. f32 data is used in place from the memory
/// map when aligned; F64, F16 and BF16 are converted to f32 on reading.
public struct SafeTensorsFile: Sendable {
    public var tensors: [String: Tensor]
    public var metadata: [String: String]
    /// Tensors whose dtype Lowpass does not read (integer or boolean), by name, with that dtype.
    public var unsupported: [String: String] = [:]

    /// The header may not exceed 100 MB, as in the reference implementation.
    static let maximumHeaderSize = 100_000_000

    public init(tensors: [String: Tensor], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    public static func read(contentsOf path: String) throws(Diagnostic) -> SafeTensorsFile {
        let file = try MappedFile(path: path)
        do {
            return try decode(file)
        } catch {
            throw error.inFile(path)
        }
    }

    static func decode(_ file: MappedFile) throws(Diagnostic) -> SafeTensorsFile {
        func fail(_ message: String, _ path: String? = nil) -> Diagnostic {
            Diagnostic(.badSafetensors, message, at: SourceLocation(path: path))
        }
        let bytes = file.bytes
        guard bytes.count >= 8 else { throw fail("file is \(bytes.count) bytes, too short for the 8-byte header length") }
        let headerSize = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerSize <= UInt64(maximumHeaderSize) else { throw fail("header length \(headerSize) exceeds the 100 MB limit") }
        guard 8 + Int(headerSize) <= bytes.count else {
            throw fail("file is truncated: header claims \(headerSize) bytes, only \(bytes.count - 8) follow")
        }
        let header: JSONValue
        do {
            header = try JSONValue.parse(UnsafeRawBufferPointer(rebasing: bytes[8..<8 + Int(headerSize)]))
        } catch {
            throw fail("header is not valid JSON: \(error)")
        }
        guard case .object(let entries) = header else { throw fail("header must be a JSON object") }
        let dataStart = 8 + Int(headerSize)
        let dataSize = bytes.count - dataStart
        var result = SafeTensorsFile(tensors: [:])
        var ranges: [(begin: Int, end: Int, name: String)] = []
        for (name, entry) in entries {
            if name == "__metadata__" {
                guard case .object(let members) = entry else { throw fail("__metadata__ must be an object of strings") }
                for member in members {
                    guard case .string(let s) = member.value else { throw fail("metadata value must be a string", "__metadata__.\(member.key)") }
                    result.metadata[member.key] = s
                }
                continue
            }
            guard case .string(let dtype)? = entry["dtype"] else { throw fail("missing or non-string 'dtype'", name) }
            guard case .array(let dims)? = entry["shape"] else { throw fail("missing 'shape' array", name) }
            var shape: [Int] = []
            for dim in dims {
                guard case .int(let n) = dim, n >= 0 else { throw fail("shape entries must be non-negative integers", name) }
                shape.append(n)
            }
            guard case .array(let offsets)? = entry["data_offsets"], offsets.count == 2,
                  case .int(let begin) = offsets[0], case .int(let end) = offsets[1], begin >= 0, begin <= end else {
                throw fail("'data_offsets' must be [begin, end] with 0 <= begin <= end", name)
            }
            guard end <= dataSize else {
                throw fail("data range [\(begin), \(end)) runs past the end of the file (\(dataSize) data bytes); the file is truncated", name)
            }
            ranges.append((begin, end, name))
            let count: Int
            do { count = try Tensor.elementCount(of: shape) } catch { throw fail(error.message, name) }
            let elementSize: Int
            switch dtype {
            case "F32": elementSize = 4
            case "F64": elementSize = 8
            case "F16", "BF16": elementSize = 2
            default:
                // PyTorch state dicts carry integer buffers (BN's num_batches_tracked) that no graph uses;
                // they are an error only if a graph asks for them.
                result.unsupported[name] = dtype
                continue
            }
            guard end - begin == count * elementSize else {
                throw fail("byte range holds \(end - begin) bytes but shape \(shape) of \(dtype) needs \(count * elementSize)", name)
            }
            let start = dataStart + begin
            if dtype == "F32", (Int(bitPattern: file.base) + start) % MemoryLayout<Float>.alignment == 0 {
                let pointer = (file.base + start).assumingMemoryBound(to: Float.self)
                result.tensors[name] = Tensor(shape: shape, buffer: TensorBuffer(borrowing: pointer, count: count, owner: file))
            } else {
                var tensor = Tensor(zeros: shape)
                let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<dataStart + end])
                let overflow = tensor.withUnsafeMutableBufferPointer { out -> (index: Int, value: Double)? in
                    guard dtype != "BF16" else {
                        for i in 0..<count {
                            out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                        }
                        return nil
                    }
                    return NPY.convert(raw, elementSize: elementSize, into: out)
                }
                if let overflow { throw fail(NPY.overflowMessage(overflow), name) }
                result.tensors[name] = tensor
            }
        }
        // As the format's own library requires: the tensors' bytes tile the data exactly. With an
        // overlap, one tensor's values would silently change with another's.
        var covered = 0
        for range in ranges.sorted(by: { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }) {
            guard range.begin >= covered else {
                throw fail("data range [\(range.begin), \(range.end)) overlaps another tensor's, which ends at \(covered)", range.name)
            }
            guard range.begin == covered else {
                throw fail("data range [\(range.begin), \(range.end)) leaves bytes [\(covered), \(range.begin)) to no tensor", range.name)
            }
            covered = range.end
        }
        guard covered == dataSize else { throw fail("\(dataSize - covered) bytes after the last tensor's data belong to no tensor") }
        return result
    }

    /// The file bytes: tensors in name order, f32, header padded with spaces to a multiple of 8.
    public func encode() -> Data {
        var entries: [(key: String, value: JSONValue)] = []
        if !metadata.isEmpty {
            entries.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            guard let tensor = tensors[name] else { continue }
            let size = tensor.count * 4
            entries.append((name, .object([("dtype", .string("F32")), ("shape", .array(tensor.shape.map(JSONValue.int))),
                                            ("data_offsets", .array([.int(offset), .int(offset + size)]))])))
            offset += size
        }
        var header = Array(JSONValue.object(entries).compactText().utf8)
        header += Array(repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        var data = Data()
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: header)
        for name in names {
            tensors[name]?.appendLittleEndianBytes(to: &data)
        }
        return data
    }

    public func write(to path: String) throws(Diagnostic) {
        try writeAtomically(encode(), to: path)
    }
}
