import Foundation
import LowpassTensor
import Testing

/// `lowpass consistency` against an independent PyTorch implementation of its protocols
/// (Tests/Fixtures/consistency/check_protocols.py) running the module `lowpass export` writes for the
/// same model: the same offsets, and the same agreement for every image and pass.
@Suite("Shift consistency")
struct ConsistencyCommandTests {
    @Test func everyProtocolAgreesImageByImageWithAnIndependentImplementation() throws {
        let folder = CLI.temporaryDirectory()
        let model = CLI.repository + "/Graphs/seed-mnist-net.json"
        var random = SplitMix64(seed: 800)
        // 20 images of 36 x 36 (crops of 28, shifts in [0, 8)), and labels 0-9.
        try NPY.write(Tensor(shape: [20, 1, 36, 36]) { _ in Float(random.nextUniform()) }, to: folder + "/images.npy")
        try NPY.write(Tensor(shape: [20]) { _ in Float(random.next() % 10) }, to: folder + "/labels.npy")
        let measured = try CLI.run(["consistency", model, "--images", folder + "/images.npy", "--labels", folder + "/labels.npy",
                                    "--shift-range", "8", "--epochs", "3", "--batch", "6", "--seed", "11", "--no-normalize",
                                    "--json", folder + "/report.json", "--plot", folder + "/diagonal.svg"])
        try #require(measured.status == 0, "\(measured.stderr)")
        #expect(measured.stdout.contains("seed-mnist-net.json") && measured.stdout.contains("±"))
        let svg = try String(contentsOfFile: folder + "/diagonal.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("<polyline"))
        let export = try CLI.run(["export", model, "-o", folder + "/model.py", "--class-name", "Model"])
        try #require(export.status == 0, "\(export.stderr)")
        let check = try CLI.run(["python3", CLI.fixture("consistency/check_protocols.py"), folder + "/model.py", "Model", folder + "/model.safetensors",
                                 folder + "/images.npy", folder + "/labels.npy", folder + "/report.json"], program: URL(fileURLWithPath: "/usr/bin/env"))
        try #require(check.status == 0, "python3 failed (is torch installed? make test installs it): \(check.stderr)")
        let mismatches = try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Int]
        #expect(mismatches == ["shift_offsets": 0, "shift": 0, "circular_offsets": 0, "circular": 0, "diagonal": 0, "accuracy": 0], "\(check.stdout)")
    }

