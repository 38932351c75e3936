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

/// Attributes: ONNX's optional ones are honoured, unknown ones refused (`ONNXAttributes.defined`).
@Suite("ONNX attributes")
struct ONNXAttributeTests {
    static func model(_ nodes: [Onnx_NodeProto], opset: Int64 = 17) -> [UInt8] {
        var input = Onnx_ValueInfoProto()
        input.name = "x"
        input.type.tensorType.elemType = 1
        for d in [1, 3, 8, 8] as [Int64] { var dim = Onnx_TensorShapeProto.Dimension(); dim.dimValue = d; input.type.tensorType.shape.dim.append(dim) }
        var output = Onnx_ValueInfoProto()
        output.name = "y"
        var model = Onnx_ModelProto()
        model.irVersion = 8
        var set = Onnx_OperatorSetIdProto(); set.version = opset
        model.opsetImport = [set]
        model.graph.name = "g"
        model.graph.input = [input]
        model.graph.output = [output]
        model.graph.node = nodes
        return (try? [UInt8](model.serializedData())) ?? []
    }

    static func node(_ op: String, _ inputs: [String], _ output: String, ints: [String: [Int64]] = [:], int: [String: Int64] = [:]) -> Onnx_NodeProto {
        var node = Onnx_NodeProto()
        node.opType = op; node.name = output; node.input = inputs; node.output = [output]
        for (name, values) in ints { var a = Onnx_AttributeProto(); a.name = name; a.type = .ints; a.ints = values; node.attribute.append(a) }
        for (name, value) in int { var a = Onnx_AttributeProto(); a.name = name; a.type = .int; a.i = value; node.attribute.append(a) }
        return node
    }

    static func importing(_ bytes: [UInt8]) throws -> ImportedModel {
        let path = NSTemporaryDirectory() + "lowpass-attributes-\(UUID().uuidString).onnx"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ONNXImporter.importModel(contentsOf: path)
    }

    /// Opset 15's Shape(start, end): `x.reshape(-1, *x.shape[2:])` must give [-1, 8, 8], not the whole shape.
    @Test func shapeStartAndEndSliceTheShape() throws {
        var minusOne = Onnx_NodeProto()
        minusOne.opType = "Constant"; minusOne.name = "m"; minusOne.output = ["m"]
        var value = Onnx_AttributeProto(); value.name = "value_ints"; value.type = .ints; value.ints = [-1]
        minusOne.attribute = [value]
        let nodes = [minusOne, Self.node("Shape", ["x"], "s", int: ["start": 2]),
                     Self.node("Concat", ["m", "s"], "shape", int: ["axis": 0]), Self.node("Reshape", ["x", "shape"], "y")]
        let imported = try Self.importing(Self.model(nodes))
        #expect(imported.graph.nodes.map(\.op) == [.reshape])
        #expect(imported.graph.nodes.first?.attributes["shape"] == .ints([-1, 8, 8]))
        let ended = [minusOne, Self.node("Shape", ["x"], "s", int: ["start": -3, "end": -1]),
                     Self.node("Concat", ["m", "s"], "shape", int: ["axis": 0]), Self.node("Reshape", ["x", "shape"], "y")]
        #expect(try Self.importing(Self.model(ended)).graph.nodes.first?.attributes["shape"] == .ints([-1, 3, 8]))
    }

    @Test func unknownAndRepeatedAttributesAreRefused() throws {
        func message(_ node: Onnx_NodeProto) -> String {
            do { _ = try Self.importing(Self.model([node])); return "" } catch { return "\(error)" }
        }
        let typo = Self.node("MaxPool", ["x"], "y", ints: ["kernel_shape": [2, 2], "stride": [2, 2]])
        #expect(message(typo).contains("MaxPool has no attribute 'stride'"), "\(message(typo))")
        #expect(message(typo).contains("[unknown-attribute]"))
        var twice = Self.node("MaxPool", ["x"], "y", ints: ["kernel_shape": [2, 2]])
        twice.attribute.append(twice.attribute[0])
        #expect(message(twice).contains("attribute 'kernel_shape' is given twice"), "\(message(twice))")
        let fine = Self.node("MaxPool", ["x"], "y", ints: ["kernel_shape": [2, 2], "strides": [2, 2]], int: ["storage_order": 0])
        #expect(message(fine) == "", "storage_order is ONNX's and only concerns the Indices output")
    }
}
