import Foundation
import LowpassIR

/// Float storage: 64-byte aligned memory of our own, or a read-only view into a memory-mapped file.
public final class TensorBuffer: @unchecked Sendable {
    public static let alignment = 64

    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    private enum Storage {
        case heap
        /// Anonymous pages of our own (`mappedLength` bytes from `base`).
        case mapped(base: UnsafeMutableRawPointer, length: Int)
        /// Memory that `owner` keeps alive (a mapped file).
        case borrowed(owner: AnyObject)
    }
    private let storage: Storage

    public var isWritable: Bool {
        if case .borrowed = storage { return false }
        return true
    }

    /// Buffers from this size on come straight from the kernel, on huge-page boundaries with huge pages
    /// asked for: a model's weights and intermediates are hundreds of megabytes, copied a few times as
    /// they are loaded and repacked, and with 4 KiB pages the page faults were 15% of a cached
    /// `lowpass run`. Fresh pages are zero, so they need no fill either.
    private static let hugePage = 2 << 20
    private static let mappedFrom = hugePage

    /// Zero-filled storage for `count` floats.
    public init(count: Int) {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        self.count = count
        if bytes >= Self.mappedFrom, let mapping = Self.mapZeroedPages(bytes) {
            pointer = mapping.aligned.bindMemory(to: Float.self, capacity: count)
            storage = .mapped(base: mapping.base, length: mapping.length)
            return
        }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.alignment)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        storage = .heap
    }

    /// `bytes` of zero pages starting on a huge-page boundary, with huge pages asked for (where the
    /// kernel has transparent huge pages; elsewhere the advice is ignored); nil if the kernel refuses.
    private static func mapZeroedPages(_ bytes: Int) -> (base: UnsafeMutableRawPointer, length: Int, aligned: UnsafeMutableRawPointer)? {
        let (length, overflow) = bytes.addingReportingOverflow(hugePage)
        guard !overflow else { return nil }
        let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let base, base != MAP_FAILED else { return nil }
        let address = UInt(bitPattern: base)
        let aligned = base + Int((UInt(hugePage) - address % UInt(hugePage)) % UInt(hugePage))
        _ = madvise(aligned, bytes / hugePage * hugePage, MADV_HUGEPAGE)
        return (base, length, aligned)
    }

    /// A view of `count` floats that `owner` keeps alive. The memory must not be written.
    init(borrowing pointer: UnsafePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = UnsafeMutablePointer(mutating: pointer)
        self.count = count
        storage = .borrowed(owner: owner)
    }

    deinit {
        switch storage {
        case .heap: UnsafeMutableRawPointer(pointer).deallocate()
        case .mapped(let base, let length): munmap(base, length)
        case .borrowed: break
        }
    }
}

/// An f32 tensor in C order. Copies share storage until one of them is written.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public private(set) var shape: [Int]
    public private(set) var buffer: TensorBuffer

    public var count: Int { buffer.count }
    public var rank: Int { shape.count }

    /// The element count of `shape`, or an error if it overflows or passes `Limits.maximumElementCount`.
    public static func elementCount(of shape: [Int]) throws(Diagnostic) -> Int {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw Diagnostic(.badShape, "negative dimension in shape \(shape)") }
        guard let count = Limits.elementCount(shape) else {
            throw Diagnostic(.tensorTooLarge, "shape \(shape) has more than \(Limits.maximumElementCount) elements, the limit for one tensor (LOWPASS_MAX_TENSOR_ELEMENTS)")
        }
        return count
    }

    /// A zero tensor. The shape must have been checked with `elementCount(of:)` if it comes from input.
    public init(zeros shape: [Int]) {
        self.shape = shape
        self.buffer = TensorBuffer(count: shape.reduce(1, *))
    }

    public init(shape: [Int], buffer: TensorBuffer) {
        precondition(shape.reduce(1, *) == buffer.count, "shape does not match buffer size")
        self.shape = shape
        self.buffer = buffer
    }

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape does not match value count")
        self.init(zeros: shape)
        for (i, v) in values.enumerated() { buffer.pointer[i] = v }
    }

    public init(shape: [Int], _ generate: (Int) -> Float) {
        self.init(zeros: shape)
        for i in 0..<buffer.count { buffer.pointer[i] = generate(i) }
    }

    public var values: [Float] { Array(UnsafeBufferPointer(start: buffer.pointer, count: count)) }

    /// Appends the elements as little-endian f32 bytes, the layout of both .npy and .safetensors:
    /// one bulk copy on little-endian hosts.
    public func appendLittleEndianBytes(to data: inout Data) {
        withUnsafeBufferPointer { values in
            #if _endian(little)
            data.append(values)
            #else
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            #endif
        }
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: buffer.pointer, count: count))
    }

    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        if !isKnownUniquelyReferenced(&buffer) || !buffer.isWritable {
            let copy = TensorBuffer(count: count)
            copy.pointer.update(from: buffer.pointer, count: count)
            buffer = copy
        }
        return try body(UnsafeMutableBufferPointer(start: buffer.pointer, count: count))
    }

    /// The same elements under another shape with the same count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, buffer: buffer)
    }

    public subscript(index: Int) -> Float { buffer.pointer[index] }

    public var description: String {
        let preview = values.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor\(shape)[\(preview)\(count > 8 ? ", ..." : "")]"
    }

    /// Largest absolute and relative difference to `other`: relative to the larger magnitude of the two
    /// tensors, so that values near zero do not dominate.
    public func difference(to other: Tensor) -> (absolute: Double, relative: Double) {
        guard shape == other.shape else { return (.infinity, .infinity) }
        var maxDiff = 0.0, scale = 0.0
        for i in 0..<count {
            let a = Double(self[i]), b = Double(other[i])
            if a.isNaN != b.isNaN { return (.infinity, .infinity) }
            if a.isNaN { continue }  // NaN in both: they agree
            maxDiff = max(maxDiff, abs(a - b))
            scale = max(scale, abs(a), abs(b))
        }
        return (maxDiff, scale > 0 ? maxDiff / scale : maxDiff)
    }
}
