import Antialias
import Foundation
import Testing
import LowpassIR
import LowpassPasses
import LowpassTensor
import LowpassZoo

/// The rules on graphs outside the zoo's reference families, each with its intended result.
@Suite("Antialias rules")
struct AntialiasRuleTests {
    static let x = ValueInfo(name: "x", type: TensorType(.f32, ["N", 3, 13, 12]))

    func run(_ graph: Graph, _ pipeline: String = "antialias") throws -> (graph: Graph, report: PipelineReport) {
        try AntialiasFixtures.antialias(graph, pipeline)
    }

    func failure(_ graph: Graph, _ pipeline: String) throws -> String {
        do {
            _ = try run(graph, pipeline)
            return ""
        } catch let error as PipelineFailure {
            return error.description
        }
    }

    /// Input x (13x12) at the graph's input size is the stem; `pre` (3x3, no padding) makes the 11x10 map
    /// `p` that the strided layers under test read.
    func graph(_ nodes: [Node], parameters: [Parameter], outputs: [String]) -> Graph {
        let pre = Node(name: "pre", op: .conv, inputs: ["x", "pre.weight"], outputs: ["p"])
        return Graph(name: "hand", inputs: [Self.x], outputs: outputs,
                     parameters: [Parameter(name: "pre.weight", type: TensorType(fixed: [4, 3, 3, 3]))] + parameters, nodes: [pre] + nodes)
    }

    func ops(_ graph: Graph) -> [String] { graph.nodes.map { "\($0.name):\($0.op.rawValue)" } }

