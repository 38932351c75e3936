import Foundation
import LowpassTensor
import Testing

/// `lowpass export MODEL -o model.py`: the module runs in PyTorch with the graph's weights and computes
/// what `lowpass run --engine reference` computes; it trains, and its trained weights come back.
/// Needs python3 with torch and numpy (`make test` installs them); Tests/Fixtures/pytorch/run_exported.py
/// loads and runs the module.
@Suite("PyTorch export")
struct PyTorchExportTests {
    static let runner = CLI.fixture("pytorch/run_exported.py")

    struct Report: Decodable {
        var keys: [String]
        var losses: [Double]?
        var without_grad: [String]?
        var onnx_error: Double?
    }

    /// Exports `graph` to a module in `folder`, runs it and the reference on `input`, and returns the
    /// PyTorch run's report; every output must agree with the reference to 1e-5 of its largest magnitude.
    @discardableResult
    func exportAndCompare(_ graph: String, className: String, input: Tensor, folder: String, extra: [String] = [],
                          againstReference: Bool = true) throws -> Report {
        let module = folder + "/model.py", weights = folder + "/model.safetensors"
        let export = try CLI.run(["export", graph, "-o", module, "--class-name", className])
        try #require(export.status == 0, "\(export.stderr)")
        try NPY.write(input, to: folder + "/x.npy")
        let reference = try CLI.run(["run", graph, "--engine", "reference", "--input", folder + "/x.npy", "--output-dir", folder + "/reference"])
        try #require(reference.status == 0, "\(reference.stderr)")
        try FileManager.default.createDirectory(atPath: folder + "/torch", withIntermediateDirectories: true)
        let hasWeights = FileManager.default.fileExists(atPath: weights)
        let run = try CLI.run(["python3", Self.runner, module, className, hasWeights ? weights : "-", folder + "/torch", folder + "/x.npy"] + extra,
                              program: URL(fileURLWithPath: "/usr/bin/env"))
        try #require(run.status == 0, "python3 failed (is torch installed? make test installs it): \(run.stderr)")
        let outputs = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: graph))) as? [String: Any]
        let names = try #require(outputs?["outputs"] as? [String])
        for (i, name) in names.enumerated() where againstReference {
            let expected = try NPY.read(contentsOf: "\(folder)/reference/\(name).npy")
            let actual = try NPY.read(contentsOf: "\(folder)/torch/output\(i).npy")
            #expect(actual.shape == expected.shape, "\(name)")
            #expect(Self.relativeError(actual, expected) <= 1e-5, "\(name): \(Self.relativeError(actual, expected))")
        }
        return try JSONDecoder().decode(Report.self, from: Data(run.stdout.split(separator: "\n").last.map { Array($0.utf8) } ?? []))
    }

    /// max |a - b| / max |b| over the finite entries; infinities and NaNs must be where the reference has them.
    static func relativeError(_ actual: Tensor, _ expected: Tensor) -> Double {
        guard actual.shape == expected.shape else { return .infinity }
        var worst = 0.0, scale = 0.0
        for (a, b) in zip(actual.values, expected.values) {
            if b.isNaN { if !a.isNaN { return .infinity }; continue }
            if b.isInfinite { if a != b { return .infinity }; continue }
            worst = max(worst, Double(abs(a - b)))
            scale = max(scale, Double(abs(b)))
        }
        return worst / max(scale, 1e-30)
    }

    /// Every op the exporter translates, in the forms it treats apart, on one graph of 105 outputs.
    @Test func everyOpAgreesWithTheReference() throws {
        let folder = CLI.temporaryDirectory()
        let report = try exportAndCompare(CLI.fixture("pytorch/ops.json"), className: "Ops", input: randomTensor([2, 4, 6, 6], seed: 700), folder: folder)
        // Layers keep their parameters' names; BatchNorm adds its counter, as every PyTorch BatchNorm does.
        #expect(report.keys.contains("c1.weight") && report.keys.contains("bn.running_var") && report.keys.contains("bn.num_batches_tracked"))
        #expect(report.keys.contains("w_asym") && report.keys.contains("bn_var"))
        #expect(!report.keys.contains { $0.contains("filter") }, "blur filters are not state")
        let source = try String(contentsOfFile: folder + "/model.py", encoding: .utf8)
        #expect(source.contains("self.c1 = nn.Conv2d(4, 6, (3, 3), stride=(2, 2), padding=(1, 1))"))
        #expect(source.contains("nn.BatchNorm2d(4, eps=1e-05, momentum=0.1)"))
        #expect(source.contains("# maxpool_8 (MaxPool)"), "each line names its node")
    }

    /// The reference pipelines of docs/antialias.md and plain zoo models: the state_dict keys are the
    /// graph's parameter names (torchvision's for its models) plus BatchNorm's counters, in order.
    @Test(arguments: [("resnet18", "antialias{max-pool-kernel=2}"), ("mobilenet_v2", "antialias"), ("densenet121", "antialias"),
                      ("resnetrs50", ""), ("seed-acnet", "")])
    func zooModelAgreesWithTheReference(name: String, pipeline: String) throws {
        let folder = CLI.temporaryDirectory()
        var graph = folder + "/\(name).json"
        let built = try CLI.run(["zoo", "build", name, "-o", graph])
        try #require(built.status == 0, "\(built.stderr)")
        if !pipeline.isEmpty {
            let rewritten = try CLI.run(["rewrite", graph, "--passes", pipeline, "-o", folder + "/\(name)-aa.json"])
            try #require(rewritten.status == 0, "\(rewritten.stderr)")
            graph = folder + "/\(name)-aa.json"
        }
        let (channels, size) = name.hasPrefix("seed") ? (1, 28) : name.hasPrefix("resnetrs") ? (3, 160) : (3, 224)
        // The module also goes through torch.onnx.export into ONNX Runtime unchanged.
        let report = try exportAndCompare(graph, className: "Model", input: randomTensor([1, channels, size, size], seed: 701), folder: folder,
                                          extra: ["--onnx"])
        let onnxError = report.onnx_error ?? .infinity
        #expect(onnxError < 1e-5, "torch.onnx.export of the module: \(onnxError)")
        let parameters = try Self.parameterNames(graph)
        let counters = report.keys.filter { $0.hasSuffix(".num_batches_tracked") }
        #expect(report.keys.filter { !$0.hasSuffix(".num_batches_tracked") } == parameters.filter { Set(report.keys).contains($0) })
        #expect(Set(report.keys) == Set(parameters).union(counters), "every parameter is state, and nothing else but the counters")
        let batchNorms = try Self.batchNormCount(graph)
        #expect(counters.count == batchNorms)
    }

    /// 20 SGD steps of the exported antialiased (and APS) ResNet-18 on random data: the loss falls, every
    /// parameter gets a gradient (through the polyphase selections too), BatchNorm's statistics move,
    /// and the trained weights give in `lowpass run` what PyTorch gives.
    @Test(arguments: [("antialias{max-pool-kernel=2}", "ResNet18AA"), ("aps", "ResNet18APS")])
    func exportedResNet18Trains(pipeline: String, className: String) throws {
        let folder = CLI.temporaryDirectory()
        let graph = folder + "/resnet18.json", rewritten = folder + "/resnet18-rewritten.json"
        #expect(try CLI.run(["zoo", "build", "resnet18", "-o", graph]).status == 0)
        #expect(try CLI.run(["rewrite", graph, "--passes", pipeline, "-o", rewritten]).status == 0)
        let report = try exportAndCompare(rewritten, className: className, input: randomTensor([2, 3, 224, 224], seed: 702), folder: folder,
                                          extra: ["--train", "20"], againstReference: false)
        let losses = try #require(report.losses)
        #expect(losses.count == 20)
        let (first, last) = (losses.prefix(3).reduce(0, +), losses.suffix(3).reduce(0, +))
        #expect(last < first * 0.8, "\(losses)")
        #expect(report.without_grad == [], "parameters without a gradient: \(report.without_grad ?? [])")
        let before = try SafeTensorsFile.read(contentsOf: folder + "/model.safetensors")
        let after = try SafeTensorsFile.read(contentsOf: folder + "/torch/trained.safetensors")
        #expect(after.tensors["bn1.running_mean"]?.values != before.tensors["bn1.running_mean"]?.values, "train mode updates BatchNorm's statistics")
        // The trained weights, back in Lowpass: the JIT's output is PyTorch's (eval mode, same input).
        let run = try CLI.run(["run", rewritten, "--weights", folder + "/torch/trained.safetensors", "--input", folder + "/x.npy",
                               "--output-dir", folder + "/trained"])
        try #require(run.status == 0, "\(run.stderr)")
        let output = try #require(try Self.parameterNames(rewritten, key: "outputs").first)
        let lowpass = try NPY.read(contentsOf: "\(folder)/trained/\(output).npy")
        let torch = try NPY.read(contentsOf: folder + "/torch/output0.npy")
        #expect(Self.relativeError(lowpass, torch) <= 1e-4)
    }

    @Test func opsWithoutAPyTorchFormAreNamedAndNothingIsWritten() throws {
        let folder = CLI.temporaryDirectory()
        let graph = folder + "/resize.json"
        try CLI.write("""
            {"format": "lowpass-graph", "version": 1, "name": "r", "inputs": [{"name": "x", "dtype": "f32", "shape": [1, 2, 4, 4]}],
             "outputs": ["y"], "parameters": [],
             "nodes": [{"name": "up", "op": "Resize", "inputs": ["x"], "outputs": ["y"],
                        "attributes": {"sizes": [0, 0, 8, 8], "mode": "nearest", "coordinate_transformation_mode": "align_corners"}}]}
            """, to: graph)
        let result = try CLI.run(["export", graph, "-o", folder + "/r.py"])
        #expect(result.status == 1 && result.exitedNormally)
        #expect(result.stderr.contains("node 'up'") && result.stderr.contains("[unsupported-export]"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/r.py"))
        let badName = try CLI.run(["export", graph, "-o", folder + "/r2.py", "--class-name", "2fast"])
        #expect(badName.status != 0 && badName.stderr.contains("--class-name"))
    }

    func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
        var random = SplitMix64(seed: seed)
        return Tensor(shape: shape) { _ in Float(random.nextGaussian()) }
    }

    static func parameterNames(_ graph: String, key: String = "parameters") throws -> [String] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: graph))) as? [String: Any]
        if key == "outputs" { return object?["outputs"] as? [String] ?? [] }
        return (object?["parameters"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
    }

    static func batchNormCount(_ graph: String) throws -> Int {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: graph))) as? [String: Any]
        return (object?["nodes"] as? [[String: Any]] ?? []).filter { $0["op"] as? String == "BatchNormalization" }.count
    }
}
