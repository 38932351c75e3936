import CLLVM
import Crypto
import Foundation
import LowpassIR

/// Compiled kernels kept on disk between runs: one file of machine code (an ELF object) per kernel,
/// named by the SHA-256 of everything that determines the code (the kernel's unoptimized LLVM IR, the
/// target CPU and features, LLVM's version and how Lowpass asks LLVM to optimize and emit). Repacked
/// weights are not cached: they are cheap to make and would be as large as the model.
///
/// An entry is trusted only when whole: its header names the key it was made for, and a SHA-256 of the
/// object follows it, so a damaged, truncated or foreign file (another key's, another program's) reads
/// as a miss and is rebuilt over. Entries are written to a temporary file and renamed into place, so
/// concurrent `lowpass` processes sharing one cache see either the old file or the new. The cache holds
/// at most `capacity` bytes: beyond it, the least recently used entries go (a hit refreshes an entry's
/// modification time).
public struct CompileCache: Sendable {
    public let directory: String
    public let capacity: Int

    /// Bump when the entry layout or the way Lowpass drives LLVM changes in a way the key would not show.
    static let formatVersion = 1
    static let magic = Array("LOWPASS-KERNEL-OBJECT\n".utf8)
    /// An object bigger than this is not a kernel of ours.
    static let largestEntry = 256 << 20

    public init(directory: String, capacity: Int = CompileCache.defaultCapacity) {
        (self.directory, self.capacity) = (directory, capacity)
    }

    /// 1 GiB, or `LOWPASS_CACHE_MAX_MB`.
    public static var defaultCapacity: Int {
        if let text = ProcessInfo.processInfo.environment["LOWPASS_CACHE_MAX_MB"], let megabytes = Int(text), megabytes >= 0 { return megabytes << 20 }
        return 1 << 30
    }

    /// `$XDG_CACHE_HOME/lowpass`, or `~/.cache/lowpass`; nil when neither is known.
    public static var defaultDirectory: String? {
        let environment = ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return xdg + "/lowpass" }
        if let home = environment["HOME"], home.hasPrefix("/") { return home + "/.cache/lowpass" }
        return nil
    }

    /// The key of a kernel: a digest of its IR (as bitcode) and of everything else its machine code depends on.
    static func key(ir: [UInt8], target: Target, recipe: String) -> [UInt8] {
        var hasher = SHA256()
        for part in ["lowpass-kernel \(formatVersion)", "llvm \(LLVM_VERSION_STRING)", recipe, target.triple, target.cpu, target.features] {
            hasher.update(data: Array(part.utf8) + [0])
        }
        hasher.update(data: ir)
        return Array(hasher.finalize())
    }

    private var kernelsFolder: String { directory + "/kernels" }

    private func path(of key: [UInt8]) -> String { kernelsFolder + "/" + hex(key) + ".o" }

    /// The object stored for `key`, if a whole, matching entry is there.
    func object(for key: [UInt8]) -> [UInt8]? {
        let path = path(of: key)
        guard let bytes = try? readFileBytes(path, limit: Self.largestEntry + 1024), let object = Self.decode(bytes, key: key) else { return nil }
        // A hit is a use: the entry moves to the young end of the eviction order.
        _ = utimes(path, nil)
        return object
    }

    /// Stores `object` for `key`; a failure to write only costs the next run a compile.
    func store(_ object: [UInt8], for key: [UInt8]) {
        do throws(Diagnostic) {
            try createFolder(kernelsFolder, purpose: "compile cache folder")
            try writeAtomically(Data(Self.encode(object, key: key)), to: path(of: key))
        } catch {}
    }

    static func encode(_ object: [UInt8], key: [UInt8]) -> [UInt8] {
        var length = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { length[i] = UInt8(truncatingIfNeeded: UInt64(object.count) >> (8 * i)) }
        return magic + [UInt8(formatVersion)] + key + length + object + Array(SHA256.hash(data: object))
    }

    /// The object in `bytes` if they are a whole entry made for `key`.
    static func decode(_ bytes: [UInt8], key: [UInt8]) -> [UInt8]? {
        let header = magic.count + 1 + key.count + 8
        guard bytes.count >= header + 32, Array(bytes[..<magic.count]) == magic, bytes[magic.count] == UInt8(formatVersion),
              Array(bytes[(magic.count + 1)..<(magic.count + 1 + key.count)]) == key else { return nil }
        let length = (0..<8).reduce(0) { $0 | Int(bytes[header - 8 + $1]) << (8 * $1) }
        guard length >= 0, length <= largestEntry, bytes.count == header + length + 32 else { return nil }
        let object = Array(bytes[header..<(header + length)])
        guard Array(SHA256.hash(data: object)) == Array(bytes[(header + length)...]) else { return nil }
        return object
    }

    public struct Summary: Sendable {
        public var entries: Int
        public var bytes: Int
    }

    /// The entries on disk and their total size.
    public func summary() -> Summary {
        let entries = self.entries()
        return Summary(entries: entries.count, bytes: entries.reduce(0) { $0 + $1.bytes })
    }

    /// Removes every entry; returns how many there were.
    @discardableResult
    public func clear() -> Int {
        let entries = self.entries()
        for entry in entries { unlink(entry.path) }
        return entries.count
    }

    /// Removes the least recently used entries until the cache fits its capacity.
    func evict() {
        var entries = self.entries().sorted { $0.used < $1.used }
        var total = entries.reduce(0) { $0 + $1.bytes }
        while total > capacity, !entries.isEmpty {
            let oldest = entries.removeFirst()
            unlink(oldest.path)
            total -= oldest.bytes
        }
    }

    private func entries() -> [(path: String, bytes: Int, used: Double)] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: kernelsFolder) else { return [] }
        return names.filter { $0.hasSuffix(".o") }.compactMap { name in
            let path = kernelsFolder + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
            return (path, Int(info.st_size), Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
        }
    }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
