import Foundation
import LowpassIR

/// A pointer shared by the threads of `concurrentPerform`, each of which writes its own part.
struct Shared: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}

/// One function per op, each the textbook definition. Shapes were checked by the verifier; the
/// output shape comes from shape inference, so kernels and shape rules cannot drift apart silently.
enum ReferenceKernels {
    static func evaluate(_ node: Node, _ x: [Tensor], outputShape: [Int]) throws(NodeError) -> Tensor {
        switch node.op {
        case .conv: return try conv(node, x, outputShape)
        case .maxPool, .averagePool: return try pool(node, x[0], outputShape)
        case .blurPool: return try blurPool(node, x[0], outputShape)
        case .polyphaseIndex: return try polyphaseIndex(node, x[0], outputShape)
        case .polyphaseSelect: return try polyphaseSelect(node, x[0], x[1], outputShape)
        case .globalAveragePool: return globalAveragePool(x[0], outputShape)
        case .adaptiveAveragePool: return adaptiveAveragePool(x[0], outputShape)
        case .batchNormalization: return try batchNorm(node, x, outputShape)
        case .gemm: return try gemm(node, x, outputShape)
        case .matMul: return matMul(x[0], x[1], outputShape)
        case .relu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .leakyRelu, .elu, .selu, .celu, .gelu, .mish, .softplus, .tanh,
             .neg, .abs, .reciprocal, .sqrt, .exp, .log, .erf, .floor, .ceil, .sin, .cos, .add, .sub, .mul, .div, .pow, .prelu, .max, .min, .sum, .mean:
            return elementwise(try node.scalarExpression(), x, outputShape)
        case .identity, .dropout, .flatten, .reshape, .squeeze, .unsqueeze: return x[0].reshaped(outputShape)
        case .transpose, .slice, .expand, .tile, .depthToSpace, .spaceToDepth:
            let view = try node.stridedView(input: x[0].shape)
            return Tensor(shape: outputShape) { x[0][view.source(of: $0)] }
        case .layerNormalization, .instanceNormalization, .groupNormalization: return try layerNorm(node, x, outputShape)
        case .resize: return try resize(node, x[0], outputShape)
        case .gather:
            let s = x[0].shape
            let (axis, indices, _) = try node.gatherIndices(rank: s.count, axisSize: s[try node.axis(rank: s.count)])
            let inner = s[(axis + 1)...].reduce(1, *), count = indices.count
            return Tensor(shape: outputShape) { i in
                let (outer, k, j) = (i / (count * inner), i / inner % count, i % inner)
                return x[0][(outer * s[axis] + indices[k]) * inner + j]
            }
        case .convTranspose: return try convTranspose(node, x, outputShape)
        case .reduceMean, .reduceSum, .reduceMax, .reduceMin, .reduceL2:
            return reduce(try node.reduction(rank: x[0].rank), x[0], outputShape)
        case .argMax, .argMin:
            let s = x[0].shape, r = try node.indexReduction(rank: s.count)
            let (size, inner) = (s[r.axis], s[(r.axis + 1)...].reduce(1, *))
            return Tensor(shape: outputShape) { i in
                let base = i / inner * size * inner + i % inner
                var best = 0
                for k in 1..<size where r.replaces(x[0][base + best * inner], with: x[0][base + k * inner]) { best = k }
                return Float(best)
            }
        case .concat: return try concat(node, x, outputShape)
        case .pad: return try pad(node, x[0], outputShape)
        case .softmax, .logSoftmax: return try softmax(node, x[0], logarithm: node.op == .logSoftmax)
        }
    }

