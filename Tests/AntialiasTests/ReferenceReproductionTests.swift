import Antialias
import Foundation
import Testing
import LowpassIR
import LowpassPasses
import LowpassTensor
import LowpassZoo

enum AntialiasFixtures {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let directory = repository + "/Tests/Fixtures/zoo/antialiased"
    static let registry = PassRegistry(plugins: [AntialiasPlugin.self])

    static func antialias(_ graph: Graph, _ pipeline: String = "antialias") throws -> (graph: Graph, report: PipelineReport) {
        let passes = try registry.configure(try Pipeline(parsing: pipeline))
        let run = try PassManager(log: { _ in }).run(passes, on: graph)
        return (run.graph, run.report)
    }

    /// The pipeline that reproduces antialiased_cnns 0.3 (filter_size=4, default arguments) for a torchvision model.
    static func referencePipeline(_ model: String) -> String {
        if model.hasPrefix("resnet") || model.hasPrefix("resnext") || model.hasPrefix("wide_resnet") { return "antialias{max-pool-kernel=2}" }
        if model == "alexnet" { return "antialias{stem=include,large-stride=split}" }
        return "antialias"
    }

    /// The layers of a graph in the form of the golden files (`Tests/Fixtures/zoo/generate.py`): one line per
    /// Conv2d, BatchNorm2d, pool, BlurPool and Linear, in order, without names.
    static func structure(of graph: Graph) throws -> [String] {
        let types = try graph.verify().types
        func shape(_ value: String) -> [Int] { types[value]?.shape.map { $0.value ?? 0 } ?? [] }
        func pair(_ v: [Int]) -> String { "\(v[0])x\(v[1])" }
        var lines: [String] = []
        for node in graph.nodes {
            switch node.op {
            case .conv:
                let w = shape(node.inputs[1])
                let g = try node.convGeometry(weightShape: w.map(Dim.fixed))
                lines.append("Conv2d in=\(w[1] * (try node.int("group"))) out=\(w[0]) kernel=\(pair(g.kernel)) stride=\(pair(g.strides)) "
                             + "padding=\(pair(g.pads)) dilation=\(pair(g.dilations)) groups=\(try node.int("group")) bias=\(node.inputs.count > 2 ? "yes" : "no")")
            case .batchNormalization:
                lines.append("BatchNorm2d num_features=\(shape(node.inputs[1])[0]) eps=\(try node.float("epsilon") == 1e-5 ? "1e-05" : String(try node.float("epsilon")))")
            case .maxPool:
                let g = try node.poolGeometry()
                lines.append("MaxPool2d kernel=\(g.kernel[0]) stride=\(g.strides[0]) padding=\(g.pads[0]) dilation=\(g.dilations[0]) ceil_mode=\(g.ceilMode ? "True" : "False")")
            case .blurPool:
                let spec = try node.blurPoolSpec()
                let p = spec.pads
                lines.append("BlurPool channels=\(shape(node.inputs[0])[1]) filt_size=\(spec.filterSize) stride=\(spec.strides[0]) pad_off=\(try node.int("pad_off")) "
                             + "pad=\(spec.padMode.rawValue) pad_sizes=\(p[1])x\(p[3])x\(p[0])x\(p[2])")
            case .gemm:
                let w = shape(node.inputs[1])
                lines.append("Linear in=\(w[1]) out=\(w[0]) bias=\(node.inputs.count > 2 ? "yes" : "no")")
            default:
                continue
            }
        }
        return lines
    }

    static func golden(_ model: String) throws -> [String] {
        let text = try String(contentsOfFile: directory + "/\(model).txt", encoding: .utf8)
        let kept = ["Conv2d", "BatchNorm2d", "MaxPool2d", "AvgPool2d", "BlurPool", "Linear"]
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, kept.contains(where: { parts[1].hasPrefix($0 + " ") }) else { return nil }
            return String(parts[1])
        }
    }
}

/// Rewriting a torchvision baseline gives antialiased_cnns' model: the same layers in the same places
/// with the same attributes (structure goldens), and the same outputs with the baseline's weights.
@Suite("Antialias reproduces antialiased_cnns")
struct ReferenceReproductionTests {
    static let models = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2",
                         "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "alexnet",
                         "densenet121", "densenet161", "densenet169", "densenet201", "mobilenet_v2"]

    @Test(arguments: models)
    func sameArchitecture(model: String) throws {
        let baseline = try #require(Zoo.model(named: model)).graph()
        let (rewritten, _) = try AntialiasFixtures.antialias(baseline, AntialiasFixtures.referencePipeline(model))
        let actual = try AntialiasFixtures.structure(of: rewritten)
        let expected = try AntialiasFixtures.golden(model)
        #expect(actual.count == expected.count, "\(model): \(actual.count) layers, reference has \(expected.count)")
        for (i, (a, e)) in zip(actual, expected).enumerated() where a != e {
            Issue.record("\(model) layer \(i): got '\(a)', reference '\(e)'")
            break
        }
        #expect(rewritten.parameters == baseline.parameters, "parameters are never changed")
    }

    @Test(arguments: ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "densenet121", "mobilenet_v2", "alexnet", "vgg11_bn"])
    func sameOutputsWithTheBaselineWeights(model: String) throws {
        let sizes = try JSONValue.parse(try #require(FileManager.default.contents(atPath: AntialiasFixtures.directory + "/inputs.json")))
        guard case .array(let size)? = sizes[model], case .int(let h) = size[1], case .int(let w) = size[2] else {
            Issue.record("no input size for \(model)")
            return
        }
        let zoo = try #require(Zoo.model(named: model))
        let baseline = zoo.graph(height: h, width: w)
        let (rewritten, _) = try AntialiasFixtures.antialias(baseline, AntialiasFixtures.referencePipeline(model))
        let input = SeededRecipe.tensor(named: "input", shape: [1, 3, h, w])
        let outputs = try ReferenceInterpreter().run(rewritten, weights: SeededRecipe.weights(for: baseline), inputs: ["input": input])
        let actual = try #require(outputs[rewritten.outputs[0]])
        let expected = try NPY.read(contentsOf: AntialiasFixtures.directory + "/\(model).expected.npy")
        let difference = actual.difference(to: expected)
        #expect(difference.relative < 1e-4, "\(model): max abs \(difference.absolute), relative \(difference.relative)")
    }
}
