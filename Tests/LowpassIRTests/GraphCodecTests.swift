import Testing
@testable import LowpassIR

@Suite("Graph JSON format")
struct GraphCodecTests {
    @Test func decodeEncodeDecodeIsIdentity() throws {
        var graph = TestGraphs.classifier()
        graph.weightsFile = "classifier.safetensors"
        graph.parameters.append(Parameter(name: "third", type: TensorType(fixed: [1]), inlineData: [1.0 / 3]))
        graph.nodes.append(Node(name: "clip", op: .clip, inputs: ["logits"], outputs: ["clipped"],
                                attributes: ["min": .float(0), "max": .float(.infinity)]))
        let text = graph.jsonText()
        let decoded = try Graph.decode(json: Array(text.utf8))
        #expect(decoded == graph)
        #expect(decoded.jsonText() == text, "encoding is stable: the same graph gives the same bytes")
    }

    @Test func keyOrderIsFixed() throws {
        let text = TestGraphs.classifier().jsonText()
        let keys = ["\"format\"", "\"version\"", "\"name\"", "\"metadata\"", "\"inputs\"", "\"outputs\"", "\"parameters\"", "\"nodes\""]
        let positions = keys.map { text.firstRange(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil })
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
        #expect(text.contains(#""shape": ["N", 3, 12, 12]"#))
    }

    @Test func integersAreAcceptedForFloatAttributes() throws {
        let json = #"""
        {"format": "lowpass-graph", "version": 1, "name": "g",
         "inputs": [{"name": "x", "dtype": "f32", "shape": [1, 4]}], "outputs": ["y"],
         "nodes": [{"name": "c", "op": "Clip", "inputs": ["x"], "outputs": ["y"], "attributes": {"min": 0, "max": "inf"}}]}
        """#
        let graph = try Graph.decode(json: Array(json.utf8))
        #expect(graph.nodes[0].attributes["min"] == .float(0))
        #expect(graph.nodes[0].attributes["max"] == .float(.infinity))
    }

    @Test func reportsEveryProblemWithItsJSONPath() {
        let json = #"""
        {"format": "lowpass-graph", "version": 2, "name": "g", "extra": 1,
         "inputs": [{"name": "x", "shape": [1, -4]}], "outputs": ["y"],
         "nodes": [{"name": "c", "op": "Conv2d", "inputs": ["x"], "outputs": ["y"]},
                   {"name": "r", "op": "Relu", "inputs": "x", "outputs": ["z"]},
                   {"name": "p", "op": "MaxPool", "inputs": ["x"], "outputs": ["w"], "attributes": {"kernel_shape": [2.5, 2]}}]}
        """#
        do {
            _ = try Graph.decode(json: Array(json.utf8), file: "g.json")
            Issue.record("decoding should fail")
        } catch {
            let text = error.description
            #expect(text.contains("g.json: $.version: unsupported version 2"))
            #expect(text.contains("$.extra: unknown key"))
            #expect(text.contains("$.inputs[0].shape[1]"))
            #expect(text.contains("$.nodes[0].op: node 'c': unknown op 'Conv2d'"))
            #expect(text.contains("$.nodes[1].inputs: expected an array, found a string"))
            #expect(text.contains("$.nodes[2].attributes.kernel_shape: node 'p': expected an array of integers"))
            #expect(error.items.count == 6)
        }
    }

    @Test func malformedJSONNamesLineAndColumn() {
        do {
            _ = try Graph.decode(json: Array("{\n  \"format\": \"lowpass-graph\",\n  \"version\" 1\n}".utf8), file: "bad.json")
            Issue.record("decoding should fail")
        } catch {
            #expect(error.items.first?.id == .malformedJson)
            #expect(error.description.contains("bad.json: not valid JSON: line 3, column 13: expected ':' after key"))
        }
    }

    @Test func unknownOpSuggestsTheNearestName() {
        let json = #"{"format": "lowpass-graph", "version": 1, "name": "g", "inputs": [], "outputs": [], "nodes": [{"name": "a", "op": "Blurpool", "inputs": [], "outputs": []}]}"#
        var message = ""
        do { _ = try Graph.decode(json: Array(json.utf8)) } catch { message = error.description }
        #expect(message.contains("did you mean 'BlurPool'?"))
    }
}
