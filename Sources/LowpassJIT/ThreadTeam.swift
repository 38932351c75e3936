import Foundation
import Synchronization

/// The threads a compiled model runs its kernels on: the caller and `helpers` threads of its own that
/// live as long as the model. A kernel call is cut into chunks of work items that every thread claims
/// from one counter, so a thread the system slows down or deschedules takes fewer chunks instead of
/// holding the others at the end (the last chunk is the most anyone waits for).
///
/// Why not `DispatchQueue.concurrentPerform`: each call asks libdispatch's shared pool for threads,
/// which sleep between calls. On a 2-core virtual machine a sleeping core wakes in tens of
/// microseconds, and a model is 60-200 calls; and when the pool judges the machine busy it hands out
/// no second thread at all, so a whole run goes single-threaded (runs 1.5x apart in one benchmark).
/// Here the helpers wait for the next call spinning briefly, then yielding the core (so a thread the
/// system put on the same core still runs), then asleep on a condition once the model has been idle
/// for `sleepAfter`, so between runs they cost nothing.
final class ThreadTeam: @unchecked Sendable {
    /// One kernel call: `function` over items `first ..< first + items` in `chunks` chunks.
    struct Job {
        var function: KernelFunction
        var arguments: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>
        var first: Int, items: Int, chunks: Int
        var scratch: UnsafeMutablePointer<Float>
        var scratchFloats: Int
    }

    /// Spinning before yielding, and yielding before sleeping.
    static let spinFor: UInt64 = 50_000, sleepAfter: UInt64 = 5_000_000

    let helpers: Int
    /// Written by `run` before `generation` is bumped, read by helpers after they see the bump.
    private var job: Job?
    private let generation = Atomic<Int>(0)
    private let nextChunk = Atomic<Int>(0)
    /// Helpers still working on the current job.
    private let busy = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let wakeUp = NSCondition()

    /// Starts the helpers. They hold the team until `stop()`, which its owner calls when done with it.
    init(helpers: Int) {
        self.helpers = helpers
        for index in 0..<helpers {
            let thread = Thread { self.helperLoop(worker: index + 1) }
            thread.name = "lowpass-\(index + 1)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Lets the helpers end; `run` must not be called afterwards.
    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        wakeUp.lock()
        wakeUp.broadcast()
        wakeUp.unlock()
    }

    /// Runs `job` on the caller and every helper; returns when all its chunks are done.
    func run(_ job: Job) {
        self.job = job
        nextChunk.store(0, ordering: .relaxed)
        busy.store(helpers, ordering: .relaxed)
        generation.add(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            wakeUp.lock()
            wakeUp.broadcast()
            wakeUp.unlock()
        }
        work(job, worker: 0)
        // At most one chunk per helper is left: spin, yielding so a helper sharing this core finishes it.
        var spins = 0
        while busy.load(ordering: .acquiring) > 0 {
            spins += 1
            if spins > 64 { sched_yield() }
        }
    }

    private func work(_ job: Job, worker: Int) {
        let scratch = job.scratch + worker * job.scratchFloats
        while true {
            let chunk = nextChunk.wrappingAdd(1, ordering: .relaxed).oldValue
            guard chunk < job.chunks else { return }
            job.function(job.arguments, Int64(job.first + chunk * job.items / job.chunks),
                         Int64(job.first + (chunk + 1) * job.items / job.chunks), scratch)
        }
    }

    private func helperLoop(worker: Int) {
        var seen = 0
        while true {
            let start = DispatchTime.now().uptimeNanoseconds
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                if stopping.load(ordering: .relaxed) { return }
                spins += 1
                guard spins & 255 == 0 else { continue }
                let waited = DispatchTime.now().uptimeNanoseconds - start
                if waited < Self.spinFor { continue }
                if waited < Self.sleepAfter { sched_yield(); continue }
                wakeUp.lock()
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen && !stopping.load(ordering: .sequentiallyConsistent) { wakeUp.wait() }
                sleepers.subtract(1, ordering: .relaxed)
                wakeUp.unlock()
            }
            seen = generation.load(ordering: .acquiring)
            if let job { work(job, worker: worker) }
            busy.subtract(1, ordering: .releasing)
        }
    }
}

/// A value several threads use: a pointer each writes its own elements through, or a closure or
/// kernels they only read.
struct Shared<Pointer>: @unchecked Sendable {
    let value: Pointer
    init(_ value: Pointer) { self.value = value }
}

/// `body(0..<count)` on every core, for weight packing: chunks of work so small counts stay serial.
func concurrentPerform(_ count: Int, _ body: (Int) -> Void) {
    let chunks = min(count, ProcessInfo.processInfo.activeProcessorCount * 4)
    guard chunks > 1 else { return (0..<count).forEach(body) }
    withoutActuallyEscaping(body) { body in
        let shared = Shared(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            for i in (chunk * count / chunks)..<((chunk + 1) * count / chunks) { shared.value(i) }
        }
    }
}
