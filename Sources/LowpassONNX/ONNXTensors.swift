import Foundation
import LowpassIR
import LowpassTensor

/// ONNX's TensorProto element types that Lowpass reads.
enum ONNXDataType: Int32 {
    case float = 1, int32 = 6, int64 = 7, float16 = 10, double = 11

    var size: Int {
        switch self {
        case .float, .int32: return 4
        case .int64, .double: return 8
        case .float16: return 2
        }
    }
}

/// A constant from an ONNX file: floats (weights, scalars) or integers (shapes, pads, axes).
enum ONNXConstant {
    case floats(Tensor)
    case ints([Int], shape: [Int])

    var ints: [Int]? {
        if case .ints(let v, _) = self { return v }
        return nil
    }

    var floatTensor: Tensor? {
        if case .floats(let t) = self { return t }
        return nil
    }

    /// Every element as a double, the shape, and whether the constant holds integers: what the folds of
    /// ops ONNX defines on both kinds (CumSum, ScatterND, comparisons, Where) compute with.
    var doubles: (values: [Double], shape: [Int], isInteger: Bool) {
        switch self {
        case .floats(let t): return (t.values.map(Double.init), t.shape, false)
        case .ints(let v, let shape): return (v.map(Double.init), shape, true)
        }
    }

    /// Integers (nil when one is not a finite value within int64's reach) or floats, as `isInteger` says.
    init?(doubles values: [Double], shape: [Int], isInteger: Bool) {
        guard isInteger else {
            self = .floats(Tensor(shape: shape, values: values.map(Float.init)))
            return
        }
        guard values.allSatisfy({ $0.isFinite && abs($0) < 1e18 }) else { return nil }
        self = .ints(values.map { Int($0) }, shape: shape)
    }
}

extension Onnx_TensorProto {
    /// The tensor's values; `directory` resolves external data, which must stay inside it.
    func constant(directory: String) throws(Diagnostic) -> ONNXConstant {
        let where_ = SourceLocation(path: "initializer '\(name)'")
        guard let type = ONNXDataType(rawValue: dataType) else {
            throw Diagnostic(.unsupportedDtype, "tensor '\(name)' has ONNX data type \(dataType); Lowpass reads float, float16, double, int32 and int64", at: where_)
        }
        let shape = dims.map { Int(clamping: $0) }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw Diagnostic(.badOnnx, "tensor '\(name)' has a negative dimension", at: where_) }
        let count = try Tensor.elementCount(of: shape)
        var raw = rawData
        if dataLocation == .external {
            raw = try externalBytes(directory: directory, count: count * type.size)
        }
        if !raw.isEmpty || dataLocation == .external {
            guard raw.count == count * type.size else {
                throw Diagnostic(.badOnnx, "tensor '\(name)' holds \(raw.count) bytes but shape \(shape) needs \(count * type.size)", at: where_)
            }
            return raw.withUnsafeBytes { bytes in
                func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T { T(littleEndian: bytes.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)) }
                switch type {
                case .int64: return .ints((0..<count).map { Int(load(Int64.self, $0)) }, shape: shape)
                case .int32: return .ints((0..<count).map { Int(load(Int32.self, $0)) }, shape: shape)
                case .float:
                    #if _endian(little)
                    // The file's little-endian floats are this machine's: one copy (a model's weights are
                    // most of its file, and loading them element by element cost a cold start 0.1 s).
                    var tensor = Tensor(zeros: shape)
                    tensor.withUnsafeMutableBufferPointer { target in
                        if let base = target.baseAddress, let source = bytes.baseAddress { base.update(from: source.assumingMemoryBound(to: Float.self), count: count) }
                    }
                    return .floats(tensor)
                    #else
                    return .floats(Tensor(shape: shape) { Float(bitPattern: load(UInt32.self, $0)) })
                    #endif
                case .double: return .floats(Tensor(shape: shape) { Float(Double(bitPattern: load(UInt64.self, $0))) })
                case .float16: return .floats(Tensor(shape: shape) { Float(Float16(bitPattern: load(UInt16.self, $0))) })
                }
            }
        }
        let typed: Int
        switch type {
        case .float: typed = floatData.count
        case .double: typed = doubleData.count
        case .int64: typed = int64Data.count
        case .int32, .float16: typed = int32Data.count
        }
        guard typed == count else {
            throw Diagnostic(.badOnnx, "tensor '\(name)' has \(typed) values but shape \(shape) needs \(count)", at: where_)
        }
        switch type {
        case .float: return .floats(Tensor(shape: shape, values: floatData))
        case .double: return .floats(Tensor(shape: shape, values: doubleData.map(Float.init)))
        case .float16: return .floats(Tensor(shape: shape, values: int32Data.map { Float(Float16(bitPattern: UInt16(truncatingIfNeeded: $0))) }))
        case .int64: return .ints(int64Data.map { Int(clamping: $0) }, shape: shape)
        case .int32: return .ints(int32Data.map(Int.init), shape: shape)
        }
    }

    /// Reads `location` (relative to the model's folder), from `offset`, `length` bytes.
    func externalBytes(directory: String, count: Int) throws(Diagnostic) -> Data {
        var entries: [String: String] = [:]
        for entry in externalData { entries[entry.key] = entry.value }
        guard let location = entries["location"], !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw Diagnostic(.badOnnx, "tensor '\(name)' names external data outside the model's folder, or none", at: SourceLocation(path: "initializer '\(name)'"))
        }
        let path = (directory as NSString).appendingPathComponent(location)
        let offset = Int(entries["offset"] ?? "0") ?? -1
        let length = Int(entries["length"] ?? String(count)) ?? -1
        guard offset >= 0, length == count else {
            throw Diagnostic(.badOnnx, "cannot read \(count) bytes of external data for tensor '\(name)' from \(location): offset \(entries["offset"] ?? "0"), length \(entries["length"] ?? "none")", at: SourceLocation(file: path))
        }
        // A symbolic link inside the folder may point anywhere (/etc/passwd): the file's real path must
        // be inside the folder's.
        guard let real = realPath(path), let folder = realPath(directory), real.hasPrefix(folder == "/" ? "/" : folder + "/") else {
            throw Diagnostic(.badOnnx, "tensor '\(name)' names external data \(location), which is missing or (through a link) outside the model's folder", at: SourceLocation(file: path))
        }
        let (fd, size) = try openRegularFile(real)
        defer { close(fd) }
        guard offset <= size, length <= size - offset else {
            throw Diagnostic(.badOnnx, "external data file is truncated: tensor '\(name)' needs bytes \(offset)..<\(offset + length) of \(size)", at: SourceLocation(file: path))
        }
        var data = Data(count: length)
        var filled = 0
        while filled < length {
            let got = data.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return -1 }
                return pread(fd, base + filled, length - filled, off_t(offset + filled))
            }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw Diagnostic(.badOnnx, "cannot read external data: \(got < 0 ? String(cString: strerror(errno)) : "it ended early")", at: SourceLocation(file: path)) }
            filled += got
        }
        return data
    }

    /// An f32 initializer holding `tensor`.
    init(name: String, tensor: Tensor) {
        self.init()
        self.name = name
        dims = tensor.shape.map(Int64.init)
        dataType = ONNXDataType.float.rawValue
        rawData = tensor.withUnsafeBufferPointer { Data(buffer: $0) }
    }

    /// An int64 initializer.
    init(name: String, ints: [Int], shape: [Int]? = nil) {
        self.init()
        self.name = name
        dims = (shape ?? [ints.count]).map(Int64.init)
        dataType = ONNXDataType.int64.rawValue
        int64Data = ints.map(Int64.init)
    }
}
