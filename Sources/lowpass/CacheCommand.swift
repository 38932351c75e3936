import ArgumentParser
import Foundation
import LowpassJIT

/// `lowpass cache info|clear`: the compile cache `run` and `bench` keep.
struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Show or clear the cache of compiled kernels.",
        discussion: """
            `run`, `bench` and `compile` keep the machine code of every kernel they compile, keyed by the kernel's LLVM IR, the CPU's features, LLVM's version and Lowpass's code generation settings, so a model compiles once per machine. A damaged or foreign entry is ignored and rebuilt. The least recently used entries go when the cache passes its size cap (LOWPASS_CACHE_MAX_MB, 1024 by default).
            """,
        subcommands: [Info.self, Clear.self])

    struct Location: ParsableArguments {
        @Option(help: ArgumentHelp("The cache folder (default: $XDG_CACHE_HOME/lowpass, else ~/.cache/lowpass).", valueName: "DIR"))
        var cacheDir: String?

        func cache() throws -> CompileCache {
            guard let directory = cacheDir ?? CompileCache.defaultDirectory else {
                throw ValidationError("no cache folder: neither XDG_CACHE_HOME nor HOME is set; give --cache-dir")
            }
            return CompileCache(directory: directory)
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print where the cache is, its entries and its size.")
        @OptionGroup var location: Location

        func run() throws {
            let cache = try location.cache()
            let summary = cache.summary()
            print("cache     \(cache.directory)")
            print("entries   \(summary.entries) compiled kernels")
            print("size      \(String(format: "%.1f", Double(summary.bytes) / 1_048_576)) MiB of at most \(cache.capacity >> 20) MiB")
        }
    }

    struct Clear: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove every compiled kernel from the cache.")
        @OptionGroup var location: Location

        func run() throws {
            let cache = try location.cache()
            print("removed \(cache.clear()) compiled kernels from \(cache.directory)")
        }
    }
}
