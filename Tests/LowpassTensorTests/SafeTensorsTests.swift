import Foundation
import Testing
import LowpassIR
@testable import LowpassTensor

@Suite("safetensors files")
struct SafeTensorsTests {
    @Test func roundTripThroughAFile() throws {
        let file = SafeTensorsFile(tensors: ["conv.weight": Tensor(shape: [2, 1, 3, 3]) { Float($0) }, "b": Tensor(shape: [2], values: [0.5, -1])],
                                   metadata: ["format": "pt"])
        let path = Fixtures.temporaryDirectory() + "/w.safetensors"
        try file.write(to: path)
        let read = try SafeTensorsFile.read(contentsOf: path)
        #expect(read.metadata == ["format": "pt"])
        #expect(read.tensors["conv.weight"]?.shape == [2, 1, 3, 3])
        #expect(read.tensors["conv.weight"]?.values == (0..<18).map(Float.init))
        #expect(read.tensors["b"]?.values == [0.5, -1])
        #expect(read.tensors["b"]?.buffer.isWritable == false, "f32 data is used in place from the memory map")
    }

    @Test func readsAFileWrittenByPython() throws {
        let file = try SafeTensorsFile.read(contentsOf: Fixtures.path("python-written.safetensors"))
        #expect(file.metadata["producer"] == "generate.py")
        #expect(file.tensors["a"]?.shape == [2, 3])
        #expect(file.tensors["a"]?.values == [0, 1, 2, 3, 4, 5])
        #expect(file.tensors["b.weight"]?.values == [0.5, -1.25, 3.0, 1e-3])
        #expect(file.tensors["c"]?.values == [1, 2, 3], "F64 is converted to f32")
    }

    @Test func integerBuffersAreSkippedNotFatal() throws {
        let header = Array(#"{"bn.num_batches_tracked": {"dtype": "I64", "shape": [], "data_offsets": [0, 8]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}"#.utf8)
        let bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header + [UInt8](repeating: 0, count: 8) + [0, 0, 128, 63]
        let path = Fixtures.temporaryDirectory() + "/bn.safetensors"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let file = try SafeTensorsFile.read(contentsOf: path)
        #expect(file.tensors["w"]?.values == [1])
        #expect(file.unsupported == ["bn.num_batches_tracked": "I64"])
    }

    @Test func copiesAreWritableAndLeaveTheMapAlone() throws {
        let path = Fixtures.temporaryDirectory() + "/w.safetensors"
        try SafeTensorsFile(tensors: ["x": Tensor(shape: [3], values: [1, 2, 3])]).write(to: path)
        let mapped = try #require(try SafeTensorsFile.read(contentsOf: path).tensors["x"])
        var copy = mapped
        copy.withUnsafeMutableBufferPointer { $0[0] = 42 }
        #expect(copy.values == [42, 2, 3])
        #expect(mapped.values == [1, 2, 3])
    }

    func error(reading bytes: [UInt8]) -> Diagnostic? {
        let path = Fixtures.temporaryDirectory() + "/bad.safetensors"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        do {
            _ = try SafeTensorsFile.read(contentsOf: path)
            return nil
        } catch {
            return error
        }
    }

    @Test func rejectsMalformedFiles() throws {
        let good = [UInt8](SafeTensorsFile(tensors: ["w": Tensor(shape: [4], values: [1, 2, 3, 4])]).encode())
        let truncated = try #require(error(reading: Array(good.dropLast(5))))
        #expect(truncated.description.contains("bad.safetensors: w: data range [0, 16) runs past the end of the file (11 data bytes); the file is truncated"))
        #expect(error(reading: [1, 2, 3])?.message.contains("too short") == true)
        #expect(error(reading: [255, 255, 255, 255, 255, 255, 255, 127])?.message.contains("exceeds the 100 MB limit") == true)
        #expect(error(reading: Array(good.prefix(20)))?.message.contains("header claims") == true)
        func withHeader(_ json: String) -> [UInt8] {
            let header = Array(json.utf8)
            return withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header + [UInt8](repeating: 0, count: 16)
        }
        #expect(error(reading: withHeader(#"{"w": {"dtype": "I64", "shape": [4], "data_offsets": [0, 32]}}"#))?.message.contains("runs past the end") == true)
        #expect(error(reading: withHeader(#"{"w": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}}"#))?.message.contains("needs 20") == true)
        #expect(error(reading: withHeader(#"{"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 16]}}"#))?.message.contains("more than") == true)
        #expect(error(reading: withHeader(#"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [8, 4]}}"#))?.message.contains("data_offsets") == true)
        #expect(error(reading: withHeader(#"{"w": "#))?.message.contains("not valid JSON") == true)
    }

    /// The data must be tiled exactly, as the reference library checks: overlapping ranges (one
    /// tensor's values silently another's), gaps and trailing bytes are refused.
    @Test func rejectsOverlapsGapsAndTrailingBytes() throws {
        func file(_ json: String, dataBytes: Int) -> [UInt8] {
            let header = Array(json.utf8)
            return withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header + [UInt8](repeating: 0, count: dataBytes)
        }
        let overlap = file(#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#, dataBytes: 12)
        #expect(error(reading: overlap)?.description.contains("b: data range [4, 12) overlaps another tensor's, which ends at 8") == true)
        let gap = file(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}"#, dataBytes: 12)
        #expect(error(reading: gap)?.message.contains("leaves bytes [4, 8) to no tensor") == true)
        let trailing = file(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#, dataBytes: 9)
        #expect(error(reading: trailing)?.message.contains("5 bytes after the last tensor's data") == true)
        let tiled = file(#"{"b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}, "e": {"dtype": "F32", "shape": [0], "data_offsets": [8, 8]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#, dataBytes: 8)
        #expect(error(reading: tiled) == nil)
    }

    /// Names are bytes: a parameter spelled "é" (U+00E9) is not the file's "e" + U+0301, though Swift's
    /// `String ==` says they are equal; and a header holding both spellings is refused, not merged.
    @Test func namesEqualOnlyAsUnicodeTextAreNotTheSameName() throws {
        let composed = "conv.\u{E9}", decomposed = "conv.e\u{301}"
        #expect(composed == decomposed && !NameSpelling.sameBytes(composed, decomposed), "the premise: Swift equates them")
        let path = Fixtures.temporaryDirectory() + "/w.safetensors"
        try SafeTensorsFile(tensors: [decomposed: Tensor(shape: [1], values: [2])], metadata: [:]).write(to: path)
        let graph = Graph(name: "g", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [1]))], outputs: ["y"],
                          parameters: [Parameter(name: composed, type: TensorType(fixed: [1]))],
                          nodes: [Node(name: "add", op: .add, inputs: ["x", composed], outputs: ["y"])])
        do {
            _ = try Weights.load(for: graph, graphPath: nil, weightsPath: path)
            Issue.record("a parameter bound to a differently spelled tensor")
        } catch {
            #expect(error.description.contains("[ambiguous-name]") && error.description.contains("differ only in Unicode normalization"), "\(error)")
        }
        let both = Array(#"{"\#(composed)": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "\#(decomposed)": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#.utf8)
        let bytes = withUnsafeBytes(of: UInt64(both.count).littleEndian, Array.init) + both + [UInt8](repeating: 0, count: 8)
        #expect(error(reading: bytes)?.message.contains("differ only in Unicode normalization") == true)
    }
}