    /// Direct convolution, one output plane at a time: the plane accumulates in double, tap by tap,
    /// over the output rows and columns whose input position falls inside the image. Planes are
    /// independent, so both cores share them.
    static func conv(_ node: Node, _ x: [Tensor], _ outShape: [Int]) throws(NodeError) -> Tensor {
        let (input, weight) = (x[0], x[1])
        let g = try node.convGeometry(weightShape: weight.shape.map(Dim.fixed))
        let groups = try node.int("group")
        let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (filters, outH, outW) = (outShape[1], outShape[2], outShape[3])
        let (kh, kw) = (g.kernel[0], g.kernel[1])
        let (sy, sx, dy, dx) = (g.strides[0], g.strides[1], g.dilations[0], g.dilations[1])
        let (cPerGroup, mPerGroup) = (channels / groups, filters / groups)
        let bias = x.count > 2 ? x[2] : nil
        let out = Tensor(zeros: outShape)
        let (xi, w, o) = (Shared(input.buffer.pointer), Shared(weight.buffer.pointer), Shared(out.buffer.pointer))
        let biasValues = bias.map { b in (0..<filters).map { Double(b[$0]) } }
        DispatchQueue.concurrentPerform(iterations: batch * filters) { plane in
            let (n, m) = (plane / filters, plane % filters)
            let group = m / mPerGroup
            var accumulator = [Double](repeating: biasValues?[m] ?? 0, count: outH * outW)
            accumulator.withUnsafeMutableBufferPointer { acc in
                for c in 0..<cPerGroup {
                    let source = xi.pointer + (n * channels + group * cPerGroup + c) * height * width
                    for ky in 0..<kh {
                        let rows = validRange(ky, stride: sy, pad: g.pads[0], dilation: dy, size: height, count: outH)
                        for kx in 0..<kw {
                            let columns = validRange(kx, stride: sx, pad: g.pads[1], dilation: dx, size: width, count: outW)
                            let tap = Double(w.pointer[((m * cPerGroup + c) * kh + ky) * kw + kx])
                            for oy in rows {
                                let row = source + (oy * sy - g.pads[0] + ky * dy) * width + (kx * dx - g.pads[1])
                                let target = oy * outW
                                for ox in columns { acc[target + ox] += tap * Double(row[ox * sx]) }
                            }
                        }
                    }
                }
            }
            let destination = o.pointer + plane * outH * outW
            for i in 0..<(outH * outW) { destination[i] = Float(accumulator[i]) }
        }
        return out
    }

    /// Output indices o in 0..<count with 0 <= o*stride - pad + k*dilation < size.
    static func validRange(_ k: Int, stride: Int, pad: Int, dilation: Int, size: Int, count: Int) -> Range<Int> {
        let offset = k * dilation - pad
        let low = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let high = size - offset <= 0 ? 0 : min(count, (size - 1 - offset) / stride + 1)
        return low..<max(low, high)
    }

    /// MaxPool ignores padding; AveragePool divides by the window's valid cells, or, with
    /// count_include_pad, by its cells inside the padded input (PyTorch's and ONNX's rule).
    static func pool(_ node: Node, _ input: Tensor, _ outShape: [Int]) throws(NodeError) -> Tensor {
        let g = try node.poolGeometry()
        let isMax = node.op == .maxPool
        let countIncludePad = isMax ? 0 : try node.int("count_include_pad")
        let includePad = countIncludePad != 0
        let (height, width) = (input.shape[2], input.shape[3])
        let (outH, outW) = (outShape[2], outShape[3])
        var out = Tensor(zeros: outShape)
        out.withUnsafeMutableBufferPointer { o in
            let xi = input.buffer.pointer
            for plane in 0..<(outShape[0] * outShape[1]) {
                for oy in 0..<outH {
                    for ox in 0..<outW {
                        let y0 = oy * g.strides[0] - g.pads[0], x0 = ox * g.strides[1] - g.pads[1]
                        var best = -Double.infinity, sum = 0.0, valid = 0
                        for ky in 0..<g.kernel[0] {
                            let iy = y0 + ky * g.dilations[0]
                            guard iy >= 0 && iy < height else { continue }
                            for kx in 0..<g.kernel[1] {
                                let ix = x0 + kx * g.dilations[1]
                                guard ix >= 0 && ix < width else { continue }
                                let v = Double(xi[(plane * height + iy) * width + ix])
                                best = v.isNaN ? v : max(best, v)  // NaN wins, as in PyTorch; max keeps a NaN `best`
                                sum += v
                                valid += 1
                            }
                        }
                        let value: Double
                        if isMax {
                            value = best
                        } else if includePad {
                            let yEnd = min(y0 + g.kernel[0], height + g.pads[2]), xEnd = min(x0 + g.kernel[1], width + g.pads[3])
                            value = sum / Double(max((yEnd - y0) * (xEnd - x0), 1))
                        } else {
                            value = valid > 0 ? sum / Double(valid) : 0
                        }
                        o[(plane * outH + oy) * outW + ox] = Float(value)
                    }
                }
            }
        }
        return out
    }

