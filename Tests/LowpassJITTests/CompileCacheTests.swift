import Foundation
@testable import LowpassJIT
import LowpassIR
import LowpassTensor
import Testing

/// The persistent compile cache: a second compile of the same model takes every kernel from it and
/// computes the same; a damaged, truncated, foreign or stale entry is a miss, rebuilt over; the cache
/// keeps to its size cap by dropping the least recently used entries.
@Suite("Compile cache")
struct CompileCacheTests {
    /// A conv with BN and ReLU, a max pool, an element-wise chain: a few distinct kernels.
    let graph = Graph(
        name: "small", inputs: [ValueInfo(name: "x", type: TensorType(fixed: [1, 3, 12, 10]))], outputs: ["y"],
        parameters: [Parameter(name: "w", type: TensorType(fixed: [8, 3, 3, 3]))],
        nodes: [Node(name: "conv", op: .conv, inputs: ["x", "w"], outputs: ["c"], attributes: ["pads": .ints([1, 1, 1, 1])]),
                Node(name: "relu", op: .relu, inputs: ["c"], outputs: ["r"]),
                Node(name: "pool", op: .maxPool, inputs: ["r"], outputs: ["p"], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])]),
                Node(name: "sig", op: .sigmoid, inputs: ["p"], outputs: ["s"]),
                Node(name: "y", op: .mul, inputs: ["p", "s"], outputs: ["y"])])
    let weights = Weights(tensors: ["w": randomTensor([8, 3, 3, 3], seed: 500)])
    let input = randomTensor([1, 3, 12, 10], seed: 501)

    func folder() -> String { NSTemporaryDirectory() + "lowpass-cache-test-" + UUID().uuidString }

    func compile(_ cache: CompileCache?, target: Target = testedTargets[0]) throws -> (model: CompiledModel, output: Tensor) {
        var options = CompileOptions()
        options.cache = cache
        options.target = target
        let model = try CompiledModel(graph: graph, weights: weights, inputShapes: ["x": input.shape], options: options)
        return (model, try #require(try model.run(["x": input])["y"]))
    }

    func entryPaths(_ cache: CompileCache) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: cache.directory + "/kernels").sorted().map { cache.directory + "/kernels/" + $0 }
    }

    @Test func theSecondCompileTakesEveryKernelFromTheCache() throws {
        let cache = CompileCache(directory: folder())
        defer { try? FileManager.default.removeItem(atPath: cache.directory) }
        let (cold, coldOutput) = try compile(cache)
        #expect(cold.functionCount >= 3 && cold.cachedFunctionCount == 0)
        #expect(cache.summary().entries == cold.functionCount)
        let (warm, warmOutput) = try compile(cache)
        #expect(warm.cachedFunctionCount == warm.functionCount)
        #expect(warmOutput.values == coldOutput.values)
        let (_, uncached) = try compile(nil)
        #expect(uncached.values == coldOutput.values)
    }

    @Test func damagedTruncatedAndForeignEntriesAreRebuilt() throws {
        let cache = CompileCache(directory: folder())
        defer { try? FileManager.default.removeItem(atPath: cache.directory) }
        let (cold, expected) = try compile(cache)
        let paths = try entryPaths(cache)
        #expect(paths.count >= 3)
        // One entry with a flipped byte in its code, one cut short, one holding another entry's bytes.
        let originals = try paths.prefix(3).map { try readFileBytes($0) }
        var flipped = originals[0]
        flipped[flipped.count / 2] ^= 0x40
        try Data(flipped).write(to: URL(fileURLWithPath: paths[0]))
        try Data(originals[1].prefix(originals[1].count - 7)).write(to: URL(fileURLWithPath: paths[1]))
        try Data(originals[1]).write(to: URL(fileURLWithPath: paths[2]))
        let (rebuilt, output) = try compile(cache)
        #expect(rebuilt.cachedFunctionCount == cold.functionCount - 3)
        #expect(output.values == expected.values)
        // Rebuilt entries were written over the bad ones: the next compile hits them all.
        #expect(try compile(cache).model.cachedFunctionCount == cold.functionCount)
    }

    /// Code for another CPU (other features) or from another LLVM or Lowpass code generation is
    /// another key, never this one's entry.
    @Test func otherCPUsAndVersionsAreOtherKeys() throws {
        let ir = Array("define void @kernel() { ret void }".utf8)
        let host = Target.host
        let key = CompileCache.key(ir: ir, target: host, recipe: KernelCompiler.recipe)
        #expect(CompileCache.key(ir: ir, target: host, recipe: KernelCompiler.recipe) == key)
        let otherCPU = Target(triple: host.triple, cpu: "znver5", features: host.features, instructionSet: nil)
        let otherFeatures = Target(triple: host.triple, cpu: host.cpu, features: host.features + ",+amx-fp16", instructionSet: nil)
        #expect(CompileCache.key(ir: ir, target: otherCPU, recipe: KernelCompiler.recipe) != key)
        #expect(CompileCache.key(ir: ir, target: otherFeatures, recipe: KernelCompiler.recipe) != key)
        #expect(CompileCache.key(ir: ir, target: host, recipe: KernelCompiler.recipe + "; O2") != key)
        #expect(CompileCache.key(ir: ir + [0], target: host, recipe: KernelCompiler.recipe) != key)
        // An entry of an older layout, or made for another key, does not decode.
        let object: [UInt8] = Array(0..<200)
        var entry = CompileCache.encode(object, key: key)
        #expect(CompileCache.decode(entry, key: key) == object)
        #expect(CompileCache.decode(entry, key: CompileCache.key(ir: [1, 2, 3], target: host, recipe: "")) == nil)
        entry[CompileCache.magic.count] = UInt8(CompileCache.formatVersion + 1)
        #expect(CompileCache.decode(entry, key: key) == nil)
        // Where the host runs both, AVX2 and AVX-512 code of one model are separate entries.
        if testedTargets.count > 1 {
            let cache = CompileCache(directory: folder())
            defer { try? FileManager.default.removeItem(atPath: cache.directory) }
        defer { try? FileManager.default.removeItem(atPath: cache.directory) }
            let (avx2, _) = try compile(cache, target: testedTargets[0])
            let (avx512, _) = try compile(cache, target: testedTargets[1])
            #expect(avx512.cachedFunctionCount == 0)
            #expect(cache.summary().entries == avx2.functionCount + avx512.functionCount)
        }
    }

    @Test func theCacheKeepsToItsCapacityDroppingTheLeastRecentlyUsed() throws {
        let directory = folder()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let unbounded = CompileCache(directory: directory)
        let (model, _) = try compile(unbounded)
        let paths = try entryPaths(unbounded)
        let sizes = try paths.map { try FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int ?? 0 }
        // Make the entries' ages distinct, the first oldest; then allow all but the oldest one.
        for (age, path) in paths.enumerated() {
            var times = [timeval(tv_sec: 1_000_000 + age * 10, tv_usec: 0), timeval(tv_sec: 1_000_000 + age * 10, tv_usec: 0)]
            _ = utimes(path, &times)
        }
        let capped = CompileCache(directory: directory, capacity: sizes.reduce(0, +) - sizes[0])
        capped.evict()
        #expect(try entryPaths(capped) == Array(paths.dropFirst()))
        // A later compile under the cap rebuilds the dropped kernel and stays within it.
        let (again, _) = try compile(capped)
        #expect(again.cachedFunctionCount == model.functionCount - 1)
        #expect(capped.summary().bytes <= capped.capacity)
    }
}
