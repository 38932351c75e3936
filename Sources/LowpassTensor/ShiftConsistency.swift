import Foundation
import LowpassIR

/// How often a classifier's top-1 class (or a segmenter's class per pixel) survives a shift of its
/// input: the measurements of Zhang's "Making Convolutional Networks Shift-Invariant Again"
/// (antialiased-cnns' `main.py -es` and `-ed`) and of Chaman and Dokmanic's circular shifts,
/// engine-agnostic: `run` maps a batch `[B, C, size, size]` to logits `[B, K]` (or `[B, K, H', W']`).
///
/// Images are `[N, C, size + range, size + range]` already (resized, centre-cropped and normalized by
/// the caller: `prepared`). Random offsets come from `SplitMix64(seed)` in the order documented on each
/// protocol, so another implementation given the same offsets (the `--json` report lists them) finds
/// the same per-image agreements.
public struct ShiftConsistency {
    public var size: Int
    /// Shifts are in `0 ..< range` (32 in the paper: 256-pixel images, 224-pixel crops).
    public var range: Int
    public var batch: Int
    public var seed: UInt64

    /// What a run's output holds per image: logits `[K]` of one class (a classifier), or `[K, H', W']`, a
    /// class per pixel of a map `stride` times smaller than the crop (segmentation: stride 1 mostly).
    public enum Output: Sendable, Equatable {
        case classes
        case pixels(stride: Int)
    }
    public var output: Output

    public init(size: Int, range: Int = 32, batch: Int = 32, seed: UInt64 = 0, output: Output = .classes) {
        (self.size, self.range, self.batch, self.seed, self.output) = (size, range, batch, seed, output)
    }

    public typealias Classifier = (Tensor) throws -> Tensor

    /// Per image and pass, how far the two views agree: 1 or 0 for a classifier's top-1 class, the share
    /// of pixels with the same class over the views' overlap for a dense output; with the offsets used.
    public struct Agreements: Sendable {
        /// `[pass][image]`.
        public var agree: [[Double]]
        /// Per pass and batch, the two offsets `(dy, dx)`.
        public var offsets: [[((Int, Int), (Int, Int))]]
        public var rate: Double {
            let all = agree.flatMap { $0 }
            return all.isEmpty ? 0 : all.reduce(0, +) / Double(all.count)
        }
        /// Half the width of the 95% confidence interval of `rate`, by the normal approximation over
        /// every (image, pass) comparison (for agreements of 0 and 1, the binomial's `rate (1 - rate)`).
        public var interval: Double {
            let all = agree.flatMap { $0 }
            guard !all.isEmpty else { return 0 }
            let variance = max(all.reduce(0) { $0 + $1 * $1 } / Double(all.count) - rate * rate, 0)
            return 1.96 * (variance / Double(all.count)).squareRoot()
        }
    }

    static func share(_ flags: [Bool]) -> Double { flags.isEmpty ? 0 : Double(flags.filter { $0 }.count) / Double(flags.count) }

    /// `main.py -es`: per pass and batch, two offsets, each `(dy, dx)` drawn as `dy = next % range`,
    /// `dx = next % range` (first crop, then second); the two crops of every image in the batch are
    /// classified and compared.
    public func randomShifts(_ images: Tensor, passes: Int, run: Classifier) throws -> Agreements {
        try pairs(images, passes: passes, run: run, circular: false) { first, count, offset in Self.crop(images, first: first, count: count, at: offset, size: size) }
    }

    /// Circular shifts (Chaman and Dokmanic): the centre crop rolled as `torch.roll` does, by two
    /// offsets per batch drawn as in `randomShifts`; a truly shift-invariant network agrees on every image.
    public func circularShifts(_ images: Tensor, passes: Int, run: Classifier) throws -> Agreements {
        try pairs(images, passes: passes, run: run, circular: true) { first, count, offset in
            Self.roll(Self.crop(images, first: first, count: count, at: (range / 2, range / 2), size: size), by: offset)
        }
    }

    /// Per pass and batch, two offsets drawn in the documented order (for a dense output of stride s,
    /// each then rounded down to a multiple of s, so the views' pixels line up), the batch's two views
    /// at them run, and each image's classes compared: the top-1 class, or every pixel where the two
    /// outputs see the same place (`circular`: all of them, the outputs rolled back).
    private func pairs(_ images: Tensor, passes: Int, run: Classifier, circular: Bool,
                       view: (_ first: Int, _ count: Int, _ offset: (Int, Int)) -> Tensor) throws -> Agreements {
        var random = SplitMix64(seed: seed)
        let step: Int
        if case .pixels(let stride) = output { step = stride } else { step = 1 }
        func draw() -> (Int, Int) {
            let (dy, dx) = (Int(random.next() % UInt64(range)), Int(random.next() % UInt64(range)))
            return (dy - dy % step, dx - dx % step)
        }
        var result = Agreements(agree: [], offsets: [])
        for _ in 0..<passes {
            var agree: [Double] = [], offsets: [((Int, Int), (Int, Int))] = []
            for (first, count) in batches(images) {
                let (a, b) = (draw(), draw())
                offsets.append((a, b))
                let (first, second) = (try run(view(first, count, a)), try run(view(first, count, b)))
                if output == .classes {
                    agree += zip(Self.topClasses(first), Self.topClasses(second)).map { $0 == $1 ? 1 : 0 }
                } else {
                    agree += try Self.pixelAgreement(first, second, offsets: (a, b), step: step, circular: circular)
                }
            }
            result.agree.append(agree)
            result.offsets.append(offsets)
        }
        return result
    }