    /// BlurPool exactly as the reference: pad (reflect, replicate or zero), convolve every channel with
    /// the normalized binomial filter, keep every stride-th output.
    static func blurPool(_ node: Node, _ input: Tensor, _ outShape: [Int]) throws(NodeError) -> Tensor {
        let spec = try node.blurPoolSpec()
        let taps = spec.taps
        let (height, width) = (input.shape[2], input.shape[3])
        let (outH, outW) = (outShape[2], outShape[3])
        /// The input index a padded coordinate reads, or nil for a zero.
        func source(_ i: Int, _ size: Int) -> Int? {
            if i >= 0 && i < size { return i }
            switch spec.padMode {
            case .zero: return nil
            case .replicate: return min(max(i, 0), size - 1)
            case .reflect: return i < 0 ? -i : 2 * (size - 1) - i
            case .circular: return (i % size + size) % size
            }
        }
        var out = Tensor(zeros: outShape)
        out.withUnsafeMutableBufferPointer { o in
            let xi = input.buffer.pointer
            for plane in 0..<(outShape[0] * outShape[1]) {
                for oy in 0..<outH {
                    for ox in 0..<outW {
                        var sum = 0.0
                        for (ky, ty) in taps.enumerated() {
                            guard let iy = source(oy * spec.strides[0] - spec.pads[0] + ky, height) else { continue }
                            for (kx, tx) in taps.enumerated() {
                                guard let ix = source(ox * spec.strides[1] - spec.pads[1] + kx, width) else { continue }
                                sum += ty * tx * Double(xi[(plane * height + iy) * width + ix])
                            }
                        }
                        o[(plane * outH + oy) * outW + ox] = Float(sum)
                    }
                }
            }
        }
        return out
    }

    /// Adaptive polyphase sampling's choice: the component with the largest sum of squares (or of
    /// absolute values), summed in double; the first of equals wins.
    static func polyphaseIndex(_ node: Node, _ input: Tensor, _ outShape: [Int]) throws(NodeError) -> Tensor {
        let (channels, height, width) = (input.shape[1], input.shape[2], input.shape[3])
        let grid = try node.polyphaseGrid(height: height, width: width)
        let norm = try node.polyphaseNorm()
        return Tensor(shape: outShape) { n in
            var best = 0, bestValue = -Double.infinity
            for k in 0..<grid.components {
                let (i, j) = grid.origin(of: k)
                var total = 0.0
                for c in 0..<channels {
                    for r in 0..<grid.outputHeight {
                        let row = ((n * channels + c) * height + grid.source(r, origin: i, axis: 0)) * width
                        for q in 0..<grid.outputWidth {
                            let v = Double(input[row + grid.source(q, origin: j, axis: 1)])
                            total += norm == .l2 ? v * v : Swift.abs(v)
                        }
                    }
                }
                if total > bestValue { (best, bestValue) = (k, total) }
            }
            return Float(best)
        }
    }

