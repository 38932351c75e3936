import Antialias
import Cleanup
import Foundation
import Testing
import LowpassIR
import LowpassONNX
import LowpassPasses
import LowpassTensor
import LowpassZoo

/// Export then import gives back the graph (up to the forms ONNX cannot tell apart), its weights and its outputs.
@Suite("ONNX round trip")
struct ONNXRoundTripTests {
    static let registry = PassRegistry(plugins: [CleanupPlugin.self, AntialiasPlugin.self])

    func rewrite(_ graph: Graph, _ pipeline: String) throws -> Graph {
        try PassManager(log: { _ in }).run(try Self.registry.configure(try Pipeline(parsing: pipeline)), on: graph).graph
    }

    func roundTrip(_ graph: Graph, _ weights: Weights) throws -> ImportedModel {
        let data = try ONNXExporter.export(graph, weights: weights)
        let path = NSTemporaryDirectory() + "lowpass-roundtrip-\(UUID().uuidString).onnx"
        try data.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ONNXImporter.importModel(contentsOf: path, name: graph.name)
    }

    /// Antialiased models, and APS ones (their choices, selections and circular pads written as opset-17
    /// ops and recognized on the way back), come back as they were.
    @Test(arguments: [("resnet18", "antialias{stem=include,small-maps=replicate}"), ("mobilenet_v2", "antialias{stem=include,small-maps=replicate}"),
                      ("densenet121", "antialias{stem=include,small-maps=replicate}"), ("resnetrs50", "antialias{stem=include,small-maps=replicate}"),
                      ("seed-acnet", "antialias{stem=include,small-maps=replicate}"), ("resnet18", "aps{filter=3}"), ("densenet121", "aps{norm=l1}")])
    func antialiasedZooModelsComeBack(model: String, pipeline: String) throws {
        let zoo = try #require(Zoo.model(named: model))
        var graph = zoo.graph(height: zoo.inputSize[1] == 28 ? nil : 64, width: zoo.inputSize[1] == 28 ? nil : 64)
        graph = try rewrite(graph, pipeline)
        let weights = SeededRecipe.weights(for: graph)
        let imported = try roundTrip(graph, weights)
        #expect(imported.remarks.contains { $0.contains("blur") } == graph.nodes.contains { $0.op == .blurPool })
        #expect(imported.remarks.contains { $0.contains("polyphase") } == graph.nodes.contains { $0.op == .polyphaseIndex })

        // The same graph, once both sides are in canonical form (ONNX has no Dropout at inference, and
        // writes some defaults explicitly).
        var before = try rewrite(graph, "remove-identity,canonicalize")
        // Inline constants travel as initializers and come back as parameters with data in the weight file.
        for i in before.parameters.indices { before.parameters[i].inlineData = nil }
        var after = try rewrite(imported.graph, "remove-identity,canonicalize")
        after.metadata = before.metadata
        after.name = before.name
        let diff = GraphDiff(from: before, to: after)
        #expect(diff.isEmpty, "\(model):\n\(diff.text.prefix(2000))")
        #expect(Set(imported.weights.keys) == Set(graph.parameters.filter { $0.inlineData == nil }.map(\.name))
                .union(graph.parameters.filter { $0.inlineData != nil }.map(\.name)))
        for (name, tensor) in imported.weights { #expect(tensor.values == weights[name]?.values, "\(name)") }

        let size = [1] + graph.inputs[0].type.shape.dropFirst().compactMap(\.value)
        let input = SeededRecipe.tensor(named: "input", shape: size)
        let expected = try ReferenceInterpreter().run(graph, weights: weights, inputs: ["input": input])
        let actual = try ReferenceInterpreter().run(imported.graph, weights: Weights(tensors: imported.weights), inputs: ["input": input])
        for output in graph.outputs {
            #expect(try #require(actual[output]).difference(to: try #require(expected[output])).relative < 1e-6)
        }
    }

