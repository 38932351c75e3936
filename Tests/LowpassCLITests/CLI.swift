import Foundation
import LowpassTensor

/// Runs the `lowpass` executable built beside the test bundle.
enum CLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// Ended by exit(), not by a signal (a trap or crash).
        var exitedNormally: Bool
    }

    static var executable: URL {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = runner.deletingLastPathComponent()
        // On Linux the runner is .build/<config>/<Package>PackageTests.xctest; on macOS it is inside a bundle.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("lowpass").path), directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("lowpass")
    }

    /// Every folder these tests make lives under one folder of this test process's, removed when the
    /// process exits: the suite writes models of tens of MB, and a run must not leave them behind.
    static let scratch: String = {
        let path = NSTemporaryDirectory() + "lowpass-cli-tests-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: CLI.scratch) }
        return path
    }()

    static let cacheHome = scratch + "/cache"

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func fixture(_ name: String) -> String { repository + "/Tests/Fixtures/" + name }

    /// Runs `lowpass` with `arguments`; past `timeout` seconds the process is terminated (a test of
    /// something that must not block fails instead of hanging the suite).
    static func run(_ arguments: [String], program: URL = executable, timeout: Double? = nil, environment: [String: String] = [:],
                    directory: String = repository) throws -> Result {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        // The compile cache goes to a folder of this test run's, not the user's, unless a test says otherwise.
        process.environment = ProcessInfo.processInfo.environment.merging(["XDG_CACHE_HOME": cacheHome]) { $1 }.merging(environment) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        if let timeout {
            let watched = UncheckedProcess(process: process)
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { if watched.process.isRunning { watched.process.terminate() } }
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self), exitedNormally: process.terminationReason == .exit)
    }

    /// How far the .npy file `written` is from the fixture `expected` (relative to its largest magnitude).
    static func relativeError(of written: String, toFixture expected: String) throws -> Double {
        try NPY.read(contentsOf: written).difference(to: NPY.read(contentsOf: fixture(expected))).relative
    }

    static func temporaryDirectory() -> String {
        let path = scratch + "/" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }
}

private struct UncheckedProcess: @unchecked Sendable {
    let process: Process
}
