import ArgumentParser
import Foundation
import LowpassIR

@main
struct Lowpass: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lowpass",
        abstract: "A layer-graph compiler that makes CNNs shift-invariant and runs them fast.",
        discussion: """
            Models are JSON graph files (ONNX-style ops, NCHW) with weights in .safetensors.
            The graph format is documented in docs/graph-format.md.
            """,
        subcommands: [InspectCommand.self, RunCommand.self, BenchCommand.self, VerifyCommand.self, RewriteCommand.self, PassesCommand.self, DiffCommand.self, ZooCommand.self, ImportCommand.self, ExportCommand.self, CompileCommand.self, CacheCommand.self, ConsistencyCommand.self])
}

/// Prints every finding to standard error and ends the command with a failure status.
func fail(_ diagnostics: Diagnostics) -> ExitCode {
    for item in diagnostics.items { FileHandle.standardError.write(Data((item.description + "\n").utf8)) }
    return ExitCode.failure
}

func fail(_ diagnostic: Diagnostic) -> ExitCode { fail(Diagnostics([diagnostic])) }

func warn(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}

/// Loads and verifies a model file (graph or ONNX), turning every problem into a failure exit after printing it.
func loadVerifiedGraph(_ path: String) throws(ExitCode) -> VerifiedGraph {
    do {
        return try LoadedModel.read(path).graph.verify()
    } catch {
        throw fail(error.inFile(path))
    }
}

/// 1234567 -> "1,234,567".
func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

/// 1_820_000_000 -> "1.82 G".
func scaled(_ n: Int) -> String {
    let value = Double(n)
    for (limit, suffix) in [(1e9, "G"), (1e6, "M"), (1e3, "K")] where value >= limit {
        return String(format: "%.2f %@", value / limit, suffix)
    }
    return String(n)
}
