import Foundation
import LowpassTensor
import Testing

/// `lowpass rewrite --passes aps` as a user runs it: against an independent PyTorch implementation of
/// APS written from the paper (Tests/Fixtures/aps/aps_models.py, driven by check_aps.py), through the
/// JIT, the PyTorch export and the ONNX export; and `consistency --protocols circular` reading 100%.
/// Needs python3 with torch, torchvision and onnxruntime (`make test` installs them).
@Suite("Adaptive polyphase sampling, end to end")
struct ApsCommandTests {
    struct Check: Decodable {
        var jit: Double
        var pytorch: Double
        var pytorch32: Double
        var onnx: Double?
        var shift: Double
        var plain_shift: Double
        var indices: Int
    }

    /// Gives the graph file's (first) input a height and width of `size`.
    func resize(_ graph: String, to size: Int) throws {
        var description = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: graph))) as? [String: Any])
        var inputs = try #require(description["inputs"] as? [[String: Any]])
        var shape = try #require(inputs[0]["shape"] as? [Any])
        shape[2] = size
        shape[3] = size
        inputs[0]["shape"] = shape
        description["inputs"] = inputs
        try JSONSerialization.data(withJSONObject: description).write(to: URL(fileURLWithPath: graph))
    }

    /// Every engine computes what the paper's APS computes on the same weights (the JIT and ONNX Runtime
    /// against it in float64, the exported module against it in float32, op for op), and the output
    /// does not move under circular shifts, while the original network's does.
    @Test(arguments: [("resnet18", 1), ("resnet18", 3), ("resnet50", 1), ("mobilenet_v2", 1), ("densenet121", 1), ("densenet121", 3)])
    func equalsAnIndependentImplementation(name: String, filter: Int) throws {
        let folder = CLI.temporaryDirectory()
        let run = try CLI.run(["python3", CLI.fixture("aps/check_aps.py"), "--lowpass", CLI.executable.path, "--folder", folder,
                               "--model", name, "--filter", "\(filter)"], program: URL(fileURLWithPath: "/usr/bin/env"))
        try #require(run.status == 0, "check_aps.py failed (are torch, torchvision installed? make test installs them): \(run.stderr)")
        let check = try JSONDecoder().decode(Check.self, from: Data(run.stdout.split(separator: "\n").last.map { Array($0.utf8) } ?? []))
        #expect(check.jit <= 1e-5 && check.pytorch <= 1e-5, "\(name): \(check)")
        #expect((check.onnx ?? 0) <= 1e-5, "\(name) in ONNX Runtime: \(check)")
        #expect(check.onnx != nil, "onnxruntime is missing: the ONNX export was not checked")
        #expect(check.shift <= 1e-5 && check.plain_shift > 1e-2, "\(name): \(check)")
        #expect(check.indices == 5)
    }

    /// The circular-shift protocol of `consistency` reads 100.00% for a network rewritten by aps (random
    /// weights, random images), and less for the same network as it was. (Antialiased, this random
    /// network gives every noise image one class, so it is no comparison; the JIT tests measure its outputs.)
    @Test func circularConsistencyOfAnApsNetworkIsComplete() throws {
        let folder = CLI.temporaryDirectory()
        let graph = folder + "/resnet18.json"
        try #require(try CLI.run(["zoo", "build", "resnet18", "-o", graph]).status == 0)
        try resize(graph, to: 64)
        var random = SplitMix64(seed: 900)
        try NPY.write(Tensor(shape: [48, 3, 72, 72]) { _ in Float(random.nextUniform()) }, to: folder + "/images.npy")
        var models = [graph]
        for (pipeline, file) in [("aps", "aps")] {
            let rewrite = try CLI.run(["rewrite", graph, "--passes", pipeline, "-o", folder + "/\(file).json"])
            try #require(rewrite.status == 0, "\(rewrite.stderr)")
            models.append(folder + "/\(file).json")
        }
        let result = try CLI.run(["consistency"] + models + ["--images", folder + "/images.npy", "--shift-range", "8", "--epochs", "2",
                                                              "--protocols", "circular", "--json", folder + "/report.json", "--quiet"])
        try #require(result.status == 0, "\(result.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/report.json"))) as? [String: Any]
        let rates = try #require(report?["models"] as? [[String: Any]]).compactMap { ($0["circular"] as? [String: Any])?["rate"] as? Double }
        try #require(rates.count == 2, "\(result.stdout)")
        #expect(rates[1] == 1, "aps: \(rates[1])")
        #expect(rates[0] < 1, "the original is not invariant: \(rates[0])")
        #expect(result.stdout.contains("100.00%"))
    }

    /// A map that polyphase sampling cannot bring to the layer's size is an error naming the node, and
    /// exclude= leaves it; the report names every rule it applied.
    @Test func unevenMapsAreErrorsNamingTheNode() throws {
        let folder = CLI.temporaryDirectory()
        let graph = folder + "/densenet121.json"
        try #require(try CLI.run(["zoo", "build", "densenet121", "-o", graph]).status == 0)
        try resize(graph, to: 56)
        // 56 -> 28 -> 14 -> 7, then AveragePool(2, 2) makes 3 of 7, where polyphase sampling makes 4.
        let uneven = try CLI.run(["rewrite", graph, "--passes", "aps", "-o", folder + "/aps.json"])
        #expect(uneven.status == 1 && uneven.exitedNormally && uneven.stderr.contains("features.transition2.pool") && uneven.stderr.contains("7x7"), "\(uneven.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/aps.json"))
        let excluded = try CLI.run(["rewrite", graph, "--passes", "aps{exclude=features.transition2.pool|features.transition3.pool}", "-o", folder + "/aps.json"])
        #expect(excluded.status == 0, "\(excluded.stderr)")
        let report = try CLI.run(["rewrite", CLI.repository + "/Graphs/examples/demo/digits.json", "--passes", "aps", "-o", folder + "/digits.json"])
        try #require(report.status == 0, "\(report.stderr)")
        #expect(report.stderr.contains("MaxPool -> MaxPool(stride 1) + PolyphaseIndex + PolyphaseSelect") && report.stderr.contains("Pad(wrap)"), "\(report.stderr)")
    }
}
