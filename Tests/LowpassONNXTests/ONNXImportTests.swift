import Foundation
import Testing
import LowpassIR
import LowpassONNX
import LowpassTensor

/// Small networks exported by torch.onnx.export (Tests/Fixtures/onnx/generate.py) import and run to
/// PyTorch's outputs, with every antialiased_cnns blur raised to BlurPool and nothing else.
@Suite("ONNX import of PyTorch exports")
struct ONNXImportTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/Fixtures/onnx"

    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var blurs: Int
        var description: String { name }
    }

    static let cases: [Case] = {
        guard let data = FileManager.default.contents(atPath: directory + "/manifest.json"),
              let manifest = try? JSONValue.parse(data), case .array(let entries)? = manifest["cases"] else { return [] }
        return entries.compactMap { entry in
            guard case .string(let name)? = entry["name"], case .int(let blurs)? = entry["blurs"] else { return nil }
            return Case(name: name, blurs: blurs)
        }
    }()

    @Test func fixturesCoverTheExporterForms() {
        #expect(Set(Self.cases.map(\.name)).isSuperset(of: ["small-cnn", "aa-cnn", "lookalike", "view-static", "view-dynamic", "opset11", "external-data"]))
    }

    @Test(arguments: cases)
    func importsAndRunsToPyTorchsOutput(_ fixture: Case) throws {
        let imported = try ONNXImporter.importModel(contentsOf: Self.directory + "/\(fixture.name).onnx")
        #expect(imported.graph.nodes.filter { $0.op == .blurPool }.count == fixture.blurs)
        #expect(!imported.graph.nodes.contains { $0.op == .pad } || fixture.blurs == 0, "every blur's Pad is absorbed")
        let input = try NPY.read(contentsOf: Self.directory + "/\(fixture.name).input.npy")
        let expected = try NPY.read(contentsOf: Self.directory + "/\(fixture.name).expected.npy")
        let outputs = try ReferenceInterpreter().run(imported.graph, weights: Weights(tensors: imported.weights),
                                                     inputs: [imported.graph.inputs[0].name: input])
        let actual = try #require(outputs[imported.graph.outputs[0]])
        let difference = actual.difference(to: expected)
        #expect(difference.relative < 1e-4, "\(fixture.name): \(difference)")
    }

    @Test func aLookalikeConvStaysAConv() throws {
        let imported = try ONNXImporter.importModel(contentsOf: Self.directory + "/lookalike.onnx")
        #expect(imported.graph.nodes.contains { $0.op == .conv && (try? $0.int("group")) ?? 1 > 1 })
        #expect(imported.graph.nodes.contains { $0.op == .pad })
    }

    @Test func parameterNamesSurvive() throws {
        let imported = try ONNXImporter.importModel(contentsOf: Self.directory + "/small-cnn.onnx")
        #expect(imported.graph.parameters.contains { $0.name.hasSuffix("running_mean") }, "\(imported.graph.parameters.map(\.name))")
        #expect(Set(imported.weights.keys) == Set(imported.graph.parameters.map(\.name)))
    }
}