    /// The images in runs of `batch`: (first, count).
    private func batches(_ images: Tensor) -> [(first: Int, count: Int)] {
        stride(from: 0, to: images.shape[0], by: batch).map { ($0, min(batch, images.shape[0] - $0)) }
    }

    /// `main.py -ed`: crops at diagonal offsets `(d, d)` for `d` in `0...range`.
    public struct Diagonal: Sendable {
        /// `[shift][image]`: the softmax probability of the true class (with labels) or of the class
        /// predicted at shift 0 (without).
        public var probability: [[Double]]
        /// `[shift][image]`: the top-1 class.
        public var predicted: [[Int]]
        /// `[shift]`: top-1 accuracy, with labels.
        public var accuracy: [Double]?
        /// The share of images whose top-1 class is the same at every shift.
        public var stable: Double
        public var meanProbability: [Double] { probability.map { $0.reduce(0, +) / Double(max($0.count, 1)) } }
    }

    public func diagonal(_ images: Tensor, labels: [Int]?, run: Classifier) throws -> Diagonal {
        var probability: [[Double]] = [], predicted: [[Int]] = []
        for d in 0...range {
            var p: [Double] = [], top: [Int] = []
            for (first, count) in batches(images) {
                let logits = try run(Self.crop(images, first: first, count: count, at: (d, d), size: size))
                let classes = Self.topClasses(logits)
                top += classes
                let probabilities = Self.softmax(logits)
                for i in 0..<count {
                    let target = labels?[first + i] ?? (predicted.first?[first + i] ?? classes[i])
                    guard target < probabilities[i].count else {
                        throw Diagnostics([Diagnostic(.badOption, "image \(first + i)'s label \(target) is not one of the model's \(probabilities[i].count) classes")])
                    }
                    p.append(probabilities[i][target])
                }
            }
            probability.append(p)
            predicted.append(top)
        }
        let accuracy = labels.map { labels in predicted.map { row in Self.share(zip(row, labels).map { $0 == $1 }) } }
        let stable = Self.share((0..<images.shape[0]).map { i in predicted.allSatisfy { $0[i] == predicted[0][i] } })
        return Diagonal(probability: probability, predicted: predicted, accuracy: accuracy, stable: stable)
    }

    /// Top-1 accuracy on the centre crops.
    public func accuracy(_ images: Tensor, labels: [Int], run: Classifier) throws -> Double {
        var correct: [Bool] = []
        for (first, count) in batches(images) {
            let classes = Self.topClasses(try run(Self.crop(images, first: first, count: count, at: (range / 2, range / 2), size: size)))
            correct += classes.enumerated().map { $1 == labels[first + $0] }
        }
        return Self.share(correct)
    }

    // MARK: Tensors

    /// Images `first ..< first + count`, the `size x size` window at `(dy, dx)`.
    static func crop(_ images: Tensor, first: Int, count: Int, at offset: (Int, Int), size: Int) -> Tensor {
        let (c, h, w) = (images.shape[1], images.shape[2], images.shape[3])
        var out = Tensor(zeros: [count, c, size, size])
        out.withUnsafeMutableBufferPointer { o in
            images.withUnsafeBufferPointer { x in
                for n in 0..<count { for ch in 0..<c { for y in 0..<size {
                    let source = (((first + n) * c + ch) * h + offset.0 + y) * w + offset.1
                    let target = ((n * c + ch) * size + y) * size
                    for i in 0..<size { o[target + i] = x[source + i] }
                } } }
            }
        }
        return out
    }

    /// `torch.roll(x, shifts=(dy, dx), dims=(2, 3))`: element (y, x) moves to ((y + dy) mod H, (x + dx) mod W).
    static func roll(_ images: Tensor, by shift: (Int, Int)) -> Tensor {
        let (h, w) = (images.shape[2], images.shape[3])
        var out = Tensor(zeros: images.shape)
        out.withUnsafeMutableBufferPointer { o in
            images.withUnsafeBufferPointer { x in
                for plane in 0..<(images.shape[0] * images.shape[1]) { for y in 0..<h { for i in 0..<w {
                    o[(plane * h + (y + shift.0) % h) * w + (i + shift.1) % w] = x[(plane * h + y) * w + i]
                } } }
            }
        }
        return out
    }

    /// The first largest logit of each row (NaN counts as largest, as PyTorch's argmax).
    static func topClasses(_ logits: Tensor) -> [Int] {
        let k = logits.count / max(logits.shape[0], 1)
        return (0..<logits.shape[0]).map { n in
            var best = 0
            for j in 1..<max(k, 1) {
                let (v, b) = (logits[n * k + j], logits[n * k + best])
                if !b.isNaN && (v > b || v.isNaN) { best = j }
            }
            return best
        }
    }

