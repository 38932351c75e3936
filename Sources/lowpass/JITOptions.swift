import ArgumentParser
import Foundation
import LowpassJIT
import LowpassTensor

/// The JIT's options, shared by `run` and `bench`.
struct JITOptions: ParsableArguments {
    @Option(help: "Threads each kernel is spread over (default: every core).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: ArgumentHelp("Write the optimized LLVM module to DIR/model.ll.", valueName: "DIR"))
    var emitLLVM: String?

    @Option(help: ArgumentHelp("Write the generated assembly to DIR/model.s.", valueName: "DIR"))
    var emitAsm: String?

    @Flag(inversion: .prefixedNo, help: "Run stride-1 3x3 convs by Winograd F(4x4, 3x3) or F(2x2, 3x3) where that saves multiplies (maps of about 12x12 and more): 4x or 2.25x fewer, float error about 1e-6 relative on ResNets.")
    var winograd = true

    @Option(help: ArgumentHelp("Where convolutions round: f32 (every value a 32-bit float), bf16 (each conv's input and weights and each residual add's operands rounded to bfloat16, sums in fp32; faster where the CPU has AMX or AVX512_BF16, about 1e-2 relative error; see docs/jit.md) or auto (bf16 where that is faster on this CPU: AMX, or AVX512_BF16 without AMX, with avx512 code; else f32).", valueName: "PRECISION"))
    var precision: String = "f32"

    @Option(help: ArgumentHelp("The code to generate: host (every vector feature this CPU has), avx2 (8-lane code, also on an AVX-512 CPU) or avx512 (16-lane code).", valueName: "TARGET"))
    var target: String = "host"

    @Flag(help: "List the kernels the JIT generated, the graph nodes each one computes (its fusions) and the milliseconds LLVM took for each function (on one core; blank when shared or cached).")
    var printKernels = false

    @Option(help: ArgumentHelp("Keep compiled kernels in DIR between runs (default: $XDG_CACHE_HOME/lowpass, else ~/.cache/lowpass; at most LOWPASS_CACHE_MAX_MB, 1024 by default).", valueName: "DIR"))
    var cacheDir: String?

    @Flag(help: "Compile every kernel afresh; read and write no compile cache.")
    var noCache = false

    @Flag(help: "No progress line while compiling (it shows only on a terminal, for compiles of over a second).")
    var quiet = false

    func validate() throws {
        if noCache && cacheDir != nil { throw ValidationError("--no-cache and --cache-dir contradict each other") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256, got \(threads)") }
        do { _ = try Target.named(target) } catch { throw ValidationError("--target: \(error.message)") }
        guard precision == "auto" || Precision(rawValue: precision) != nil else {
            throw ValidationError("--precision: expected f32, bf16 or auto, got '\(precision)'")
        }
    }

    /// The precision asked for, `auto` resolved for the target. Valid once `validate()` has passed.
    var resolvedPrecision: Precision {
        Precision(rawValue: precision) ?? .automatic(for: (try? Target.named(target)) ?? .host)
    }

    /// Valid once `validate()` has passed.
    var compileOptions: CompileOptions {
        var options = CompileOptions()
        options.target = (try? Target.named(target)) ?? .host
        options.threads = threads
        options.emitLLVM = emitLLVM
        options.emitAssembly = emitAsm
        options.winograd = winograd
        options.precision = resolvedPrecision
        if !noCache, let directory = cacheDir ?? CompileCache.defaultDirectory { options.cache = CompileCache(directory: directory) }
        if !quiet && isatty(STDERR_FILENO) != 0 { options.progress = CompileProgress().report }
        return options
    }
}

/// "compiling kernels 12/85" on standard error, rewritten in place, once a compile has taken a second;
/// cleared when the last kernel is done.
final class CompileProgress: Sendable {
    private let start = DispatchTime.now()

    func report(done: Int, total: Int) {
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        guard elapsed >= 1 else { return }
        let line = done == total ? "\r\u{1B}[K" : "\rcompiling kernels \(done)/\(total)"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

/// The width of a table's kind column: the longest kind, whole (its bracket says how the kernel runs,
/// the part worth reading), and at least 44.
func kindColumnWidth(_ kernels: [KernelSummary]) -> Int { max(44, kernels.map(\.kind.count).max() ?? 0) }

/// One line per kernel: its function, family and fusion, parallel work items, and the nodes it computes.
func printKernels(_ model: CompiledModel) {
    let target = model.target
    let precision = model.precision == .f32 ? "" : ", convs in \(model.precision) (\(target.hasAMX ? "AMX tiles" : target.hasNativeBFloat16 ? "vdpbf16ps" : "bfloat16 widened to fp32 FMAs: this code has no AVX512_BF16"))"
    print("\(model.kernels.count) kernels, \(target.lanes)-lane float vectors (\(target), \(target.triple), \(model.threads) threads\(precision)), " +
          "arena \(scaled(model.arenaBytes))B (\(scaled(model.unplannedBytes))B without reuse), compiled in \(String(format: "%.2f", model.compileSeconds)) s " +
          "(\(model.functionCount) functions, \(model.cachedFunctionCount) from the compile cache)")
    let (imageByImage, images) = model.imageByImage
    if !imageByImage.isEmpty {
        print("kernels \(imageByImage.lowerBound)-\(imageByImage.upperBound - 1) (marked *) run image by image over the \(images) images, the rest over the whole batch")
    }
    let kindWidth = kindColumnWidth(model.kernels)
    for (index, kernel) in model.kernels.enumerated() {
        let mark = imageByImage.contains(index) ? "*" : " "
        let nodes = kernel.nodes.count > 4 ? kernel.nodes.prefix(3).joined(separator: ", ") + ", ... (\(kernel.nodes.count))" : kernel.nodes.joined(separator: ", ")
        let llvm = kernel.compileSeconds > 0 ? String(format: "%5.0f ms", kernel.compileSeconds * 1000) : "        "
        print(" \(mark)\(kernel.name.padding(toLength: 34, withPad: " ", startingAt: 0)) \(kernel.kind.padding(toLength: kindWidth, withPad: " ", startingAt: 0)) items \(String(kernel.workItems).padding(toLength: 7, withPad: " ", startingAt: 0)) \(llvm) \(nodes)")
    }
}