    @Test func aStridedConvFeedingTwoConsumersIsBlurredOnceForBoth() throws {
        // p -> conv (3x3, stride 2) -> { relu -> a, sigmoid -> b }: no single activation follows, so the
        // blur follows the conv itself and both consumers read it.
        let g = graph([Node(name: "conv", op: .conv, inputs: ["p", "w"], outputs: ["c"], attributes: ["strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
                       Node(name: "relu", op: .relu, inputs: ["c"], outputs: ["a"]),
                       Node(name: "sigmoid", op: .sigmoid, inputs: ["c"], outputs: ["b"])],
                      parameters: [Parameter(name: "w", type: TensorType(fixed: [5, 4, 3, 3]))], outputs: ["a", "b"])
        let (rewritten, report) = try run(g)
        #expect(ops(rewritten) == ["pre:Conv", "conv:Conv", "conv.blur:BlurPool", "relu:Relu", "sigmoid:Sigmoid"])
        #expect(rewritten.node(named: "conv")?.attributes["strides"] == nil)
        #expect(rewritten.node(named: "conv")?.outputs == ["c.unblurred"])
        #expect(rewritten.node(named: "conv.blur")?.inputs == ["c.unblurred"])
        #expect(rewritten.node(named: "conv.blur")?.outputs == ["c"], "both consumers still read c, now blurred")
        #expect(try rewritten.verify().types["a"] == (try g.verify().types["a"]))
        #expect(report.passes[0].report.contains("Conv -> Conv(stride 1) + BlurPool"))
        #expect(report.passes[0].report.contains("11x10 -> 6x5"))
    }

    /// EfficientNet's strided depthwise conv -> BN -> SiLU, with SiLU as exporters write it
    /// (x * Sigmoid(x)): the blur follows the whole activation, as it follows a ReLU.
    @Test func siluWrittenOutIsTheActivationTheBlurFollows() throws {
        let g = graph([Node(name: "dw", op: .conv, inputs: ["p", "w"], outputs: ["c"], attributes: ["strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]), "group": .int(4)]),
                       Node(name: "bn", op: .batchNormalization, inputs: ["c", "g", "b", "m", "v"], outputs: ["n"]),
                       Node(name: "sig", op: .sigmoid, inputs: ["n"], outputs: ["s"]),
                       Node(name: "silu", op: .mul, inputs: ["n", "s"], outputs: ["y"])],
                      parameters: [Parameter(name: "w", type: TensorType(fixed: [4, 1, 3, 3]))] + ["g", "b", "m", "v"].map { Parameter(name: $0, type: TensorType(fixed: [4])) },
                      outputs: ["y"])
        let (rewritten, report) = try run(g)
        #expect(ops(rewritten) == ["pre:Conv", "dw:Conv", "bn:BatchNormalization", "sig:Sigmoid", "silu:Mul", "dw.blur:BlurPool"])
        #expect(rewritten.node(named: "dw.blur")?.outputs == ["y"])
        #expect(report.passes[0].report.contains("Conv -> Conv(stride 1) + BatchNormalization + SiLU + BlurPool"), "\(report.passes[0].report)")
        #expect(try rewritten.verify().types["y"] == (try g.verify().types["y"]))
    }

    /// HardSwish written out (timm's hard_swish, older exports): x * Clip(x + 3, 0, 6) / 6 is the
    /// activation the blur follows, as the HardSwish op would be.
    @Test func hardSwishWrittenOutIsTheActivationTheBlurFollows() throws {
        let g = graph([Node(name: "conv", op: .conv, inputs: ["p", "w"], outputs: ["c"], attributes: ["strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
                       Node(name: "plus3", op: .add, inputs: ["c", "three"], outputs: ["a"]),
                       Node(name: "relu6", op: .clip, inputs: ["a"], outputs: ["k"], attributes: ["min": .float(0), "max": .float(6)]),
                       Node(name: "times", op: .mul, inputs: ["c", "k"], outputs: ["m"]),
                       Node(name: "over6", op: .div, inputs: ["m", "six"], outputs: ["y"])],
                      parameters: [Parameter(name: "w", type: TensorType(fixed: [5, 4, 3, 3])), Parameter(name: "three", type: TensorType(fixed: [])),
                                   Parameter(name: "six", type: TensorType(fixed: [1]))],
                      outputs: ["y"])
        let (rewritten, report) = try run(g)
        #expect(ops(rewritten) == ["pre:Conv", "conv:Conv", "plus3:Add", "relu6:Clip", "times:Mul", "over6:Div", "conv.blur:BlurPool"])
        #expect(rewritten.node(named: "conv.blur")?.outputs == ["y"])
        #expect(report.passes[0].report.contains("Conv -> Conv(stride 1) + (Add, Clip, Mul, Div) + BlurPool"), "\(report.passes[0].report)")
    }

    /// upsample=blur: a nearest 2x Resize gets a stride-1 blur that keeps its size; the default keeps it as it is.
    @Test func upsamplingIsBlurredOnlyWhenAsked() throws {
        let g = graph([Node(name: "up", op: .resize, inputs: ["p"], outputs: ["u"], attributes: ["sizes": .ints([1, 4, 22, 20])])],
                      parameters: [], outputs: ["u"])
        var fixed = g
        fixed.inputs[0].type.shape[0] = .fixed(1)
        let (kept, _) = try run(fixed)
        #expect(kept == fixed)
        let (blurred, report) = try run(fixed, "antialias{upsample=blur}")
        #expect(ops(blurred) == ["pre:Conv", "up:Resize", "up.blur:BlurPool"])
        #expect(blurred.node(named: "up.blur")?.attributes["strides"] == .ints([1, 1]))
        #expect(try blurred.verify().types["u"] == (try fixed.verify().types["u"]))
        #expect(report.passes[0].report.contains("Resize (upsampling) -> Resize + BlurPool(stride 1)"))
    }

    /// ConvNeXt's downsampler (LayerNorm, then a 2x2 conv at stride 2) and a ShuffleNetV2 unit's two
    /// strided branches (each a linear depthwise 3x3 conv at stride 2 and its BN): every strided conv
    /// runs at stride 1 and a blur after it (and its BN) subsamples, each map keeping its size.
    @Test func convNeXtDownsamplerAndShuffleNetBranches() throws {
        let bn = { (name: String, input: String) in Node(name: name, op: .batchNormalization, inputs: [input, "g", "b", "m", "v"], outputs: [name]) }
        let g = graph([Node(name: "ln", op: .layerNormalization, inputs: ["p", "lnscale"], outputs: ["l"], attributes: ["axis": .int(1)]),
                       Node(name: "down", op: .conv, inputs: ["l", "w2"], outputs: ["d"], attributes: ["strides": .ints([2, 2])]),
                       Node(name: "branch1", op: .conv, inputs: ["p", "dw"], outputs: ["b1"], attributes: ["strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]), "group": .int(4)]),
                       bn("branch1.bn", "b1"),
                       Node(name: "branch2", op: .conv, inputs: ["p", "dw"], outputs: ["b2"], attributes: ["strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]), "group": .int(4)]),
                       bn("branch2.bn", "b2")],
                      parameters: [Parameter(name: "lnscale", type: TensorType(fixed: [4, 11, 10])), Parameter(name: "w2", type: TensorType(fixed: [4, 4, 2, 2])),
                                   Parameter(name: "dw", type: TensorType(fixed: [4, 1, 3, 3]))] + ["g", "b", "m", "v"].map { Parameter(name: $0, type: TensorType(fixed: [4])) },
                      outputs: ["d", "branch1.bn", "branch2.bn"])
        let (rewritten, report) = try run(g)
        #expect(rewritten.nodes.filter { $0.op == .blurPool }.map(\.name).sorted() == ["branch1.blur", "branch2.blur", "down.blur"])
        #expect(rewritten.nodes.filter { $0.op == .conv }.allSatisfy { $0.attributes["strides"] == nil })
        #expect(rewritten.node(named: "branch1.blur")?.inputs == ["branch1.bn.unblurred"], "the blur follows the branch's BN")
        let (before, after) = (try g.verify(), try rewritten.verify())
        for output in g.outputs { #expect(after.types[output] == before.types[output], "\(output)") }
        #expect(report.passes[0].report.contains("Conv -> Conv(stride 1) + BatchNormalization + BlurPool"))
    }

    @Test func theStemIsKeptUnlessIncluded() throws {
        let g = Graph(name: "stem", inputs: [Self.x], outputs: ["r"], parameters: [Parameter(name: "w", type: TensorType(fixed: [4, 3, 3, 3]))],
                      nodes: [Node(name: "conv1", op: .conv, inputs: ["x", "w"], outputs: ["c"], attributes: ["strides": .ints([2, 2])]),
                              Node(name: "relu", op: .relu, inputs: ["c"], outputs: ["r"])])
        let (kept, report) = try run(g)
        #expect(kept == g)
        #expect(report.remarks.contains { $0.id == .stemKept && $0.location.node == "conv1" })
        let (included, _) = try run(g, "antialias{stem=include}")
        #expect(ops(included) == ["conv1:Conv", "relu:Relu", "conv1.blur:BlurPool"])
    }

    @Test func placementBeforeBlursAtStrideOneAheadOfTheStridedConv() throws {
        let g = graph([Node(name: "conv", op: .conv, inputs: ["p", "w"], outputs: ["c"], attributes: ["strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
                       Node(name: "relu", op: .relu, inputs: ["c"], outputs: ["r"])],
                      parameters: [Parameter(name: "w", type: TensorType(fixed: [5, 4, 3, 3]))], outputs: ["r"])
        let (before, _) = try run(g, "antialias{placement=before}")
        #expect(ops(before) == ["pre:Conv", "conv.blur:BlurPool", "conv:Conv", "relu:Relu"])
        #expect(before.node(named: "conv.blur")?.attributes["strides"] == .ints([1, 1]))
        #expect(before.node(named: "conv")?.attributes["strides"] == .ints([2, 2]))
        let (after, _) = try run(g)
        #expect(try before.verify().totalMultiplyAdds < (try after.verify().totalMultiplyAdds), "blurring first is cheaper")
    }

    @Test func averagePools() throws {
        let g = graph([Node(name: "avg2", op: .averagePool, inputs: ["p"], outputs: ["a"], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])]),
                       Node(name: "avg3", op: .averagePool, inputs: ["p"], outputs: ["b"],
                            attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])])],
                      parameters: [], outputs: ["a", "b"])
        let (rewritten, _) = try run(g)
        #expect(ops(rewritten) == ["pre:Conv", "avg2:BlurPool", "avg3:AveragePool", "avg3.blur:BlurPool"])
        #expect(rewritten.node(named: "avg3")?.attributes["strides"] == nil)
    }

    @Test func includeAndExcludePatterns() throws {
        let g = graph([Node(name: "layer1.pool", op: .maxPool, inputs: ["p"], outputs: ["a"], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])]),
                       Node(name: "layer2.pool", op: .maxPool, inputs: ["p"], outputs: ["b"], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])])],
                      parameters: [], outputs: ["a", "b"])
        #expect(ops(try run(g, "antialias{exclude=layer1.*}").graph).contains("layer2.pool.blur:BlurPool"))
        #expect(!ops(try run(g, "antialias{exclude=layer1.*}").graph).contains("layer1.pool.blur:BlurPool"))
        #expect(ops(try run(g, #"antialias{include="layer1.*|nothing"}"#).graph).filter { $0.hasSuffix("BlurPool") } == ["layer1.pool.blur:BlurPool"])
    }

    @Test func smallMapsFailNamingTheNodeOrFallBack() throws {
        // A 2x2 map cannot be reflect-padded by 2 (filter 4 pads 1 before and 2 after).
        let tiny = ValueInfo(name: "x", type: TensorType(.f32, ["N", 3, 6, 6]))
        var g = Graph(name: "tiny", inputs: [tiny], outputs: ["m"],
                      nodes: [Node(name: "pool1", op: .maxPool, inputs: ["x"], outputs: ["q"], attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([3, 3])]),
                              Node(name: "pool2", op: .maxPool, inputs: ["q"], outputs: ["m"], attributes: ["kernel_shape": .ints([1, 1]), "strides": .ints([2, 2])])])
        let message = try failure(g, "antialias")
        #expect(message.contains("node 'pool2'") && message.contains("reflect-pad a 2x2 map"), "\(message)")
        let (replicated, _) = try run(g, "antialias{small-maps=replicate}")
        #expect(replicated.node(named: "pool2.blur")?.attributes["pad_mode"] == .string("replicate"))
        let (skipped, report) = try run(g, "antialias{small-maps=skip}")
        #expect(skipped.node(named: "pool2") == g.node(named: "pool2"))
        #expect(report.remarks.contains { $0.id == .smallMap && $0.location.node == "pool2" })
        g.nodes.removeLast()
        g.outputs = ["q"]
        #expect(try run(g, "antialias{pad=zero}").graph.node(named: "pool1.blur")?.attributes["pad_mode"] == .string("zero"))
    }

