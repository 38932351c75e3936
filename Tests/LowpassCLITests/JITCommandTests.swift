import Foundation
import Synchronization
import LowpassIR
import LowpassTensor
import Testing

@Suite("lowpass run and bench with the JIT")
struct JITCommandTests {
    let graph = CLI.fixture("maxblurpool/graph.json")
    var input: String { "x=" + CLI.fixture("maxblurpool/input.npy") }

    @Test func runPrintsTheFusedKernelAndMatchesPyTorch() throws {
        let out = CLI.temporaryDirectory()
        let result = try CLI.run(["run", graph, "--input", input, "--output-dir", out, "--print-kernels"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("1 kernels"))
        #expect(result.stdout.contains("maxblurpool M=4"))
        #expect(try CLI.relativeError(of: out + "/y.npy", toFixture: "maxblurpool/expected.npy") < 1e-5)
    }

    @Test func runWritesTheModuleAndItsAssembly() throws {
        let out = CLI.temporaryDirectory(), ir = CLI.temporaryDirectory()
        let result = try CLI.run(["run", graph, "--input", input, "--output-dir", out, "--emit-llvm", ir, "--emit-asm", ir])
        #expect(result.status == 0, "\(result.stderr)")
        let module = try String(contentsOfFile: ir + "/model.ll", encoding: .utf8)
        let assembly = try String(contentsOfFile: ir + "/model.s", encoding: .utf8)
        #expect(module.contains("; k0_maxblurpool") && module.contains("(maxblurpool M=4"))
        #expect(module.contains("define void @lowpass_"))
        #expect(assembly.contains("# k0_maxblurpool") && assembly.contains(" is @lowpass_"))
    }

    /// Three `lowpass run`s at once on one empty cache: all succeed with the same output, the cache ends
    /// up whole, and a later run takes every kernel from it. `cache info` and `cache clear` report it.
    @Test func concurrentRunsShareOneCache() throws {
        let home = CLI.temporaryDirectory(), environment = ["XDG_CACHE_HOME": home]
        let model = CLI.fixture("small-convnet/graph.json"), x = "x=" + CLI.fixture("small-convnet/input.npy")
        let outs = (0..<3).map { _ in CLI.temporaryDirectory() }
        let results = Mutex([Int32](repeating: -1, count: 3))
        DispatchQueue.concurrentPerform(iterations: 3) { i in
            let status = (try? CLI.run(["run", model, "--input", x, "--output-dir", outs[i]], environment: environment))?.status ?? -1
            results.withLock { $0[i] = status }
        }
        #expect(results.withLock { $0 } == [0, 0, 0])
        let first = try NPY.read(contentsOf: outs[0] + "/y.npy")
        for out in outs.dropFirst() { #expect(try NPY.read(contentsOf: out + "/y.npy").values == first.values) }
        let again = try CLI.run(["run", model, "--input", x, "--output-dir", outs[0], "--print-kernels"], environment: environment)
        let functions = try #require(again.stdout.firstMatch(of: /\((\d+) functions, (\d+) from the compile cache\)/), "\(again.stdout)")
        #expect(functions.1 == functions.2)
        let info = try CLI.run(["cache", "info"], environment: environment)
        #expect(info.status == 0 && info.stdout.contains(home + "/lowpass") && !info.stdout.contains("entries   0 "), "\(info.stdout)")
        let clear = try CLI.run(["cache", "clear"], environment: environment)
        #expect(clear.status == 0 && clear.stdout.contains("removed"))
        #expect(try CLI.run(["cache", "info"], environment: environment).stdout.contains("entries   0 compiled kernels"))
        // --no-cache reads and writes nothing.
        #expect(try CLI.run(["run", model, "--input", x, "--output-dir", outs[0], "--no-cache"], environment: environment).status == 0)
        #expect(try CLI.run(["cache", "info"], environment: environment).stdout.contains("entries   0 compiled kernels"))
    }

    @Test func kernelOptionsNeedTheJIT() throws {
        let result = try CLI.run(["run", graph, "--input", input, "--output-dir", CLI.temporaryDirectory(), "--engine", "reference", "--print-kernels"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("need --engine jit"))
    }

    @Test func benchReportsTimesRatesAndAProfile() throws {
        let result = try CLI.run(["bench", graph, "--batch", "3", "--runs", "3", "--profile", "--json", "--threads", "1"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try JSONValue.parse(result.stdout)
        #expect(report["batch"] == .int(3))
        #expect(report["threads"] == .int(1))
        #expect(report["runs"] == .int(3))
        guard case .double(let median)? = report["median_ms"] else { Issue.record("no median_ms in \(result.stdout)"); return }
        #expect(median > 0)
        guard case .array(let kernels)? = report["kernels"] else { Issue.record("no kernels in \(result.stdout)"); return }
        #expect(kernels.count == 1)
        let text = try CLI.run(["bench", graph, "--runs", "2", "--profile"])
        #expect(text.stdout.contains("GFLOP/s"))
        #expect(text.stdout.contains("maxblurpool"))
    }

    /// The kernel tables print each kind whole, however long: its bracket (how the kernel runs) ends
    /// in what a reader looks for, here that the residual add reads its residual as bfloat16 pairs.
    @Test func kernelTablesPrintWholeKinds() throws {
        let convnet = CLI.fixture("small-convnet/graph.json")
        let result = try CLI.run(["bench", convnet, "--runs", "1", "--profile", "--print-kernels", "--precision", "bf16", "--target", "avx2"])
        #expect(result.status == 0, "\(result.stderr)")
        let kinds = result.stdout.split(separator: "\n").filter { $0.contains("conv3x3+add+relu [") }
        #expect(kinds.count == 2 && kinds.allSatisfy { $0.contains(" bf16 residual-pairs] ") }, "\(result.stdout)")
    }

    /// `--target avx2` gives 8-lane code on any AVX2 CPU (an AVX-512 one too); `--target avx512` 16-lane
    /// code where the CPU has AVX-512F and a clear refusal where it does not.
    @Test func benchCompilesForTheTargetAsked() throws {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        for (target, lanes, supported) in [("avx2", 8, flags.contains("avx2")), ("avx512", 16, flags.contains("avx512f"))] {
            let result = try CLI.run(["bench", graph, "--runs", "1", "--json", "--target", target])
            if supported {
                #expect(result.status == 0, "\(result.stderr)")
                #expect(try JSONValue.parse(result.stdout)["lanes"] == .int(lanes))
            } else {
                #expect(result.status != 0)
                #expect(result.stderr.contains("cannot run \(target) code"))
            }
        }
        let unknown = try CLI.run(["bench", graph, "--target", "neon"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("unknown target 'neon'"))
    }

    /// `--precision bf16` runs the JIT and the reference at the same rounding points, `auto` resolves to
    /// a precision the bench reports, and anything else is refused with the choices.
    @Test func precisionIsAskedForByName() throws {
        let model = CLI.fixture("small-convnet/graph.json"), x = "x=" + CLI.fixture("small-convnet/input.npy")
        let (jit, reference, f32) = (CLI.temporaryDirectory(), CLI.temporaryDirectory(), CLI.temporaryDirectory())
        for (out, extra) in [(jit, ["--precision", "bf16"]), (reference, ["--precision", "bf16", "--engine", "reference"]), (f32, [])] {
            let result = try CLI.run(["run", model, "--input", x, "--output-dir", out, "--no-cache"] + extra)
            #expect(result.status == 0, "\(result.stderr)")
        }
        let output = try #require(try FileManager.default.contentsOfDirectory(atPath: jit).first { $0.hasSuffix(".npy") })
        let (bf16, exact, float) = try (NPY.read(contentsOf: jit + "/" + output), NPY.read(contentsOf: reference + "/" + output), NPY.read(contentsOf: f32 + "/" + output))
        #expect(bf16.difference(to: exact).relative < 1e-5)
        #expect(bf16.difference(to: float).relative > 1e-5, "bf16 computed f32")
        let auto = try CLI.run(["bench", model, "--runs", "1", "--json", "--precision", "auto"])
        #expect(auto.status == 0, "\(auto.stderr)")
        let chosen = try JSONValue.parse(auto.stdout)["precision"]
        #expect(chosen == .string("f32") || chosen == .string("bf16"))
        let bad = try CLI.run(["bench", model, "--precision", "fp8"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--precision: expected f32, bf16 or auto, got 'fp8'"))
    }

    @Test func benchRefusesABadBatch() throws {
        let result = try CLI.run(["bench", graph, "--batch", "0"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--batch"))
    }
}

/// `lowpass compile`: the library a C program links, run from C on zoo models, equal to `lowpass run`.
@Suite("lowpass compile: ahead-of-time libraries")
struct CompileCommandTests {
    /// A C program for library `name`: reads the input's raw floats, runs the model twice (the second
    /// run must not depend on the first's leftovers), writes the output's raw floats.
    func program(_ name: String) -> String {
        let upper = name.uppercased()
        return """
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include "\(name).h"
            int main(int argc, char **argv) {
                if (argc != 4) return 2;
                float *input = malloc(sizeof(float) * \(upper)_INPUT0_FLOATS), *output = malloc(sizeof(float) * \(upper)_OUTPUT0_FLOATS);
                FILE *f = fopen(argv[1], "rb");
                if (!f || fread(input, sizeof(float), \(upper)_INPUT0_FLOATS, f) != \(upper)_INPUT0_FLOATS) return 3;
                fclose(f);
                \(name)_model *model = \(name)_create(atoi(argv[3]));
                if (!model) return 4;
                const float *inputs[] = {input};
                float *outputs[] = {output};
                for (int i = 0; i < 2; i++) {
                    memset(output, 0xff, sizeof(float) * \(upper)_OUTPUT0_FLOATS);
                    if (\(name)_run(model, inputs, outputs) != 0) return 5;
                }
                \(name)_destroy(model);
                f = fopen(argv[2], "wb");
                fwrite(output, sizeof(float), \(upper)_OUTPUT0_FLOATS, f);
                fclose(f);
                return 0;
            }
            """
    }

    /// The shared library and the object on the MNIST seed net, the static archive on ResNet-18 at batch 3
    /// (its early layers run image by image; two threads in C): each equal to `lowpass run` of the same
    /// graph and weights. In bf16 too, equal to `lowpass run --precision bf16` up to the order of sums: a
    /// library has no AMX, which `lowpass run` uses where the CPU has it.
    @Test(arguments: [("seed-mnist-net", [1, 1, 28, 28], "so", "f32"), ("seed-mnist-net", [1, 1, 28, 28], "o", "f32"),
                      ("resnet18", [3, 3, 224, 224], "a", "f32"), ("seed-mnist-net", [2, 1, 28, 28], "so", "bf16")])
    func aCProgramRunsTheLibrary(model: String, shape: [Int], kind: String, precision: String) throws {
        let folder = CLI.temporaryDirectory()
        let graph = CLI.repository + "/Graphs/\(model).json"
        let name = model.replacingOccurrences(of: "-", with: "_")
        let input = randomInput(shape)
        try NPY.write(input, to: folder + "/x.npy")
        try Data(input.values.withUnsafeBytes { Array($0) }).write(to: URL(fileURLWithPath: folder + "/x.raw"))
        let compiled = try CLI.run(["compile", graph, "-o", folder + "/lib\(name).\(kind)", "--batch", String(shape[0]), "--precision", precision])
        #expect(compiled.status == 0, "\(compiled.stderr)")
        #expect(FileManager.default.fileExists(atPath: folder + "/\(name).h"))
        try program(name).write(toFile: folder + "/main.c", atomically: true, encoding: .utf8)
        let link = kind == "so" ? ["-L" + folder, "-l" + name, "-Wl,-rpath," + folder] : [folder + "/lib\(name).\(kind)", "-lpthread", "-lm"]
        let cc = try CLI.run(["cc", "-std=c11", "-Wall", "-Werror", "-O1", "-I" + folder, "-o", folder + "/main", folder + "/main.c"] + link,
                             program: URL(fileURLWithPath: "/usr/bin/env"))
        #expect(cc.status == 0, "\(cc.stderr)")
        let ran = try CLI.run([folder + "/x.raw", folder + "/y.raw", "2"], program: URL(fileURLWithPath: folder + "/main"))
        #expect(ran.status == 0, "\(ran.stderr)")
        let reference = try CLI.run(["run", graph, "--input", folder + "/x.npy", "--output-dir", folder + "/out", "--precision", precision])
        #expect(reference.status == 0, "\(reference.stderr)")
        let expected = try #require(try FileManager.default.contentsOfDirectory(atPath: folder + "/out").first)
        let want = try NPY.read(contentsOf: folder + "/out/" + expected)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/y.raw"))
        let got = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        if precision == "f32" {
            #expect(got == want.values, "the library computes what lowpass run does, bit for bit")
        } else {
            #expect(got.count == want.count)
            #expect(Tensor(shape: want.shape, values: got).difference(to: want).relative < 1e-3)
        }
    }

    func randomInput(_ shape: [Int]) -> Tensor {
        var state: UInt64 = 12345
        return Tensor(shape: shape) { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
        }
    }

    @Test func badOutputsAndNamesAreRefusedWithAReason() throws {
        let graph = CLI.repository + "/Graphs/seed-mnist-net.json"
        let wrongKind = try CLI.run(["compile", graph, "-o", CLI.temporaryDirectory() + "/model.dylib"])
        #expect(wrongKind.status != 0 && wrongKind.stderr.contains(".so, .o or .a"))
        let badName = try CLI.run(["compile", graph, "-o", CLI.temporaryDirectory() + "/m.so", "--name", "9 lives"])
        #expect(badName.status != 0 && badName.stderr.contains("C identifier"))
    }
}