    /// Each element-wise op exports (under its name where opset 17 has it, as the ops of its expression
    /// where it does not: Gelu, Mish) and comes back computing the same.
    @Test(arguments: OpKind.allCases.filter { $0.schema.isElementwise })
    func elementwiseOpsComeBack(op: OpKind) throws {
        let variadic = op.schema.isVariadic ? 3 : op.schema.inputs.count
        let shape = [2, 3, 4, 5]
        let parameters = (1..<variadic).map { Parameter(name: "c\($0)", type: TensorType(fixed: [1, 3, 1, 1])) }
        var attributes: Attributes = [:]
        if op == .gelu { attributes["approximate"] = .string("tanh") }
        if op == .leakyRelu { attributes["alpha"] = .float(0.2) }
        let graph = Graph(name: "op", inputs: [ValueInfo(name: "input", type: TensorType(fixed: shape))], outputs: ["y"], parameters: parameters,
                          nodes: [Node(name: "n", op: op, inputs: ["input"] + parameters.map(\.name), outputs: ["y"], attributes: attributes)])
        let positive = [.log, .sqrt, .pow, .reciprocal].contains(op)
        var tensors: [String: Tensor] = [:]
        for (k, parameter) in parameters.enumerated() {
            tensors[parameter.name] = Tensor(shape: [1, 3, 1, 1], values: [0.5, 2, 1.5].map { Float($0) * (k % 2 == 0 || positive ? 1 : -1) })
        }
        let imported = try roundTrip(graph, Weights(tensors: tensors))
        let direct = (op.schema.onnxSince ?? 99) <= Int(ONNXExporter.opset)
        #expect(imported.graph.nodes.contains { $0.op == op } == direct, "\(imported.graph.nodes.map(\.op))")
        var generator = 1.0
        let input = Tensor(shape: shape) { _ in
            generator = (generator * 16807).truncatingRemainder(dividingBy: 2147483647)
            let u = generator / 2147483647
            return Float(positive ? 0.1 + 3 * u : 8 * u - 4)
        }
        let expected = try ReferenceInterpreter().run(graph, weights: Weights(tensors: tensors), inputs: ["input": input])
        let actual = try ReferenceInterpreter().run(imported.graph, weights: Weights(tensors: imported.weights), inputs: ["input": input])
        let error = try #require(actual["y"]).difference(to: try #require(expected["y"])).relative
        #expect(error < 1e-6, "\(op): \(error)")
    }

    /// Transpose, Slice, Squeeze, Unsqueeze and the reductions export in opset 17's forms (lists as
    /// attributes or constant inputs) and come back as the same ops computing the same.
    static let tensorOps: [(OpKind, Attributes)] = [(.transpose, ["perm": .ints([0, 3, 1, 2])]),
                      (.slice, ["starts": .ints([4, 1]), "ends": .ints([0, 100]), "axes": .ints([-1, 1]), "steps": .ints([-2, 1])]),
                      (.squeeze, ["axes": .ints([0])]), (.unsqueeze, ["axes": .ints([1, -1])]),
                      (.reduceMean, ["axes": .ints([2, 3])]), (.reduceSum, ["axes": .ints([1]), "keepdims": .int(0)]),
                      (.reduceMax, [:]), (.reduceMin, ["axes": .ints([-1])]), (.reduceL2, ["axes": .ints([0, 2])]),
                      (.layerNormalization, ["axis": .int(2), "epsilon": .float(0.001)]),
                      (.resize, ["sizes": .ints([1, 3, 8, 10]), "scales": .floats([1, 1, 2, 2]), "mode": .string("linear")]),
                      (.resize, ["sizes": .ints([1, 3, 3, 7]), "coordinate_transformation_mode": .string("align_corners")]),
                      (.expand, ["shape": .ints([2, 3, 4, 5])]), (.depthToSpace, ["blocksize": .int(1), "mode": .string("CRD")]),
                      (.logSoftmax, ["axis": .int(1)]), (.gather, ["indices": .ints([3, 0, 0, 1]), "indices_shape": .ints([2, 2]), "axis": .int(2)]), (.convTranspose, ["strides": .ints([2, 2]), "pads": .ints([1, 0, 1, 0]), "output_padding": .ints([1, 1])]),
                      (.tile, ["repeats": .ints([2, 1, 1, 3])]), (.argMax, ["axis": .int(-1), "select_last_index": .int(1)]), (.argMin, ["keepdims": .int(0)])]

    @Test(arguments: tensorOps.indices)
    func tensorOpsComeBack(index: Int) throws {
        let (op, attributes) = Self.tensorOps[index]
        let shape = [1, 3, 4, 5]
        let parameterShape: [Int]? = op == .layerNormalization ? [4, 5] : op == .convTranspose ? [3, 2, 3, 3] : nil
        let scale = parameterShape.map { [Parameter(name: "scale", type: TensorType(fixed: $0))] } ?? []
        let weights = Weights(tensors: Dictionary(uniqueKeysWithValues: scale.map { ($0.name, SeededRecipe.tensor(named: $0.name, shape: $0.type.fixedShape ?? [])) }))
        let graph = Graph(name: "op", inputs: [ValueInfo(name: "input", type: TensorType(fixed: shape))], outputs: ["y"], parameters: scale,
                          nodes: [Node(name: "n", op: op, inputs: ["input"] + scale.map(\.name), outputs: ["y"], attributes: attributes)])
        let imported = try roundTrip(graph, weights)
        // ArgMax's float indices come back through ONNX's int64 and a Cast, which imports as a renaming.
        #expect(imported.graph.nodes.map(\.op) == ([.argMax, .argMin].contains(op) ? [op, .identity] : [op]))
        let input = SeededRecipe.tensor(named: "input", shape: shape)
        let expected = try ReferenceInterpreter().run(graph, weights: weights, inputs: ["input": input])
        let actual = try ReferenceInterpreter().run(imported.graph, weights: Weights(tensors: imported.weights), inputs: ["input": input])
        #expect(try #require(actual["y"]).difference(to: try #require(expected["y"])).relative < 1e-6)
    }

