import Foundation
import LowpassIR

/// Element-wise, broadcasting and data-movement ops of the reference interpreter.
extension ReferenceKernels {

    /// Maps a linear index of `outShape` to the linear index of a tensor of `shape` broadcast to it.
    static func broadcastIndexer(_ shape: [Int], to outShape: [Int]) -> (Int) -> Int {
        let padded = [Int](repeating: 1, count: outShape.count - shape.count) + shape
        let sourceStrides = rowMajorStrides(padded).enumerated().map { padded[$0] == 1 ? 0 : $1 }
        let outStrides = rowMajorStrides(outShape)
        return { index in
            var rest = index, source = 0
            for axis in 0..<outShape.count {
                let coordinate = rest / max(outStrides[axis], 1)
                rest -= coordinate * outStrides[axis]
                source += coordinate * sourceStrides[axis]
            }
            return source
        }
    }

    /// An element-wise op: its expression evaluated in double for every output element, each input
    /// broadcast to the output shape.
    static func elementwise(_ expression: ScalarExpression, _ inputs: [Tensor], _ outShape: [Int]) -> Tensor {
        let indexers = inputs.map { $0.shape == outShape ? { $0 } : broadcastIndexer($0.shape, to: outShape) }
        var values = [Double](repeating: 0, count: inputs.count)
        return Tensor(shape: outShape) { index in
            for k in inputs.indices { values[k] = Double(inputs[k][indexers[k](index)]) }
            return Float(expression.evaluate(values))
        }
    }

    /// Every input element folded into the output element it reduces to, in double.
    static func reduce(_ reduction: Reduction, _ input: Tensor, _ outShape: [Int]) -> Tensor {
        let shape = input.shape
        // The output in its keepdims form, so that its strides line up with the input's axes.
        let kept = shape.enumerated().map { reduction.axes.contains($0.offset) ? 1 : $0.element }
        let keptStrides = rowMajorStrides(kept)
        var accumulators = [Double](repeating: reduction.identity, count: Swift.max(kept.reduce(1, *), 0))
        let count = reduction.axes.map { shape[$0] }.reduce(1, *)
        for index in 0..<input.count {
            var rest = index, target = 0
            for axis in stride(from: shape.count - 1, through: 0, by: -1) {
                let c = rest % shape[axis]
                rest /= shape[axis]
                if !reduction.axes.contains(axis) { target += c * keptStrides[axis] }
            }
            accumulators[target] = reduction.combine(accumulators[target], Double(input[index]))
        }
        return Tensor(shape: outShape, values: accumulators.map { Float(reduction.finish($0, count: count)) })
    }

    /// Each row normalized over its elements in double, then scaled and shifted: by Scale and B broadcast
    /// to the normalized shape (LayerNormalization) or by the row's channel's (InstanceNormalization).
    static func layerNorm(_ node: Node, _ x: [Tensor], _ outShape: [Int]) throws(NodeError) -> Tensor {
        let (rows, length, affine) = try node.normalizationRows(shape: x[0].shape)
        let epsilon = try node.float("epsilon")
        let normalized = affine == nil ? try node.layerNormRows(shape: x[0].shape).normalized : []
        let scale = affine == nil ? elementwise(.x, [x[1]], normalized) : x[1]
        let bias = x.count > 2 ? (affine == nil ? elementwise(.x, [x[2]], normalized) : x[2]) : nil
        var out = Tensor(zeros: outShape)
        out.withUnsafeMutableBufferPointer { o in
            for row in 0..<rows {
                let values = (0..<length).map { Double(x[0][row * length + $0]) }
                let mean = values.reduce(0, +) / Double(length)
                let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(length)
                let inverse = 1 / (variance + epsilon).squareRoot()
                for j in 0..<length {
                    let k = affine?.channel(row: row, element: j) ?? j
                    o[row * length + j] = Float((values[j] - mean) * inverse * Double(scale[k]) + Double(bias?[k] ?? 0))
                }
            }
        }
        return out
    }

    /// Each output pixel from the one (nearest) or four (bilinear) input pixels its `ResizeAxis` entries name.
    static func resize(_ node: Node, _ input: Tensor, _ outShape: [Int]) throws(NodeError) -> Tensor {
        let (rows, columns, _) = try node.resizeAxes(input: input.shape)
        let (height, width, outHeight, outWidth) = (input.shape[2], input.shape[3], outShape[2], outShape[3])
        return Tensor(shape: outShape) { index in
            let x = index % outWidth, y = index / outWidth % outHeight, plane = index / (outWidth * outHeight)
            func pixel(_ r: Int, _ c: Int) -> Double { Double(input[(plane * height + r) * width + c]) }
            let (wy, wx) = (rows.weight[y], columns.weight[x])
            let top = pixel(rows.lower[y], columns.lower[x]) * (1 - wx) + pixel(rows.lower[y], columns.upper[x]) * wx
            let bottom = pixel(rows.upper[y], columns.lower[x]) * (1 - wx) + pixel(rows.upper[y], columns.upper[x]) * wx
            return Float(top * (1 - wy) + bottom * wy)
        }
    }

