import Antialias
import Foundation
import LowpassIR
import LowpassJIT
import LowpassPasses
import LowpassTensor
import LowpassZoo
import Testing

/// Weights for `graph` with every BatchNormalization made non-trivial, so folding it is really tested.
func randomizedWeights(_ graph: Graph) throws -> Weights {
    var tensors = try WeightInitializer.initialize(graph)
    for parameter in graph.parameters {
        if let values = parameter.inlineData, let shape = parameter.type.fixedShape { tensors[parameter.name] = Tensor(shape: shape, values: values) }
    }
    var seed: UInt64 = 100
    for node in graph.nodes where node.op == .batchNormalization {
        let c = tensors[node.inputs[1]]?.count ?? 0
        for (input, (low, high)) in zip(node.inputs.dropFirst(), [(0.5, 1.5), (-0.2, 0.2), (-0.2, 0.2), (0.5, 1.5)]) {
            seed += 1
            tensors[input] = randomTensor([c], seed: seed, low: low, high: high)
        }
    }
    return Weights(tensors: tensors)
}

func antialiased(_ graph: Graph, _ pipeline: String) throws -> Graph {
    let registry = PassRegistry(plugins: [AntialiasPlugin.self])
    return try PassManager(log: { _ in }).run(try registry.configure(try Pipeline(parsing: pipeline)), on: graph).graph
}

@Suite("JIT whole networks and fusions")
struct NetworkTests {
    @Test(arguments: [("resnet18", 64, 2), ("resnet50", 64, 1), ("resnext50_32x4d", 48, 1), ("mobilenet_v2", 64, 1),
                      ("densenet121", 64, 1), ("vgg11_bn", 32, 1), ("alexnet", 96, 2), ("resnetrs50", 64, 1),
                      ("seed-antialias-net", 28, 3), ("seed-acnet", 28, 2)])
    func zooModel(name: String, size: Int, batch: Int) throws {
        let model = try #require(Zoo.model(named: name))
        var graph = model.graph(height: size, width: size)
        graph.inputs[0].type.shape[0] = .fixed(batch)
        let input = randomTensor([batch, model.inputSize[0], size, size], seed: 31)
        try expectMatchesReference(graph, try randomizedWeights(graph), inputs: [graph.inputs[0].name: input])
    }

    @Test(arguments: [("resnet18", "antialias{max-pool-kernel=2}"), ("mobilenet_v2", "antialias"),
                      ("densenet121", "antialias"), ("resnet50", "antialias{max-pool-kernel=2,filter=5,pad=zero}")])
    func antialiasedModel(name: String, pipeline: String) throws {
        let model = try #require(Zoo.model(named: name))
        let graph = try antialiased(model.graph(height: 64, width: 64), pipeline)
        let input = randomTensor([1, 3, 64, 64], seed: 32)
        let blurs = graph.nodes.filter { $0.op == .blurPool }.count
        #expect(blurs > 0)
        for compiled in try expectMatchesReference(graph, try randomizedWeights(graph), inputs: [graph.inputs[0].name: input]) {
            // Every BlurPool ran inside a blur kernel, and no stride-1 max pool survived on its own.
            #expect(compiled.kernels.filter { $0.kind.contains("blurpool") }.count == blurs)
            #expect(!compiled.kernels.contains { $0.kind.hasPrefix("maxpool") && $0.kind.hasSuffix("/s1") })
        }
    }

    /// Winograd changes the rounding, not the function: whole networks stay within 1e-5 of the reference.
    @Test(arguments: ["resnet18", "resnet50"])
    func winogradNetwork(name: String) throws {
        let model = try #require(Zoo.model(named: name))
        let graph = try antialiased(model.graph(height: 128, width: 128), "antialias{max-pool-kernel=2}")
        for compiled in try expectMatchesReference(graph, try randomizedWeights(graph), inputs: [graph.inputs[0].name: randomTensor([1, 3, 128, 128], seed: 34)],
                                                   winograd: true) {
            #expect(compiled.kernels.contains { $0.kind.hasPrefix("winograd3x3") }, "\(compiled.target)")
        }
    }

    /// Kernels that differ only in their buffers and nodes share one function; any other difference
    /// (here the map size and channel count of layer2) gives its own.
    @Test func identicalKernelsShareOneFunction() throws {
        let model = try #require(Zoo.model(named: "resnet18"))
        let graph = model.graph(height: 64, width: 64)
        let compiled = try CompiledModel(graph: graph, weights: try randomizedWeights(graph), inputShapes: [graph.inputs[0].name: [1, 3, 64, 64]])
        let function = { (node: String) in compiled.kernels.first { $0.nodes.contains(node) }?.name }
        #expect(function("layer1.0.conv1") != nil)
        #expect(function("layer1.0.conv1") == function("layer1.1.conv1"))
        #expect(function("layer1.0.conv2") == function("layer1.1.conv2"))
        #expect(function("layer1.0.conv1") != function("layer2.1.conv1"))
        #expect(Set(compiled.kernels.map(\.name)).count < compiled.kernels.count)
    }

