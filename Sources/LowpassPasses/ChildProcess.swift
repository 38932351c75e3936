#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Runs a program with bytes on its standard input and collects its output, with a hard time limit.
///
/// Foundation's `Process` reports termination only once every holder of the output pipes has
/// closed them, so a plugin script whose child outlives it would hold Lowpass for as long as that
/// child runs. This runs the program in a process group of its own, feeds and drains the pipes with
/// `poll`, and on timeout terminates, then kills, the whole group.
struct ChildProcess {
    enum Termination: Equatable {
        case exited(Int32)
        case signaled(Int32)
        case timedOut
        /// It wrote more than the limit on the stream (`standard output` or `standard error`).
        case outputTooLarge(String)
    }

    struct Outcome {
        var termination: Termination
        var stdout: Data
        var stderr: Data
    }

    struct LaunchError: Error {
        var message: String
    }

    /// Runs `executable`; past `timeout` seconds, or once it has written more than `outputLimit` bytes
    /// on standard output or on standard error, its process group is stopped.
    static func run(_ executable: String, arguments: [String] = [], input: Data, timeout: Double,
                    outputLimit: Int = 256 << 20) throws(LaunchError) -> Outcome {
        let pipes = try Pipes()
        let pid = try spawn(executable, arguments: arguments, pipes: pipes)
        var exchange = Exchange(pid: pid, pipes: pipes, input: input, deadline: Date().addingTimeInterval(timeout), outputLimit: outputLimit)
        exchange.run()
        return exchange.finish()
    }

    /// The three standard streams: the child's ends become its 0, 1 and 2; ours are non-blocking.
    struct Pipes {
        var parentEnds: [Int32], childEnds: [Int32]

        init() throws(LaunchError) {
            var stdinPipe: [Int32] = [-1, -1], stdoutPipe: [Int32] = [-1, -1], stderrPipe: [Int32] = [-1, -1]
            guard pipe(&stdinPipe) == 0, pipe(&stdoutPipe) == 0, pipe(&stderrPipe) == 0 else {
                throw LaunchError(message: "cannot create pipes: \(String(cString: strerror(errno)))")
            }
            parentEnds = [stdinPipe[1], stdoutPipe[0], stderrPipe[0]]
            childEnds = [stdinPipe[0], stdoutPipe[1], stderrPipe[1]]
            for fd in parentEnds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC); _ = fcntl(fd, F_SETFL, O_NONBLOCK) }
        }
    }

    /// Starts the program in a process group of its own, so a timeout reaches the plugin's children
    /// too, with default signal handling, so it does not inherit Lowpass's ignored SIGPIPE.
    private static func spawn(_ executable: String, arguments: [String], pipes: Pipes) throws(LaunchError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, fd) in pipes.childEnds.enumerated() { posix_spawn_file_actions_adddup2(&actions, fd, Int32(target)) }
        for fd in pipes.childEnds + pipes.parentEnds { posix_spawn_file_actions_addclose(&actions, fd) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        for fd in pipes.childEnds { close(fd) }
        guard spawned == 0 else {
            for fd in pipes.parentEnds { close(fd) }
            throw LaunchError(message: String(cString: strerror(spawned)))
        }
        return pid
    }

    /// Feeds the child's input and drains its output with `poll` until it has exited and closed both
    /// outputs, the deadline passes, or an output exceeds the limit; then ends the process group.
    private struct Exchange {
        let pid: pid_t
        let input: Data
        var deadline: Date
        let outputLimit: Int
        var open: (stdin: Int32, stdout: Int32, stderr: Int32)
        var written = 0
        var stdout = Data(), stderr = Data()
        var status: Int32 = 0
        var reaped = false
        var overflow: String?

        init(pid: pid_t, pipes: Pipes, input: Data, deadline: Date, outputLimit: Int) {
            (self.pid, self.input, self.deadline, self.outputLimit) = (pid, input, deadline, outputLimit)
            open = (pipes.parentEnds[0], pipes.parentEnds[1], pipes.parentEnds[2])
            if input.isEmpty { close(open.stdin); open.stdin = -1 }
        }

        mutating func run() {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while open.stdout >= 0 || open.stderr >= 0 || !reaped {
                let remaining = deadline.timeIntervalSinceNow
                if remaining <= 0 { break }
                if !reaped, waitpid(pid, &status, WNOHANG) == pid {
                    reaped = true
                    // Output still open after the plugin exited belongs to a child it left behind:
                    // take what arrives within a second, then stop listening.
                    deadline = min(deadline, Date().addingTimeInterval(1))
                }
                if open.stdout < 0 && open.stderr < 0 {
                    if !reaped { usleep(10_000) }
                    continue
                }
                var fds = [pollfd(fd: open.stdin, events: Int16(POLLOUT), revents: 0),
                           pollfd(fd: open.stdout, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: open.stderr, events: Int16(POLLIN), revents: 0)]
                let ready = poll(&fds, nfds_t(fds.count), Int32(min(remaining, 0.1) * 1000))
                if ready < 0 && errno != EINTR { break }
                if open.stdin >= 0, fds[0].revents != 0 { writeInput() }
                if open.stdout >= 0, fds[1].revents != 0, !drain(open.stdout, into: &stdout, &buffer) { close(open.stdout); open.stdout = -1 }
                if open.stderr >= 0, fds[2].revents != 0, !drain(open.stderr, into: &stderr, &buffer) { close(open.stderr); open.stderr = -1 }
                if stdout.count > outputLimit { overflow = "standard output" } else if stderr.count > outputLimit { overflow = "standard error" }
                if overflow != nil { break }
            }
            for fd in [open.stdin, open.stdout, open.stderr] where fd >= 0 { close(fd) }
        }

        private mutating func writeInput() {
            let count = input.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return write(open.stdin, base + written, min(raw.count - written, 65536))
            }
            if count > 0 { written += count }
            if count < 0 && errno != EAGAIN || written == input.count {
                close(open.stdin)  // done, or the plugin stopped reading (EPIPE): either way, no more input
                open.stdin = -1
            }
        }

        /// Reads what is ready on `fd`; false once the stream has ended.
        private func drain(_ fd: Int32, into data: inout Data, _ buffer: inout [UInt8]) -> Bool {
            let count = read(fd, &buffer, buffer.count)
            if count > 0 { data.append(contentsOf: buffer[0..<count]); return true }
            return count < 0 && errno == EAGAIN
        }

        mutating func finish() -> Outcome {
            if let overflow {
                kill(-pid, SIGKILL)
                if !reaped { waitpid(pid, &status, 0) }
                return Outcome(termination: .outputTooLarge(overflow), stdout: Data(), stderr: stderr.suffix(4096))
            }
            if !reaped {
                kill(-pid, SIGTERM)
                for _ in 0..<100 where !reaped {
                    if waitpid(pid, &status, WNOHANG) == pid { reaped = true } else { usleep(10_000) }
                }
                kill(-pid, SIGKILL)
                if !reaped { waitpid(pid, &status, 0) }
                return Outcome(termination: .timedOut, stdout: stdout, stderr: stderr)
            }
            // The plugin is gone; make sure nothing it started lingers in its group.
            kill(-pid, SIGKILL)
            let signal = status & 0x7f
            let termination: Termination = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
            return Outcome(termination: termination, stdout: stdout, stderr: stderr)
        }
    }
}