    /// Each sample's chosen polyphase component.
    static func polyphaseSelect(_ node: Node, _ input: Tensor, _ index: Tensor, _ outShape: [Int]) throws(NodeError) -> Tensor {
        let (channels, height, width) = (input.shape[1], input.shape[2], input.shape[3])
        let grid = try node.polyphaseGrid(height: height, width: width)
        let (outH, outW) = (outShape[2], outShape[3])
        return Tensor(shape: outShape) { o in
            let (n, c, r, q) = (o / (channels * outH * outW), o / (outH * outW) % channels, o / outW % outH, o % outW)
            let (i, j) = grid.origin(of: grid.component(index[n]))
            return input[((n * channels + c) * height + grid.source(r, origin: i, axis: 0)) * width + grid.source(q, origin: j, axis: 1)]
        }
    }

    static func globalAveragePool(_ input: Tensor, _ outShape: [Int]) -> Tensor {
        let area = input.shape[2] * input.shape[3]
        return Tensor(shape: outShape) { plane in
            var sum = 0.0
            for i in 0..<area { sum += Double(input[plane * area + i]) }
            return Float(sum / Double(max(area, 1)))
        }
    }

    static func adaptiveAveragePool(_ input: Tensor, _ outShape: [Int]) -> Tensor {
        let (height, width) = (input.shape[2], input.shape[3])
        let (outH, outW) = (outShape[2], outShape[3])
        return Tensor(shape: outShape) { index in
            let plane = index / (outH * outW), oy = (index / outW) % outH, ox = index % outW
            let (y0, y1) = (oy * height / outH, ((oy + 1) * height + outH - 1) / outH)
            let (x0, x1) = (ox * width / outW, ((ox + 1) * width + outW - 1) / outW)
            var sum = 0.0
            for y in y0..<y1 { for x in x0..<x1 { sum += Double(input[(plane * height + y) * width + x]) } }
            return Float(sum / Double((y1 - y0) * (x1 - x0)))
        }
    }

    static func batchNorm(_ node: Node, _ x: [Tensor], _ outShape: [Int]) throws(NodeError) -> Tensor {
        let affine = try BatchNormAffine(node) { i throws(NodeError) in x[i] }
        let channels = outShape[1]
        let inner = outShape[2...].reduce(1, *)
        return Tensor(shape: outShape) { i in
            let c = (i / inner) % channels
            return Float(Double(x[0][i]) * affine.scale[c] + affine.offset[c])
        }
    }

    static func gemm(_ node: Node, _ x: [Tensor], _ outShape: [Int]) throws(NodeError) -> Tensor {
        let (alpha, beta) = (try node.float("alpha"), try node.float("beta"))
        let (transA, transB) = (try node.int("transA") != 0, try node.int("transB") != 0)
        let (a, b) = (x[0], x[1])
        let (m, n) = (outShape[0], outShape[1])
        let k = transA ? a.shape[0] : a.shape[1]
        let c = x.count > 2 ? elementwise(.x, [x[2]], outShape) : nil
        return Tensor(shape: outShape) { index in
            let (i, j) = (index / n, index % n)
            var sum = 0.0
            for p in 0..<k {
                let av = transA ? a[p * m + i] : a[i * k + p]
                let bv = transB ? b[j * k + p] : b[p * n + j]
                sum += Double(av) * Double(bv)
            }
            return Float(alpha * sum + beta * Double(c?[index] ?? 0))
        }
    }

    static func matMul(_ a: Tensor, _ b: Tensor, _ outShape: [Int]) -> Tensor {
        let (m, k, n) = (a.shape[a.rank - 2], a.shape[a.rank - 1], b.shape[b.rank - 1])
        let batchShape = Array(outShape.dropLast(2))
        let aBatch = broadcastIndexer(Array(a.shape.dropLast(2)), to: batchShape)
        let bBatch = broadcastIndexer(Array(b.shape.dropLast(2)), to: batchShape)
        return Tensor(shape: outShape) { index in
            let batch = index / (m * n), i = (index / n) % m, j = index % n
            let aBase = aBatch(batch) * m * k, bBase = bBatch(batch) * k * n
            var sum = 0.0
            for p in 0..<k { sum += Double(a[aBase + i * k + p]) * Double(b[bBase + p * n + j]) }
            return Float(sum)
        }
    }
}