    /// GroupNormalization goes out as torch.onnx writes it for opset 17 (Reshape, InstanceNormalization,
    /// Reshape, Mul, Add) and the importer raises that back to one GroupNormalization computing the same.
    /// With InstanceNormalization weights other than ones and zeros, the written-out form is kept.
    @Test func groupNormalizationComesBackAsOneNode() throws {
        let shape = [2, 6, 5, 3]
        let graph = Graph(name: "gn", inputs: [ValueInfo(name: "input", type: TensorType(fixed: shape))], outputs: ["y"],
                          parameters: [Parameter(name: "scale", type: TensorType(fixed: [6])), Parameter(name: "shift", type: TensorType(fixed: [6]))],
                          nodes: [Node(name: "gn", op: .groupNormalization, inputs: ["input", "scale", "shift"], outputs: ["y"],
                                       attributes: ["num_groups": .int(3), "epsilon": .float(1e-3)])])
        let weights = SeededRecipe.weights(for: graph)
        let input = SeededRecipe.tensor(named: "input", shape: shape)
        let expected = try #require(try ReferenceInterpreter().run(graph, weights: weights, inputs: ["input": input])["y"])
        let imported = try roundTrip(graph, weights)
        #expect(imported.graph.nodes.map(\.op) == [.groupNormalization])
        #expect(imported.remarks.contains { $0.contains("GroupNorm") })
        let actual = try #require(try ReferenceInterpreter().run(imported.graph, weights: Weights(tensors: imported.weights), inputs: ["input": input])["y"])
        #expect(actual.difference(to: expected).relative < 1e-6)

        // Export the written-out form, then change the InstanceNormalization's scale: no longer a GroupNorm.
        var data = try ONNXExporter.export(graph, weights: weights)
        var model = try Onnx_ModelProto(serializedBytes: data)
        let ones = try #require(model.graph.initializer.firstIndex { $0.name == "gn.ones" })
        model.graph.initializer[ones].floatData = [1, 2, 1]
        model.graph.initializer[ones].rawData = Data()
        data = try model.serializedData()
        let path = NSTemporaryDirectory() + "lowpass-gn-\(UUID().uuidString).onnx"
        try data.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let kept = try ONNXImporter.importModel(contentsOf: path, name: "gn")
        #expect(kept.graph.nodes.contains { $0.op == .instanceNormalization })
        #expect(!kept.graph.nodes.contains { $0.op == .groupNormalization })
    }

    @Test func blurPoolExportsAsStandardOps() throws {
        let graph = Graph(name: "blur", inputs: [ValueInfo(name: "x", type: TensorType(.f32, ["N", 3, 9, 8]))], outputs: ["a", "b", "c"],
                          nodes: [Node(name: "a", op: .blurPool, inputs: ["x"], outputs: ["a"]),
                                  Node(name: "b", op: .blurPool, inputs: ["x"], outputs: ["b"], attributes: ["filter_size": .int(3), "pad_mode": .string("replicate")]),
                                  Node(name: "c", op: .blurPool, inputs: ["x"], outputs: ["c"], attributes: ["filter_size": .int(5), "pad_mode": .string("zero"), "strides": .ints([1, 1])])])
        let imported = try roundTrip(graph, Weights())
        #expect(imported.graph.nodes.map(\.op) == [.blurPool, .blurPool, .blurPool])
        #expect(imported.graph.nodes[2].attributes["pad_mode"] == .string("zero"))
        #expect(imported.graph.inputs[0].type.shape[0] == .symbol("N"), "the batch stays dynamic")
        #expect(imported.weights.isEmpty, "the fixed filters are not parameters")
    }
}

/// Files that are not ONNX models, or broken ones, are errors.
@Suite("ONNX import errors")
struct ONNXImportErrorTests {
    func importError(_ bytes: [UInt8]) -> String {
        let path = NSTemporaryDirectory() + "lowpass-bad-\(UUID().uuidString).onnx"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try ONNXImporter.importModel(contentsOf: path)
            return ""
        } catch {
            return error.description
        }
    }

    @Test func nonONNXTruncatedAndCorruptFilesAreErrors() throws {
        #expect(importError(Array("this is not a model".utf8)).contains("[bad-onnx]"))
        #expect(importError([]).contains("holds no graph"))
        let graph = Graph(name: "g", inputs: [ValueInfo(name: "x", type: TensorType(.f32, ["N", 3, 8, 8]))], outputs: ["y"],
                          parameters: [Parameter(name: "w", type: TensorType(fixed: [4, 3, 3, 3]))],
                          nodes: [Node(name: "conv", op: .conv, inputs: ["x", "w"], outputs: ["y"])])
        let data = [UInt8](try ONNXExporter.export(graph, weights: SeededRecipe.weights(for: graph)))
        for cut in [1, data.count / 3, data.count / 2, data.count - 1] {
            let message = importError(Array(data.prefix(cut)))
            #expect(message.contains("error:"), "a model cut at \(cut) bytes: \(message)")
        }
        var corrupted = data
        for i in stride(from: 7, to: corrupted.count, by: 13) { corrupted[i] ^= 0x5A }
        #expect(importError(corrupted).contains("error:"))
    }
}
