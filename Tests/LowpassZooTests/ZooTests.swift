import Foundation
import Testing
import LowpassIR
import LowpassTensor
@testable import LowpassZoo

enum ZooFixtures {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let directory = repository + "/Tests/Fixtures/zoo"

    /// Tests/Fixtures/zoo/reference.json: what torchvision and timm report (made by generate.py there).
    static let reference: JSONValue = {
        guard let data = FileManager.default.contents(atPath: directory + "/reference.json"),
              let value = try? JSONValue.parse(data) else { return .null }
        return value
    }()
}

@Suite("Model zoo")
struct ZooTests {
    @Test(arguments: Zoo.models.map(\.name))
    func graphsFolderHoldsWhatTheBuildersMake(name: String) throws {
        let model = try #require(Zoo.model(named: name))
        let committed = try String(contentsOfFile: ZooFixtures.repository + "/Graphs/\(name).json", encoding: .utf8)
        #expect(committed == model.graph().jsonText(), "Graphs/\(name).json is stale: run 'lowpass zoo build --all --output-dir Graphs'")
    }

    /// Parameter count, tensor count and the exact set of (name, shape) pairs equal the reference
    /// implementation's `state_dict()`, so its weights load by name.
    @Test(arguments: Zoo.models.filter { $0.source != .seed }.map(\.name))
    func parametersMatchTheReferenceImplementation(name: String) throws {
        let model = try #require(Zoo.model(named: name))
        let expected = try #require(ZooFixtures.reference[name])
        let verified = try model.graph().verify()
        #expect(expected["parameters"] == .int(verified.parameterCount))
        #expect(expected["input_size"] == .array(model.inputSize.map(JSONValue.int)))
        let tensors = verified.graph.parameters.filter { $0.inlineData == nil }
        #expect(expected["state_tensors"] == .int(tensors.count))
        let lines = tensors.map { p in "\(p.name):\((p.type.fixedShape ?? []).map(String.init).joined(separator: "x"))\n" }.sorted()
        let signature = String(SeededRecipe.fnv1a(lines.joined()), radix: 16)
        let padded = String(repeating: "0", count: 16 - signature.count) + signature
        #expect(expected["signature"] == .string(padded), "the (name, shape) set differs from the reference's state_dict")
    }

    @Test func metadataRecordsSourceAndInputSize() throws {
        let graph = try #require(Zoo.model(named: "resnetrs50")).graph()
        #expect(graph.metadata["source"] == "timm")
        #expect(graph.metadata["input_size"] == "3x160x160")
        #expect(graph.inputs[0].type == TensorType(.f32, ["N", 3, 160, 160]))
    }

    @Test func seedNetworksHaveTheirDocumentedShape() throws {
        for name in ["seed-antialias-net", "seed-mnist-net", "seed-acnet"] {
            let verified = try #require(Zoo.model(named: name)).graph().verify()
            #expect(verified.types[verified.graph.outputs[0]] == TensorType(.f32, ["N", 10]), "\(name)")
        }
        let plain = try #require(Zoo.model(named: "seed-mnist-net")).graph()
        let acnet = try #require(Zoo.model(named: "seed-acnet")).graph()
        #expect(acnet.nodes.filter { $0.op == .conv }.count == 3 * plain.nodes.filter { $0.op == .conv }.count)
        let blurs = try #require(Zoo.model(named: "seed-antialias-net")).graph().nodes.filter { $0.op == .blurPool }
        #expect(blurs.count == 2)
    }
}

@Suite("Seeded weights against PyTorch")
struct ZooNumericTests {
    @Test func recipeMatchesPythonBitForBit() throws {
        let data = try #require(FileManager.default.contents(atPath: ZooFixtures.directory + "/recipe-check.json"))
        let check = try JSONValue.parse(data)
        for (name, shape) in [("conv1.weight", [64, 3, 7, 7]), ("input", [1, 3, 224, 224]), ("bn1.running_var", [64])] {
            let tensor = SeededRecipe.tensor(named: name, shape: shape)
            let bits = (0..<4).map { JSONValue.string("0x" + String(tensor[$0].bitPattern, radix: 16)) }
            #expect(check[name] == .array(bits), "\(name)")
        }
    }

    /// The zoo graph, with weights from the recipe, computes what PyTorch computes with the same weights.
    @Test(arguments: ["resnet18", "mobilenet_v2", "densenet121", "vgg11_bn", "resnetrs50"])
    func matchesPyTorch(name: String) throws {
        let model = try #require(Zoo.model(named: name))
        let graph = model.graph()
        let input = SeededRecipe.tensor(named: "input", shape: [1] + model.inputSize)
        let outputs = try ReferenceInterpreter().run(graph, weights: SeededRecipe.weights(for: graph), inputs: ["input": input])
        let actual = try #require(outputs[graph.outputs[0]])
        let expected = try NPY.read(contentsOf: ZooFixtures.directory + "/\(name).expected.npy")
        let difference = actual.difference(to: expected)
        #expect(difference.relative < 1e-5, "\(name): max abs \(difference.absolute), relative \(difference.relative)")
    }
}