    /// DenseNet's layers differ in their input channel counts only: the packed convs, the per-channel
    /// BatchNorm+ReLU and the concats read those counts at run time, so a dense block's layers share
    /// their functions (`zooModel` checks that each still computes its own layer).
    @Test func kernelsThatDifferOnlyInRunTimeIntegersShareOneFunction() throws {
        let model = try #require(Zoo.model(named: "densenet121"))
        let graph = model.graph(height: 64, width: 64)
        let compiled = try CompiledModel(graph: graph, weights: try randomizedWeights(graph), inputShapes: [graph.inputs[0].name: [1, 3, 64, 64]])
        let function = { (node: String) in compiled.kernels.first { $0.nodes.contains(node) }?.name }
        for node in ["conv1", "norm1", "concat"] {
            let first = function("features.denseblock2.denselayer2.\(node)")
            #expect(first != nil)
            #expect(first == function("features.denseblock2.denselayer5.\(node)"), "\(node)")
        }
        // About one function per map size and fusion, not one per layer (the smallest maps' per-channel
        // ops keep their counts as constants: their rows are too short to pay for a division).
        #expect(compiled.functionCount * 3 < compiled.kernels.count, "\(compiled.functionCount) functions for \(compiled.kernels.count) kernels")
    }

    @Test func maxPoolThenBlurPoolIsOneKernel() throws {
        let graph = Graph(
            name: "maxblur", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [2, 5, 19, 24]))], outputs: ["y"],
            nodes: [Node(name: "max", op: .maxPool, inputs: ["x"], outputs: ["m"],
                         attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([1, 1])]),
                    Node(name: "blur", op: .blurPool, inputs: ["m"], outputs: ["y"],
                         attributes: ["filter_size": .int(4), "strides": .ints([2, 2])])])
        for model in try expectMatchesReference(graph, Weights(), inputs: ["x": randomTensor([2, 5, 19, 24], seed: 33)]) {
            #expect(model.kernels.count == 1)
            #expect(model.kernels.first?.kind.hasPrefix("maxblurpool") == true)
            #expect(model.kernels.first?.nodes == ["max", "blur"])
        }
    }

    @Test func convBatchNormResidualReluIsOneKernel() throws {
        let c = 6
        let parameters: [(String, Tensor)] = [
            ("w", randomTensor([c, c, 3, 3], seed: 40)), ("b", randomTensor([c], seed: 41)),
            ("gamma", randomTensor([c], seed: 42)), ("beta", randomTensor([c], seed: 43)),
            ("mean", randomTensor([c], seed: 44)), ("var", randomTensor([c], seed: 45, low: 0.2, high: 2)),
        ]
        let graph = Graph(
            name: "block", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [2, c, 9, 11]))], outputs: ["y"],
            parameters: parameters.map { Parameter(name: $0.0, type: TensorType(fixed: $0.1.shape)) },
            nodes: [Node(name: "conv", op: .conv, inputs: ["x", "w", "b"], outputs: ["c"], attributes: ["pads": .ints([1, 1, 1, 1])]),
                    Node(name: "bn", op: .batchNormalization, inputs: ["c", "gamma", "beta", "mean", "var"], outputs: ["n"]),
                    Node(name: "add", op: .add, inputs: ["n", "x"], outputs: ["s"]),
                    Node(name: "relu", op: .relu, inputs: ["s"], outputs: ["y"])])
        for model in try expectMatchesReference(graph, Weights(tensors: Dictionary(uniqueKeysWithValues: parameters)),
                                                inputs: ["x": randomTensor([2, c, 9, 11], seed: 46)]) {
            #expect(model.kernels.count == 1)
            #expect(model.kernels.first?.nodes == ["conv", "bn", "add", "relu"])
        }
    }

    @Test func aValueUsedTwiceIsNotFusedAway() throws {
        let graph = Graph(
            name: "two-uses", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [1, 3, 6, 6]))], outputs: ["y", "r"],
            nodes: [Node(name: "relu", op: .relu, inputs: ["x"], outputs: ["r"]),
                    Node(name: "sig", op: .sigmoid, inputs: ["r"], outputs: ["y"])])
        for model in try expectMatchesReference(graph, Weights(), inputs: ["x": randomTensor([1, 3, 6, 6], seed: 47)]) {
            #expect(model.kernels.count == 2)
        }
    }

    @Test func aConvWhoseWeightsAreAnInputIsRefusedWithAReason() throws {
        let graph = Graph(
            name: "runtime-weights", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [1, 2, 5, 5])),
                                              ValueInfo(name: "w", type: TensorType(fixed: [3, 2, 3, 3]))], outputs: ["y"],
            nodes: [Node(name: "conv", op: .conv, inputs: ["x", "w"], outputs: ["y"])])
        do {
            _ = try CompiledModel(graph: graph, weights: Weights(), inputShapes: ["x": [1, 2, 5, 5], "w": [3, 2, 3, 3]])
            Issue.record("compiled a conv with runtime weights")
        } catch {
            #expect(error.description.contains("'w' to be a parameter"))
        }
    }

    /// The seed ACNet scales a branch by an inline constant: weights without it (as the initializer
    /// makes them) still compile and compute what weights with it do.
    @Test func inlineConstantsComeFromTheGraph() throws {
        var graph = try #require(Zoo.model(named: "seed-acnet")).graph(height: 28, width: 28)
        graph.inputs[0].type.shape[0] = .fixed(1)
        let inline = try #require(graph.parameters.first { $0.inlineData != nil }).name
        let withoutInline = Weights(tensors: try WeightInitializer.initialize(graph))
        #expect(withoutInline.tensors[inline] == nil)
        var withInline = withoutInline
        withInline.addInlineData(of: graph)
        let input = [graph.inputs[0].name: randomTensor(try #require(graph.inputs[0].type.fixedShape), seed: 50)]
        for model in try expectMatchesReference(graph, withInline, inputs: input) {
            let expected = try #require(try model.run(input)[graph.outputs[0]])
            var options = CompileOptions()
            (options.threads, options.winograd, options.target) = (2, false, model.target)
            let compiled = try CompiledModel(graph: graph, weights: withoutInline, inputShapes: input.mapValues(\.shape), options: options)
            let actual = try #require(try compiled.run(input)[graph.outputs[0]])
            #expect(actual.difference(to: expected).relative == 0, "\(model.target)")
        }
    }

    /// Each model's helper threads end with it: compiling, running and dropping models leaves the
    /// process with the threads it had (Swift Testing's own come and go, hence the margin).
    @Test func helperThreadsEndWithTheirModel() throws {
        func threadCount() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0 }
        let (graph, weights) = oneNodeGraph(.relu, input: [1, 3, 64, 64])
        let input = ["x": randomTensor([1, 3, 64, 64], seed: 63)]
        var options = CompileOptions()
        options.threads = 4
        let before = threadCount()
        for _ in 0..<12 {
            let model = try CompiledModel(graph: graph, weights: weights, inputShapes: input.mapValues(\.shape), options: options)
            #expect(try model.run(input)["y"]?.values == input["x"]?.values.map { max($0, 0) })
        }
        var after = threadCount()
        for _ in 0..<100 where after > before + 6 {
            Thread.sleep(forTimeInterval: 0.01)
            after = threadCount()
        }
        #expect(after <= before + 6, "\(before) threads before, \(after) after 12 models of 3 helpers each")
    }

    @Test func oneThreadAndTwoThreadsAgree() throws {
        let model = try #require(Zoo.model(named: "resnet18"))
        let graph = model.graph(height: 40, width: 40)
        let weights = try randomizedWeights(graph)
        let input = ["input": randomTensor([1, 3, 40, 40], seed: 48)]
        for target in testedTargets {
            var options = CompileOptions()
            (options.threads, options.target) = (1, target)
            let single = try CompiledModel(graph: graph, weights: weights, inputShapes: input.mapValues(\.shape), options: options)
            options.threads = 2
            let double = try CompiledModel(graph: graph, weights: weights, inputShapes: input.mapValues(\.shape), options: options)
            let (a, b) = (try single.run(input), try double.run(input))
            #expect(a[graph.outputs[0]]?.values == b[graph.outputs[0]]?.values, "\(target)")
        }
    }
}

