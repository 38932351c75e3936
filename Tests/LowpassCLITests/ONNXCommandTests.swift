import Foundation
import Testing
import LowpassIR
import LowpassTensor

/// `lowpass export` writes models that ONNX's own checker accepts and ONNX Runtime runs to Lowpass's
/// outputs; `lowpass import` reads them back. Needs python3 with onnx and onnxruntime (`make test`
/// installs them).
@Suite("lowpass import and export")
struct ONNXCommandTests {
    /// Runs a Python snippet; returns its standard output, or records why it failed.
    func python(_ script: String, _ arguments: [String]) throws -> String? {
        let result = try CLI.run(["python3", "-c", script] + arguments, program: URL(fileURLWithPath: "/usr/bin/env"))
        guard result.status == 0 else {
            Issue.record("python3 failed (is onnxruntime installed? make test installs it): \(result.stderr)")
            return nil
        }
        return result.stdout
    }

    @Test func anAntialiasedGraphRunsTheSameInONNXRuntime() throws {
        let folder = CLI.temporaryDirectory()
        // The seed AntialiasNet has two BlurPools and an AdaptiveAveragePool (4x4 -> 7x7, no exact ONNX form);
        // antialias the ACNet seed instead: its max pools become MaxPool + BlurPool.
        var result = try CLI.run(["rewrite", "Graphs/seed-mnist-net.json", "-o", folder + "/aa.json", "--passes", "antialias,remove-identity"])
        #expect(result.status == 0, "\(result.stderr)")
        result = try CLI.run(["export", folder + "/aa.json", "-o", folder + "/aa.onnx"])
        #expect(result.status == 0, "\(result.stderr)")
        try NPY.write(SeededRecipe.tensor(named: "input", shape: [3, 1, 28, 28]), to: folder + "/x.npy")
        result = try CLI.run(["run", folder + "/aa.json", "--input", folder + "/x.npy", "--output-dir", folder + "/out"])
        #expect(result.status == 0, "\(result.stderr)")
        let script = """
            import sys, numpy as np, onnx, onnxruntime as ort
            model = onnx.load(sys.argv[1])
            onnx.checker.check_model(model, full_check=True)
            ops = sorted({n.op_type for n in model.graph.node})
            session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
            y = session.run(None, {"input": np.load(sys.argv[2])})[0]
            expected = np.load(sys.argv[3])
            print(" ".join(ops))
            print(float(np.abs(y - expected).max() / np.abs(expected).max()))
            """
        guard let output = try python(script, [folder + "/aa.onnx", folder + "/x.npy", folder + "/out/classifier.9.npy"]) else { return }
        let lines = output.split(separator: "\n")
        #expect(lines.first?.contains("Pad") == true && lines.first?.contains("Conv") == true, "BlurPool as Pad + Conv: \(output)")
        #expect(!(lines.first?.contains("BlurPool") ?? true))
        let relative = Double(lines.last ?? "") ?? .infinity
        #expect(relative < 1e-5, "ONNX Runtime vs Lowpass: \(relative)")

        result = try CLI.run(["import", folder + "/aa.onnx", "-o", folder + "/back.json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("raised 2 blur(s)"))
    }

    @Test func importReportsUnsupportedOpsAllAtOnce() throws {
        let folder = CLI.temporaryDirectory()
        let script = """
            import sys, onnx
            from onnx import helper, TensorProto
            x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
            y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
            nodes = [helper.make_node("Relu", ["x"], ["a"], name="ok"), helper.make_node("LeakyRelu", ["a"], ["b"], name="leaky"),
                     helper.make_node("Erf", ["b"], ["y"], name="erf")]
            onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1])
            """
        guard try python(script, [folder + "/m.onnx"]) != nil else { return }
        let result = try CLI.run(["import", folder + "/m.onnx", "-o", folder + "/m.json"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("2 node(s) use ops Lowpass does not import: leaky (LeakyRelu), erf (Erf) [unsupported-op]"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/m.json"))
    }
}
