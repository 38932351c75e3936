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

    @Test func benchRefusesABadBatch() throws {
        let result = try CLI.run(["bench", graph, "--batch", "0"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--batch"))
    }
}
