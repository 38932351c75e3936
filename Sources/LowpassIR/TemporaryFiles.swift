import Foundation
import Synchronization

/// The temporary files atomic writes go through: `.NAME.lowpass-tmp-PID-N` beside the target, renamed
/// over it once complete. SIGINT, SIGTERM or SIGHUP arriving mid-write removes the file being written
/// before the process dies as it would have; one left by a process that died otherwise (SIGKILL, a
/// crash, power) is removed by the next write to the same target.
enum TemporaryFiles {
    /// The path being written, as a C string the signal handler can read without allocating; empty
    /// when none. With writes on several threads it names the latest (the CLI writes on one).
    nonisolated(unsafe) static let pending: UnsafeMutablePointer<CChar> = {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: 4096)
        buffer[0] = 0
        return buffer
    }()
    private static let counter = Atomic<Int>(0)
    private static let lock = NSLock()

    private static let handlersInstalled: Bool = {
        _ = pending
        for signal in [SIGINT, SIGTERM, SIGHUP] { _ = Glibc.signal(signal, removePendingAndDie) }
        return true
    }()

    static func write(_ data: Data, to target: String) throws(Diagnostic) {
        _ = handlersInstalled
        let location = SourceLocation(file: target)
        let folder = (target as NSString).deletingLastPathComponent, name = (target as NSString).lastPathComponent
        // Within a file name's 255 bytes whatever the target's length.
        let stem = name.utf8.count > 200 ? String(decoding: name.utf8.prefix(200), as: UTF8.self) : name
        let prefix = ".\(stem).lowpass-tmp-"
        removeStale(in: folder.isEmpty ? "." : folder, prefix: prefix)
        let temporary = (folder as NSString).appendingPathComponent(prefix + "\(getpid())-\(counter.wrappingAdd(1, ordering: .relaxed).oldValue)")
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Diagnostic(.writeFailed, "cannot write the file: \(String(cString: strerror(errno)))", at: location) }
        setPending(temporary)
        defer { setPending(nil) }
        var written = 0
        let failure: String? = data.withUnsafeBytes { raw -> String? in
            guard let base = raw.baseAddress else { return nil }
            while written < raw.count {
                let count = Glibc.write(fd, base + written, raw.count - written)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return String(cString: strerror(errno)) }
                written += count
            }
            return nil
        }
        close(fd)
        if let failure {
            unlink(temporary)
            throw Diagnostic(.writeFailed, "cannot write the file: \(failure)", at: location)
        }
        guard rename(temporary, target) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw Diagnostic(.writeFailed, "cannot write the file: \(reason)", at: location)
        }
    }

    private static func setPending(_ path: String?) {
        lock.withLock {
            guard let path, path.utf8.count < 4095 else { pending[0] = 0; return }
            path.withCString { _ = strcpy(pending, $0) }
        }
    }

    /// Removes this target's temporary files whose process is gone.
    private static func removeStale(in folder: String, prefix: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where name.hasPrefix(prefix) {
            let owner = name.dropFirst(prefix.count).split(separator: "-").first.flatMap { Int32($0) }
            guard let owner, owner != getpid(), kill(owner, 0) != 0, errno == ESRCH else { continue }
            unlink((folder as NSString).appendingPathComponent(name))
        }
    }
}

private func removePendingAndDie(_ signal: Int32) {
    if TemporaryFiles.pending[0] != 0 { unlink(TemporaryFiles.pending) }
    _ = Glibc.signal(signal, SIG_DFL)
    raise(signal)
}