@Suite("JIT targets")
struct TargetTests {
    /// LLVM 14 cannot name newer CPUs, so the features must come from the host, or the code is SSE2.
    @Test func targetFeaturesIncludeWhatTheCPUReports() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        let host = Target.host
        for feature in ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl"] where flags.contains(feature) {
            let llvmName = feature == "sse4_2" ? "sse4.2" : feature
            #expect(host.has(llvmName), "the CPU reports \(feature) but the JIT's features lack +\(llvmName)")
        }
        #expect(host.lanes == (flags.contains("avx512f") ? 16 : flags.contains("avx2") ? 8 : host.lanes))
        #expect(host.supports(.avx512) == flags.contains("avx512f"))
    }

    /// Which halves of the JIT tests this machine ran, in one line of the test output.
    @Test func everyInstructionSetTheCPUHasIsTested() {
        let tested = testedTargets.map(\.description).joined(separator: " and ")
        print("JIT tests compile for \(tested) on this CPU (\(Target.host.cpu), \(Target.host.lanes)-lane host)")
        let supported = InstructionSet.allCases.filter(Target.host.supports).map { $0 == .avx512 ? 16 : 8 }
        #expect(testedTargets.map(\.lanes) == (supported.isEmpty ? [Target.host.lanes] : supported))
    }

    @Test(.enabled(if: Target.host.supports(.avx512), "the AVX-512 half of the JIT tests was skipped: this CPU lacks avx512f"))
    func theAVX512HalfRuns() {
        #expect(testedTargets.contains { $0.lanes == 16 && $0.vectorRegisters == 32 })
    }

    /// AVX2 code on an AVX-512 machine is what an AVX2 machine gets: no AVX-512 feature, 8 lanes, 16 registers.
    @Test(.enabled(if: Target.host.supports(.avx2))) func avx2TargetSwitchesOffAVX512() throws {
        let avx2 = try Target.named("avx2")
        #expect(avx2.lanes == 8 && avx2.vectorRegisters == 16)
        #expect(!avx2.features.split(separator: ",").contains { $0.hasPrefix("+avx512") })
        #expect(avx2.has("avx2") && avx2.has("fma"))
    }

    @Test func unknownOrUnsupportedTargetsAreRefusedWithAReason() {
        #expect(throws: JITError.self) { try Target.named("avx1024") }
        if !Target.host.supports(.avx512) {
            #expect(throws: JITError.self) { try Target.named("avx512") }
        }
    }

    @Test(arguments: testedTargets.map(\.instructionSet))
    func emittedAssemblyUsesTheTargetsRegisters(set: InstructionSet?) throws {
        let target = try set.map(Target.host(restrictedTo:)) ?? .host
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lowpass-asm-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (graph, weights) = oneNodeGraph(.blurPool, input: [1, 4, 64, 64], ["filter_size": .int(4), "strides": .ints([2, 2])])
        var options = CompileOptions()
        (options.emitAssembly, options.emitLLVM, options.target) = (directory, directory, target)
        _ = try CompiledModel(graph: graph, weights: weights, inputShapes: ["x": [1, 4, 64, 64]], options: options)
        let assembly = try String(contentsOfFile: directory + "/model.s", encoding: .utf8)
        let ir = try String(contentsOfFile: directory + "/model.ll", encoding: .utf8)
        #expect(assembly.contains(target.lanes == 16 ? "zmm" : "ymm"))
        if target.lanes == 8 { #expect(!assembly.contains("zmm")) }
        #expect(ir.contains("<\(target.lanes) x float>"))
    }

    /// Code that runs once per tile, not per reduction step (Winograd's output transform per filter,
    /// the filter-lane epilogue of a map's last pixels), stays a loop through LLVM's unrolling: unrolled,
    /// it was most of those functions' code and of the compile time (docs/performance.md, "Cold start").
    /// The loop's marker surviving optimization means the loop did.
    @Test func coldEpilogueLoopsStayLoops() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lowpass-ll-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A Winograd conv; a deep 3x3 conv on 7x7 (tiles of 16 pixels with either width: the 49th by filter lanes).
        let cases: [(shape: [Int], filters: Int, kernel: Int, winograd: Bool)] = [([1, 16, 28, 28], 24, 3, true), ([1, 460, 7, 7], 14, 3, false)]
        for c in cases {
            let parameters = [("w", randomTensor([c.filters, c.shape[1], c.kernel, c.kernel], seed: 70)), ("b", randomTensor([c.filters], seed: 71))]
            let pad = c.kernel / 2
            let (graph, weights) = oneNodeGraph(.conv, input: c.shape, ["pads": .ints([pad, pad, pad, pad])], parameters: parameters)
            for target in testedTargets {
                var options = CompileOptions()
                (options.emitLLVM, options.winograd, options.target) = (directory, c.winograd, target)
                let model = try CompiledModel(graph: graph, weights: weights, inputShapes: ["x": c.shape], options: options)
                let ir = try String(contentsOfFile: directory + "/model.ll", encoding: .utf8)
                // 8-lane Winograd keeps two filters a turn (`unroll.count`), which LLVM may turn into `unroll.disable`.
                #expect(ir.contains("llvm.loop.unroll.disable") || ir.contains("llvm.loop.unroll.count"), "\(target): \(model.kernels.map(\.kind))")
            }
        }
    }
}