    @Test func nothingToRewriteLeavesTheGraphWithANote() throws {
        let g = graph([Node(name: "relu", op: .relu, inputs: ["p"], outputs: ["r"])], parameters: [], outputs: ["r"])
        let (same, report) = try run(g)
        #expect(same == g)
        #expect(report.passes[0].changed == false)
        #expect(report.remarks.contains { $0.message.contains("nothing to antialias") })
    }

    @Test func resnetRSFollowsTheRules() throws {
        // timm's ResNet-RS: the stem's strided conv stays; the strided conv that replaces the max pool,
        // each block's strided 3x3 conv and each ResNet-D average-pool shortcut are antialiased.
        let baseline = try #require(Zoo.model(named: "resnetrs50")).graph()
        let (rewritten, report) = try run(baseline)
        let blurs = rewritten.nodes.filter { $0.op == .blurPool }.map(\.name)
        #expect(blurs == ["maxpool.0.blur", "layer2.0.conv2.blur", "layer2.0.downsample.0", "layer3.0.conv2.blur",
                          "layer3.0.downsample.0", "layer4.0.conv2.blur", "layer4.0.downsample.0"])
        #expect(rewritten.node(named: "conv1.0")?.attributes["strides"] == .ints([2, 2]), "the stem is kept")
        #expect(rewritten.node(named: "maxpool.2")?.outputs == ["maxpool.2.unblurred"])
        #expect(rewritten.node(named: "maxpool.0.blur")?.inputs == ["maxpool.2.unblurred"], "after the BN and the ReLU")
        #expect(rewritten.node(named: "maxpool.0.blur")?.outputs == ["maxpool.2"])
        #expect(rewritten.nodes.filter { $0.op == .conv && $0.attributes["strides"] != nil }.map(\.name) == ["conv1.0"])
        #expect(rewritten.parameters == baseline.parameters)
        let types = try rewritten.verify().types
        #expect(types["fc"] == TensorType(.f32, ["N", 1000]))
        #expect(report.passes[0].report.contains("x1.313"))
    }
}