    /// Per image, the share of pixels whose classes (the first largest logit over K, NaN largest) agree
    /// where outputs `[B, K, H', W']` of views at offsets `a` and `b` (multiples of `step`, the output's
    /// stride) see the same place: crops overlap where a pixel's place lies in both; rolled maps
    /// (`circular`) everywhere, each output rolled back by its own offset.
    static func pixelAgreement(_ first: Tensor, _ second: Tensor, offsets: ((Int, Int), (Int, Int)), step: Int, circular: Bool) throws -> [Double] {
        let (count, k, h, w) = (first.shape[0], first.shape[1], first.shape[2], first.shape[3])
        let plane = h * w
        func classes(_ output: Tensor, _ n: Int) -> [Int] {
            (0..<plane).map { p in
                var best = 0
                for j in 1..<max(k, 1) {
                    let (v, b) = (output[(n * k + j) * plane + p], output[(n * k + best) * plane + p])
                    if !b.isNaN && (v > b || v.isNaN) { best = j }
                }
                return best
            }
        }
        let (a, b) = offsets
        let (ay, ax, by, bx) = (a.0 / step, a.1 / step, b.0 / step, b.1 / step)
        return try (0..<count).map { n in
            let (x, y) = (classes(first, n), classes(second, n))
            var same = 0, compared = 0
            for r in 0..<h {
                for c in 0..<w {
                    if circular {
                        // Place (r, c) of the unrolled image is at (r + a) mod H' in the first output.
                        same += x[((r + ay) % h) * w + (c + ax) % w] == y[((r + by) % h) * w + (c + bx) % w] ? 1 : 0
                        compared += 1
                    } else {
                        // Pixel (r, c) of the first crop is pixel (r + a - b) of the second.
                        let (r2, c2) = (r + ay - by, c + ax - bx)
                        guard (0..<h).contains(r2), (0..<w).contains(c2) else { continue }
                        same += x[r * w + c] == y[r2 * w + c2] ? 1 : 0
                        compared += 1
                    }
                }
            }
            guard compared > 0 else {
                throw Diagnostics([Diagnostic(.badOption, "the two crops do not overlap: the shift range must be smaller than the output map")])
            }
            return Double(same) / Double(compared)
        }
    }

    static func softmax(_ logits: Tensor) -> [[Double]] {
        let k = logits.count / max(logits.shape[0], 1)
        return (0..<logits.shape[0]).map { n in
            let row = (0..<k).map { Double(logits[n * k + $0]) }
            let top = row.max() ?? 0
            let e = row.map { Foundation.exp($0 - top) }
            let sum = e.reduce(0, +)
            return e.map { $0 / sum }
        }
    }

    /// Images of any size as the protocols need them: the shorter side resized to `size + range`
    /// (bilinear, half-pixel centres, as torchvision's Resize on tensors without antialiasing), the centre
    /// `size + range` square cropped, then each channel `(x - mean) / std`.
    public func prepared(_ images: Tensor, mean: [Double], std: [Double]) -> Tensor {
        let (n, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        let side = size + range
        let scale = Double(side) / Double(min(h, w))
        let (rh, rw) = (h <= w ? side : Int((Double(h) * scale).rounded(.down)), w <= h ? side : Int((Double(w) * scale).rounded(.down)))
        let (top, left) = ((rh - side) / 2, (rw - side) / 2)
        var out = Tensor(zeros: [n, c, side, side])
        out.withUnsafeMutableBufferPointer { o in
            images.withUnsafeBufferPointer { x in
                for plane in 0..<(n * c) {
                    let ch = plane % c
                    let (m, s) = (mean.isEmpty ? 0 : mean[ch % mean.count], std.isEmpty ? 1 : std[ch % std.count])
                    for y in 0..<side { for i in 0..<side {
                        let value: Double
                        if rh == h && rw == w {
                            value = Double(x[(plane * h + top + y) * w + left + i])
                        } else {
                            let sy = max((Double(top + y) + 0.5) * Double(h) / Double(rh) - 0.5, 0)
                            let sx = max((Double(left + i) + 0.5) * Double(w) / Double(rw) - 0.5, 0)
                            let (y0, x0) = (min(Int(sy), h - 1), min(Int(sx), w - 1))
                            let (y1, x1) = (min(y0 + 1, h - 1), min(x0 + 1, w - 1))
                            let (fy, fx) = (sy - Double(y0), sx - Double(x0))
                            func at(_ yy: Int, _ xx: Int) -> Double { Double(x[(plane * h + yy) * w + xx]) }
                            value = (at(y0, x0) * (1 - fx) + at(y0, x1) * fx) * (1 - fy) + (at(y1, x0) * (1 - fx) + at(y1, x1) * fx) * fy
                        }
                        o[(plane * side + y) * side + i] = Float((value - m) / s)
                    } }
                }
            }
        }
        return out
    }
}