    /// Every input pixel scattered through every tap into the output pixel it reaches, in double.
    static func convTranspose(_ node: Node, _ x: [Tensor], _ outShape: [Int]) throws(NodeError) -> Tensor {
        let (input, weight) = (x[0], x[1])
        let g = try node.transposedConvGeometry(input: input.shape, weightShape: weight.shape)
        let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (kh, kw) = (weight.shape[2], weight.shape[3]), perGroup = weight.shape[1], cPerGroup = channels / g.groups
        let (outH, outW) = (outShape[2], outShape[3])
        var out = [Double](repeating: 0, count: outShape.reduce(1, *))
        for n in 0..<batch {
            for c in 0..<channels {
                let group = c / cPerGroup
                for iy in 0..<height { for ix in 0..<width {
                    let value = Double(input[((n * channels + c) * height + iy) * width + ix])
                    for j in 0..<perGroup {
                        let m = group * perGroup + j
                        for ky in 0..<kh {
                            let oy = iy * g.window.strides[0] - g.window.pads[0] + ky * g.window.dilations[0]
                            guard oy >= 0 && oy < outH else { continue }
                            for kx in 0..<kw {
                                let ox = ix * g.window.strides[1] - g.window.pads[1] + kx * g.window.dilations[1]
                                guard ox >= 0 && ox < outW else { continue }
                                out[((n * g.filters + m) * outH + oy) * outW + ox] += value * Double(weight[((c * perGroup + j) * kh + ky) * kw + kx])
                            }
                        }
                    }
                } }
            }
        }
        if x.count > 2 {
            for i in out.indices { out[i] += Double(x[2][i / (outH * outW) % g.filters]) }
        }
        return Tensor(shape: outShape, values: out.map(Float.init))
    }

    static func concat(_ node: Node, _ inputs: [Tensor], _ outShape: [Int]) throws(NodeError) -> Tensor {
        let rank = outShape.count
        let axis = try node.axis(rank: rank)
        let outer = outShape[..<axis].reduce(1, *)
        var out = Tensor(zeros: outShape)
        out.withUnsafeMutableBufferPointer { o in
            var offset = 0
            let rowSize = outShape[axis...].reduce(1, *)
            for input in inputs {
                let chunk = input.shape[axis...].reduce(1, *)
                for row in 0..<outer {
                    for i in 0..<chunk { o[row * rowSize + offset + i] = input[row * chunk + i] }
                }
                offset += chunk
            }
        }
        return out
    }

    /// ONNX Pad: `reflect` mirrors without repeating the edge (NumPy's reflect), `edge` repeats it, `wrap`
    /// continues from the opposite edge.
    static func pad(_ node: Node, _ input: Tensor, _ outShape: [Int]) throws(NodeError) -> Tensor {
        let pads = try node.ints("pads")
        let mode = try node.string("mode")
        let value = Float(try node.float("value"))
        let rank = input.rank
        let inStrides = rowMajorStrides(input.shape), outStrides = rowMajorStrides(outShape)
        return Tensor(shape: outShape) { index in
            var rest = index, source = 0
            for axis in 0..<rank {
                let coordinate = rest / outStrides[axis]
                rest -= coordinate * outStrides[axis]
                var i = coordinate - pads[axis]
                let size = input.shape[axis]
                if i < 0 || i >= size {
                    switch mode {
                    case "reflect": i = i < 0 ? -i : 2 * (size - 1) - i
                    case "edge": i = min(max(i, 0), size - 1)
                    case "wrap": i = (i % size + size) % size
                    default: return value
                    }
                }
                source += i * inStrides[axis]
            }
            return input[source]
        }
    }

    static func softmax(_ node: Node, _ input: Tensor, logarithm: Bool) throws(NodeError) -> Tensor {
        let axis = try node.axis(rank: input.rank)
        let size = input.shape[axis], inner = input.shape[(axis + 1)...].reduce(1, *)
        var out = Tensor(zeros: input.shape)
        out.withUnsafeMutableBufferPointer { o in
            for outer in 0..<(input.count / max(size * inner, 1)) {
                for j in 0..<inner {
                    let base = outer * size * inner + j
                    var largest = -Double.infinity
                    for i in 0..<size { largest = max(largest, Double(input[base + i * inner])) }
                    var sum = 0.0
                    for i in 0..<size { sum += exp(Double(input[base + i * inner]) - largest) }
                    for i in 0..<size {
                        let shifted = Double(input[base + i * inner]) - largest
                        o[base + i * inner] = Float(logarithm ? shifted - log(sum) : exp(shifted) / sum)
                    }
                }
            }
        }
        return out
    }
}
