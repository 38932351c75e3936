/// Which kernels run image by image. Kernel by kernel over the whole batch, a network's first stages
/// stream their activations through memory: at batch 8, antialiased ResNet-50's 56x56 stage writes
/// 26 MB tensors, which no last-level cache keeps for the next kernel, and its 1x1 convs ran markedly
/// slower than at batch 1 (docs/performance.md, "Where the JIT's thresholds come from"). Those stages have small weights, so they run image by image
/// instead: kernels `kernels` for image 0, then for image 1, and so on, each image's activations
/// staying in cache from producer to consumer. Later stages, whose weights are large and activations
/// small, run over the whole batch so each weight is read once for all images.
///
/// A buffer written and read only inside the image-by-image kernels holds one image (`perImage`): the
/// images take turns in it, and it stays in cache across them. The others keep the whole batch.
struct ImageSchedule {
    /// Images the batch splits into: 1 where everything runs over the whole batch.
    var images: Int
    /// The kernels run image by image: a prefix of the model's kernels, possibly empty.
    var kernels: Range<Int>
    /// Buffers that hold one image: written and read only by `kernels`.
    var perImage: Set<Int>

    /// Weights up to this size are re-read per image cheaply: they stay in L2 or L3 across images. The
    /// first conv with larger weights ends the prefix: in antialiased ResNet-50, the third stage's
    /// Winograd 3x3 (4.2 MB of transformed weights), after the 56x56 and 28x28 stages. A limit of 1 MB,
    /// ending it at the second stage's Winograd 3x3 (1.05 MB), ran as fast at batch 8 (6 alternating
    /// runs), with an arena of 55 MB instead of 30 (84 MB kernel by kernel).
    static let weightBytesPerImage = 2 << 20

    /// The longest prefix of image-major kernels (`Kernel.images`, all the batch's) whose weights are
    /// small; none at batch 1.
    init(_ model: LoweredModel) {
        let batch = model.kernels.first?.images ?? 1
        var end = 0
        if batch > 1 {
            while end < model.kernels.count, model.kernels[end].images == batch,
                  model.constantBytes(of: model.kernels[end]) <= Self.weightBytesPerImage {
                end += 1
            }
        }
        if end < 2 { end = 0 }  // one kernel alone keeps nothing in cache for a next one
        images = end > 0 ? batch : 1
        kernels = 0..<end
        var inside = Set<Int>(), outside = Set(model.inputs.map(\.buffer) + model.outputs.map(\.buffer))
        for (index, kernel) in model.kernels.enumerated() {
            for case .buffer(let b) in kernel.arguments + [.buffer(kernel.output)] {
                if kernels.contains(index) { inside.insert(b) } else { outside.insert(b) }
            }
        }
        let images = images
        perImage = inside.subtracting(outside).filter { model.buffers[$0].shape.first == images }
    }

    /// Floats buffer `buffer` takes in the arena: one image's for a per-image buffer, else all of it.
    func floats(of buffer: Int, in model: LoweredModel) -> Int {
        model.buffers[buffer].elements / (perImage.contains(buffer) ? images : 1)
    }

    /// The work items, out of `workItems`, that compute image `image`.
    func items(_ workItems: Int, image: Int) -> Range<Int> {
        (image * workItems / images)..<((image + 1) * workItems / images)
    }
}

extension LoweredModel {
    /// Bytes of the compile-time constants and parameters a kernel reads (weights, biases, scales).
    func constantBytes(of kernel: any Kernel) -> Int {
        kernel.arguments.reduce(0) { sum, argument in
            switch argument {
            case .buffer: sum
            case .constant(let c): sum + 4 * constants[c].count
            case .weight(let name): sum + 4 * (weights.tensors[name]?.count ?? 0)
            }
        }
    }
}
