import Foundation
import Testing
import LowpassIR
@testable import LowpassTensor

@Suite("NPY files")
struct NPYTests {
    @Test func roundTrip() throws {
        let tensor = Tensor(shape: [2, 3, 5]) { Float($0) * 0.25 - 3 }
        let decoded = try NPY.decode([UInt8](NPY.encode(tensor)))
        #expect(decoded.shape == [2, 3, 5])
        #expect(decoded.values == tensor.values)
        let bytes = [UInt8](NPY.encode(tensor))
        #expect((10 + Int(bytes[8]) + Int(bytes[9]) << 8) % 64 == 0, "header padded to 64 bytes as NumPy does")
        let scalar = try NPY.decode([UInt8](NPY.encode(Tensor(shape: [], values: [7]))))
        #expect(scalar.shape == [] && scalar.values == [7])
    }

    @Test func readsFilesWrittenByNumPy() throws {
        let f32 = try NPY.read(contentsOf: Fixtures.path("python-written.npy"))
        #expect(f32.shape == [2, 3, 4])
        #expect(f32.values == (0..<24).map { Float(Double($0) / 10) })
        let f64 = try NPY.read(contentsOf: Fixtures.path("python-written-f64.npy"))
        #expect(f64.shape == [3] && f64.values == [1.5, -2, 4])
        let f16 = try NPY.read(contentsOf: Fixtures.path("python-written-f16.npy"))
        #expect(f16.values == [1, 0.5, -2, 65504])
    }

    func error(decoding bytes: [UInt8]) -> String {
        do {
            _ = try NPY.decode(bytes)
            return ""
        } catch {
            return error.description
        }
    }

    @Test func rejectsMalformedFiles() {
        let good = [UInt8](NPY.encode(Tensor(shape: [2, 2], values: [1, 2, 3, 4])))
        #expect(error(decoding: Array("hello".utf8)).contains("not a .npy file"))
        #expect(error(decoding: Array(good.dropLast(3))).contains("data holds 13 bytes, but shape [2, 2] of '<f4' needs 16"))
        let end = 10 + Int(good[8]) + Int(good[9]) << 8
        let header = String(decoding: good[10..<end], as: UTF8.self)
        func replacing(_ a: String, _ b: String) -> [UInt8] {
            Array(good[0..<10]) + Array(header.replacingOccurrences(of: a, with: b).utf8) + Array(good[end...])
        }
        #expect(error(decoding: replacing("'<f4'", "'<i4'")).contains("unsupported dtype '<i4'"))
        #expect(error(decoding: replacing("False", "True ")).contains("Fortran-order"))
        #expect(error(decoding: replacing("(2, 2)", "(2,-2)")).contains("invalid shape"))
        #expect(error(decoding: replacing("(2, 2)", "(2, 3)")).contains("needs 24"))
    }

    @Test func hugeDeclaredShapesFailBeforeAllocating() {
        let text = "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"
        let padded = text + String(repeating: " ", count: 64 - (10 + text.utf8.count + 1) % 64) + "\n"
        let bytes = NPY.magic + [1, 0, UInt8(padded.utf8.count), 0] + Array(padded.utf8)
        #expect(error(decoding: bytes).contains("more than"))
    }
}