    /// A dense model (a class per pixel, at stride 2, or with its pool at stride 1, at stride 1): the per-pixel agreement
    /// over the crops' overlap and of the rolled maps, image by image, equals the independent
    /// implementation's; the offsets are multiples of the output's stride.
    @Test(arguments: [true, false])
    func denseOutputsAgreePixelByPixelWithAnIndependentImplementation(pooled: Bool) throws {
        let folder = CLI.temporaryDirectory()
        let graph = """
            {"format": "lowpass-graph", "version": 1, "name": "segmenter",
             "inputs": [{"name": "x", "dtype": "f32", "shape": ["N", 1, 24, 24]}], "outputs": ["logits"],
             "parameters": [{"name": "c1.weight", "dtype": "f32", "shape": [6, 1, 3, 3]}, {"name": "c1.bias", "dtype": "f32", "shape": [6]},
                            {"name": "c2.weight", "dtype": "f32", "shape": [3, 6, 3, 3]}, {"name": "c2.bias", "dtype": "f32", "shape": [3]}],
             "nodes": [{"name": "c1", "op": "Conv", "inputs": ["x", "c1.weight", "c1.bias"], "outputs": ["a"], "attributes": {"pads": [1, 1, 1, 1]}},
                       {"name": "r1", "op": "Relu", "inputs": ["a"], "outputs": ["b"]},
                       {"name": "p1", "op": "MaxPool", "inputs": ["b"], "outputs": ["c"], "attributes": {"kernel_shape": [2, 2], "strides": [\(pooled ? "2, 2" : "1, 1")], "pads": [0, 0, \(pooled ? "0, 0" : "1, 1")]}},
                       {"name": "c2", "op": "Conv", "inputs": ["c", "c2.weight", "c2.bias"], "outputs": ["logits"], "attributes": {"pads": [1, 1, 1, 1]}}]}
            """
        let model = folder + "/segmenter.json"
        try CLI.write(graph, to: model)
        var random = SplitMix64(seed: 810)
        try NPY.write(Tensor(shape: [10, 1, 31, 31]) { _ in Float(random.nextUniform()) }, to: folder + "/images.npy")
        let measured = try CLI.run(["consistency", model, "--images", folder + "/images.npy", "--shift-range", "7", "--epochs", "2", "--batch", "4",
                                    "--seed", "12", "--no-normalize", "--protocols", "shift,circular,diagonal", "--json", folder + "/report.json"])
        try #require(measured.status == 0, "\(measured.stderr)")
        #expect(measured.stderr.contains("diagonal protocol") && measured.stdout.contains("segmenter.json"))
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/report.json"))) as? [String: Any]
        let first = try #require((report?["models"] as? [[String: Any]])?.first)
        #expect(first["output"] as? String == "pixels")
        let offsets = try #require((first["shift"] as? [String: Any])?["offsets"] as? [[[[Int]]]])
        #expect(offsets.joined().joined().joined().allSatisfy { !pooled || $0 % 2 == 0 }, "offsets are multiples of the stride")
        let rates = [first["shift"], first["circular"]].compactMap { ($0 as? [String: Any])?["rate"] as? Double }
        #expect(rates.count == 2 && rates.allSatisfy { $0 > 0 && $0 < 1 }, "\(rates)")
        let export = try CLI.run(["export", model, "-o", folder + "/model.py", "--class-name", "Model"])
        try #require(export.status == 0, "\(export.stderr)")
        let check = try CLI.run(["python3", CLI.fixture("consistency/check_protocols.py"), folder + "/model.py", "Model", folder + "/model.safetensors",
                                 folder + "/images.npy", "-", folder + "/report.json"], program: URL(fileURLWithPath: "/usr/bin/env"))
        try #require(check.status == 0, "python3 failed (is torch installed? make test installs it): \(check.stderr)")
        let mismatches = try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Int]
        #expect(mismatches == ["shift_offsets": 0, "shift": 0, "circular_offsets": 0, "circular": 0], "\(check.stdout)")
    }

    /// The demo's point: the antialiased, fine-tuned classifier keeps its answer under shifts more often
    /// than its baseline, beyond both 95% intervals, and is as accurate.
    @Test func theDemosAntialiasedModelIsMoreConsistentThanItsBaseline() throws {
        let folder = CLI.temporaryDirectory()
        let demo = CLI.repository + "/Graphs/examples/demo/"
        let result = try CLI.run(["consistency", demo + "digits.json", demo + "digits-aa.json", "--images", demo + "test-images.npy",
                                  "--labels", demo + "test-labels.npy", "--shift-range", "8", "--no-normalize", "--epochs", "2",
                                  "--protocols", "shift", "--json", folder + "/report.json"])
        try #require(result.status == 0, "\(result.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/report.json"))) as? [String: Any]
        let models = try #require(report?["models"] as? [[String: Any]])
        let shift = models.compactMap { $0["shift"] as? [String: Any] }
        let (rates, intervals) = (shift.compactMap { $0["rate"] as? Double }, shift.compactMap { $0["interval95"] as? Double })
        let accuracy = models.compactMap { $0["accuracy"] as? Double }
        try #require(rates.count == 2 && intervals.count == 2 && accuracy.count == 2)
        #expect(rates[1] - intervals[1] > rates[0] + intervals[0], "baseline \(rates[0]), antialiased \(rates[1])")
        #expect(accuracy.allSatisfy { $0 > 0.95 }, "\(accuracy)")
    }

    @Test func badImagesLabelsAndOptionsAreErrors() throws {
        let folder = CLI.temporaryDirectory()
        let model = CLI.repository + "/Graphs/seed-mnist-net.json"
        try NPY.write(Tensor(zeros: [2, 1, 30]), to: folder + "/flat.npy")
        let flat = try CLI.run(["consistency", model, "--images", folder + "/flat.npy"])
        #expect(flat.status == 1 && flat.stderr.contains("[N, C, H, W]") && flat.exitedNormally)
        try NPY.write(Tensor(zeros: [2, 3, 40, 40]), to: folder + "/rgb.npy")
        let rgb = try CLI.run(["consistency", model, "--images", folder + "/rgb.npy"])
        #expect(rgb.status == 1 && rgb.stderr.contains("channels"))
        try NPY.write(Tensor(zeros: [2, 1, 40, 40]), to: folder + "/gray.npy")
        try CLI.write("1\nseven\n", to: folder + "/labels.txt")
        let labels = try CLI.run(["consistency", model, "--images", folder + "/gray.npy", "--labels", folder + "/labels.txt"])
        #expect(labels.status == 1 && labels.stderr.contains("line 2"))
        let unknown = try CLI.run(["consistency", model, "--images", folder + "/gray.npy", "--protocols", "shift,rotation"])
        #expect(unknown.status != 0 && unknown.stderr.contains("rotation"))
        try CLI.write("1\n12\n", to: folder + "/beyond.txt")
        let beyond = try CLI.run(["consistency", model, "--images", folder + "/gray.npy", "--labels", folder + "/beyond.txt", "--protocols", "diagonal"])
        #expect(beyond.status == 1 && beyond.exitedNormally && beyond.stderr.contains("label 12"), "\(beyond.stderr)")
        try NPY.write(Tensor(zeros: [2, 1, 0, 40]), to: folder + "/empty.npy")
        let empty = try CLI.run(["consistency", model, "--images", folder + "/empty.npy"])
        #expect(empty.status == 1 && empty.exitedNormally)
        let huge = try CLI.run(["consistency", model, "--images", folder + "/gray.npy", "--size", "1000000000"])
        #expect(huge.status != 0 && huge.exitedNormally && huge.stderr.contains("--size"))
    }
}
