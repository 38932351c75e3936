import Testing
@testable import LowpassTensor

/// Buffers of 2 MiB and more come from the kernel (huge-page aligned, not zero-filled by us); smaller
/// ones from the heap. Both must read as zeros, take writes, and copy on write like any tensor.
@Suite("Tensor buffers")
struct TensorBufferTests {
    @Test(arguments: [1, 1000, 524_287, 524_288, 3_000_001])
    func freshBuffersAreZeroAndWritable(count: Int) {
        var tensor = Tensor(zeros: [count])
        #expect(tensor.buffer.isWritable)
        #expect(Int(bitPattern: tensor.buffer.pointer) % TensorBuffer.alignment == 0)
        tensor.withUnsafeBufferPointer { values in #expect(values.allSatisfy { $0 == 0 }) }
        let copy = tensor
        tensor.withUnsafeMutableBufferPointer { values in
            for i in stride(from: 0, to: count, by: 4099) { values[i] = Float(i) }
            values[count - 1] = -1
        }
        tensor.withUnsafeBufferPointer { values in
            #expect(values[count - 1] == -1)
            if count > 1 { #expect(values[0] == 0) }
            if count > 4100 { #expect(values[4099] == 4099) }
        }
        copy.withUnsafeBufferPointer { values in #expect(values.allSatisfy { $0 == 0 }, "the copy kept its own storage") }
    }
}
