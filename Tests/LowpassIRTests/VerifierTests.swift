import Testing
@testable import LowpassIR

/// One test per kind of defect; each finding must name its node.
@Suite("Verifier")
struct VerifierTests {
    func findings(_ graph: Graph, dataShapes: [String: [Int]]? = nil) -> [Diagnostic] {
        do {
            _ = try graph.verify(parameterDataShapes: dataShapes)
            return []
        } catch {
            return error.items
        }
    }

    @Test func acceptsAWellFormedGraphAndInfersTypes() throws {
        let verified = try TestGraphs.classifier().verify()
        #expect(verified.types["d"] == TensorType(.f32, [.symbol("N"), .fixed(8), .fixed(6), .fixed(6)]))
        #expect(verified.types["logits"] == TensorType(.f32, [.symbol("N"), .fixed(10)]))
        #expect(verified.order == Array(0..<7))
    }

    @Test func cycle() {
        var graph = TestGraphs.classifier()
        graph.nodes[2].inputs = ["d"]  // relu reads the blur's output, which reads relu
        let found = findings(graph)
        #expect(found.contains { $0.id == .cycle && $0.location.node == "relu" })
        #expect(found.contains { $0.id == .cycle && $0.location.node == "blur" })
    }

    @Test func undefinedValue() {
        var graph = TestGraphs.classifier()
        graph.nodes[3].inputs = ["nope"]
        #expect(findings(graph).contains { $0.id == .undefinedValue && $0.location.node == "blur" && $0.message.contains("'nope'") })
    }

    @Test func duplicateNames() {
        var graph = TestGraphs.classifier()
        graph.nodes[4].outputs = ["r"]
        graph.nodes[5].name = "relu"
        let found = findings(graph)
        #expect(found.contains { $0.id == .duplicateName && $0.location.node == "pool" && $0.message.contains("'r'") })
        #expect(found.contains { $0.id == .duplicateName && $0.location.node == "relu" })
    }

    @Test func wrongArity() {
        var graph = TestGraphs.classifier()
        graph.nodes[1].inputs.removeLast()
        #expect(findings(graph).contains { $0.id == .arity && $0.location.node == "bn" && $0.message.contains("takes 5 inputs") })
    }

    @Test func missingAttribute() {
        var graph = TestGraphs.classifier()
        graph.nodes.append(Node(name: "mp", op: .maxPool, inputs: ["r"], outputs: ["m"]))
        #expect(findings(graph).contains { $0.id == .missingAttribute && $0.location.node == "mp" && $0.message.contains("kernel_shape") })
    }

    @Test func illTypedAttribute() {
        var graph = TestGraphs.classifier()
        graph.nodes[0].attributes["group"] = .string("one")
        graph.nodes[3].attributes["pad_mode"] = .string("mirror")
        let found = findings(graph)
        #expect(found.contains { $0.id == .badAttribute && $0.location.node == "conv" && $0.message.contains("'group' must be of type int") })
        #expect(found.contains { $0.id == .badAttribute && $0.location.node == "blur" && $0.message.contains("reflect, replicate, zero") })
    }

    @Test func unknownAttribute() {
        var graph = TestGraphs.classifier()
        graph.nodes[0].attributes["stride"] = .ints([2, 2])
        #expect(findings(graph).contains { $0.id == .unknownAttribute && $0.location.node == "conv" && $0.message.contains("strides") })
    }

    @Test func shapeMismatch() {
        var graph = TestGraphs.classifier()
        graph.parameters[5].type = TensorType(fixed: [10, 9])  // fc expects 8 features
        #expect(findings(graph).contains { $0.id == .shapeMismatch && $0.location.node == "fc" })
        var conv = TestGraphs.classifier()
        conv.parameters[0].type = TensorType(fixed: [8, 4, 3, 3])
        #expect(findings(conv).contains { $0.id == .shapeMismatch && $0.location.node == "conv" && $0.message.contains("input channels") })
    }

    @Test func parameterDataWithTheWrongShape() {
        var shapes = Dictionary(uniqueKeysWithValues: TestGraphs.classifier().parameters.map { ($0.name, $0.type.fixedShape ?? []) })
        shapes["bn.weight"] = [9]
        shapes["fc.bias"] = nil
        let found = findings(TestGraphs.classifier(), dataShapes: shapes)
        #expect(found.contains { $0.id == .parameterShape && $0.message.contains("'bn.weight' is declared [8] but its data has shape [9]") })
        #expect(found.contains { $0.id == .missingParameter && $0.message.contains("'fc.bias'") })
    }

    @Test func reflectPaddingLargerThanTheInput() {
        var graph = TestGraphs.classifier(height: 2, width: 2)
        graph.nodes[0].attributes["pads"] = .ints([0, 0, 0, 0])
        graph.nodes[0].attributes["kernel_shape"] = .ints([1, 1])
        graph.parameters[0].type = TensorType(fixed: [8, 3, 1, 1])
        graph.nodes[3].attributes["filter_size"] = .int(5)  // pads 2 >= size 2
        #expect(findings(graph).contains { $0.location.node == "blur" && $0.message.contains("reflect padding") })
    }

    @Test func reportsAllFindingsAtOnce() {
        var graph = TestGraphs.classifier()
        graph.nodes[0].attributes["stride"] = .int(2)
        graph.nodes[1].inputs.removeLast()
        graph.outputs.append("missing")
        #expect(findings(graph).count == 3)
    }

    @Test func keepsFileOrderAndOrdersAShuffledGraph() throws {
        var graph = TestGraphs.classifier()
        graph.nodes.reverse()
        let verified = try graph.verify()
        #expect(verified.order.map { graph.nodes[$0].name } == ["conv", "bn", "relu", "blur", "pool", "flatten", "fc"])
    }

    @Test func longChainsDoNotExhaustTheStack() throws {
        var graph = Graph(name: "chain", inputs: [ValueInfo(name: "v0", type: TensorType(fixed: [1, 4]))], outputs: ["v100000"])
        graph.nodes = (1...100_000).map { Node(name: "n\($0)", op: .relu, inputs: ["v\($0 - 1)"], outputs: ["v\($0)"]) }
        graph.nodes.reverse()
        let verified = try graph.verify()
        #expect(verified.order.count == 100_000)
        #expect(verified.types["v100000"] == TensorType(fixed: [1, 4]))
    }

    @Test func everyOpHasASchema() {
        for op in OpKind.allCases { #expect(OpSchema.catalogue[op] != nil, "\(op)") }
    }
}
