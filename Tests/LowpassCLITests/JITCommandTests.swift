import Foundation
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
        #expect(module.contains("define void @k0_maxblurpool"))
        #expect(assembly.contains("k0_maxblurpool"))
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
