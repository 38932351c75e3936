import Foundation
import LowpassIR

/// A pass that runs as a separate program, in any language: the protoc / git-subcommand model.
///
/// The executable `lowpass-pass-<name>` receives `{"options": {...}, "graph": {...}}` on standard
/// input and answers, on standard output, the new graph (same JSON format) or `{"error": "message"}`.
/// A program that crashes, exits non-zero, runs past the time limit or answers anything else fails
/// with an error naming it; the graph it was given is left as it was. Protocol: docs/plugins.md.
public struct ExternalPass: GraphRewrite {
    public static let executablePrefix = "lowpass-pass-"

    public var name: String
    public var executable: String
    public var options: PassOptions
    public var timeout: Double
    /// Bytes the plugin may write on standard output (its graph), and on standard error.
    public var outputLimit: Int

    public init(name: String, executable: String, options: PassOptions, timeout: Double, outputLimit: Int = 256 << 20) {
        self.name = name
        self.executable = executable
        self.options = options
        self.timeout = timeout
        self.outputLimit = outputLimit
    }

    public static func find(_ name: String, in searchPath: [String]) -> String? {
        guard !name.contains("/") else { return nil }
        for directory in searchPath {
            let candidate = (directory as NSString).appendingPathComponent(executablePrefix + name)
            if isProgram(candidate) { return candidate }
        }
        return nil
    }

    /// An executable regular file (a folder is "executable" too: it can be searched).
    static func isProgram(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && FileManager.default.isExecutableFile(atPath: path)
    }

    public static func all(in searchPath: [String]) -> [(name: String, path: String)] {
        var found: [(String, String)] = []
        for directory in searchPath {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for file in files.sorted() where file.hasPrefix(executablePrefix) {
                let path = (directory as NSString).appendingPathComponent(file)
                if isProgram(path) { found.append((String(file.dropFirst(executablePrefix.count)), path)) }
            }
        }
        return found
    }

    /// Option values go out as JSON numbers or booleans when they read as such, else as strings.
    static func jsonValue(_ value: PassOptions.Value) -> JSONValue {
        switch value {
        case .int(let n): return .int(n)
        case .float(let x): return .double(x)
        case .bool(let b): return .bool(b)
        case .string(let s):
            if let n = Int(s) { return .int(n) }
            if let x = Double(s), x.isFinite { return .double(x) }
            if s == "true" || s == "false" { return .bool(s == "true") }
            return .string(s)
        }
    }

    public func run(on graph: inout Graph, context: inout PassContext) throws(PassError) -> Bool {
        let request = JSONValue.object([
            ("options", .object(options.values.sorted { $0.key < $1.key }.map { ($0.key, Self.jsonValue($0.value)) })),
            ("graph", graph.encodedJSON()),
        ])
        let answer = try exchange(Data(request.formatted().utf8))
        let value: JSONValue
        do {
            value = try JSONValue.parse(answer)
        } catch {
            let preview = String(decoding: answer.prefix(80), as: UTF8.self)
            throw failure("answered something that is not JSON (\(error)): \"\(preview)\"")
        }
        if case .string(let message)? = value["error"] { throw failure("reported an error: \(message)") }
        let newGraph: Graph
        do {
            newGraph = try Graph.decode(json: Array(value.formatted().utf8), file: "answer of \(executable)")
        } catch {
            throw failure("answered JSON that is not a valid graph:\n\(error)")
        }
        let changed = newGraph != graph
        graph = newGraph
        return changed
    }

    func failure(_ message: String) -> PassError {
        PassError(pass: name, "plugin \(executable) \(message)")
    }

    /// Runs the program with `input` on standard input; returns its standard output.
    func exchange(_ input: Data) throws(PassError) -> Data {
        // A plugin that exits without reading its input must not kill Lowpass with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let outcome: ChildProcess.Outcome
        do {
            outcome = try ChildProcess.run(executable, input: input, timeout: timeout, outputLimit: outputLimit)
        } catch {
            throw failure("could not be started: \(error.message)")
        }
        // Control characters (a plugin's colour escapes) would act on the user's terminal: shown as '?'.
        let log = String(String(decoding: outcome.stderr.suffix(2000), as: UTF8.self).unicodeScalars.map { scalar -> Character in
            (scalar.value < 0x20 && scalar != "\n" && scalar != "\t") || (0x7f...0x9f).contains(scalar.value) ? "?" : Character(scalar)
        }).trimmingCharacters(in: .whitespacesAndNewlines)
        let logNote = log.isEmpty ? "" : "; its standard error ends: \(log)"
        switch outcome.termination {
        case .timedOut: throw failure("did not answer within \(timeout) seconds and was stopped")
        case .outputTooLarge(let stream):
            throw failure("wrote more than \(outputLimit) bytes on its \(stream) and was stopped (--plugin-output-limit)\(logNote)")
        case .signaled(let signal): throw failure("crashed (signal \(signal))\(logNote)")
        case .exited(let status) where status != 0: throw failure("exited with status \(status)\(logNote)")
        case .exited: return outcome.stdout
        }
    }
}