/// Filter sizes 1...7 in every pad mode: the rewritten graph computes exactly the composition of its
/// parts (the stride-1 layer, then a BlurPool), checked with the reference interpreter.
@Suite("Antialias numerics")
struct AntialiasNumericTests {
    static let cases: [(Int, String)] = (1...7).flatMap { m in ["reflect", "replicate", "zero"].map { (m, $0) } }

    @Test(arguments: cases)
    func rewrittenGraphEqualsItsParts(filter: Int, pad: String) throws {
        let x = ValueInfo(name: "x", type: TensorType(.f32, ["N", 3, 17, 16]))
        let pre = Node(name: "pre", op: .conv, inputs: ["x", "pre.weight"], outputs: ["p"])  // 15x14: off the stem
        let g = Graph(name: "mixed", inputs: [x], outputs: ["r", "m", "a"],
                      parameters: [Parameter(name: "pre.weight", type: TensorType(fixed: [4, 3, 3, 3])), Parameter(name: "w", type: TensorType(fixed: [6, 4, 3, 3]))],
                      nodes: [pre,
                              Node(name: "conv", op: .conv, inputs: ["p", "w"], outputs: ["c"], attributes: ["strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
                              Node(name: "relu", op: .relu, inputs: ["c"], outputs: ["r"]),
                              Node(name: "max", op: .maxPool, inputs: ["p"], outputs: ["m"], attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
                              Node(name: "avg", op: .averagePool, inputs: ["p"], outputs: ["a"], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])])])
        let (rewritten, _) = try AntialiasFixtures.antialias(g, "antialias{filter=\(filter),pad=\(pad)}")
        let weights = SeededRecipe.weights(for: g)
        var random = SplitMix64(seed: UInt64(filter * 10 + pad.count))
        let input = Tensor(shape: [2, 3, 17, 16]) { _ in Float(random.nextGaussian()) }
        let outputs = try ReferenceInterpreter().run(rewritten, weights: weights, inputs: ["x": input])

        // The parts, run separately: the stride-1 layers, then a lone BlurPool on their outputs.
        var dense = g
        dense.nodes[1].attributes["strides"] = nil
        dense.nodes[3].attributes["strides"] = nil
        // AveragePool(2, 2) became a lone BlurPool, or (M = 1 on an odd map) a stride-1 pool and a BlurPool.
        let avg = try #require(rewritten.node(named: "avg"))
        dense.nodes[4] = avg.op == .averagePool ? Node(name: "avg", op: .averagePool, inputs: ["p"], outputs: ["a"], attributes: avg.attributes)
                                                : Node(name: "avg", op: .identity, inputs: ["p"], outputs: ["a"])
        let parts = try ReferenceInterpreter().run(dense, weights: weights, inputs: ["x": input])
        for name in ["r", "m", "a"] {
            let map = try #require(parts[name])
            let rewrittenBlur = try #require(rewritten.nodes.first { $0.outputs == [name] && $0.op == .blurPool })
            #expect(rewrittenBlur.attributes["filter_size"] == .int(filter))
            let blur = Graph(name: "blur", inputs: [ValueInfo(name: "y", type: TensorType(fixed: map.shape))], outputs: ["z"],
                             nodes: [Node(name: "b", op: .blurPool, inputs: ["y"], outputs: ["z"], attributes: rewrittenBlur.attributes)])
            let expected = try #require(try ReferenceInterpreter().run(blur, weights: Weights(), inputs: ["y": map])["z"])
            let actual = try #require(outputs[name])
            #expect(actual.shape == expected.shape, "\(name)")
            #expect(actual.difference(to: expected).absolute == 0, "\(name): M=\(filter) \(pad)")
        }
        #expect(try rewritten.verify().types["r"] == (try g.verify().types["r"]), "the graph's output shapes stay")
    }
}
