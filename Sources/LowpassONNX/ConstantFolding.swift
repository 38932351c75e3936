import LowpassIR
import LowpassTensor

/// Folds the integer shape arithmetic that exporters emit around Pad and Reshape (torch.onnx writes
/// ReflectionPad2d's pads as ConstantOfShape -> Concat -> Reshape -> Slice(step -1) -> Transpose ->
/// Reshape -> Cast). Every op here works on integer constants of any rank, in row-major order.
extension GraphImporter {
    func foldIntegers(_ node: Onnx_NodeProto, _ a: ONNXAttributes) -> ONNXConstant? {
        let inputs = node.input.map { constants[$0] }
        func ints(_ i: Int) -> (values: [Int], shape: [Int])? {
            guard i < inputs.count, case .ints(let v, let s)? = inputs[i] else { return nil }
            return (v, s)
        }
        switch node.opType {
        case "Gather":
            guard let data = ints(0), let indices = ints(1), data.shape.count <= 1 else { return nil }
            let picked = indices.values.compactMap { i -> Int? in
                let j = i < 0 ? i + data.values.count : i
                return data.values.indices.contains(j) ? data.values[j] : nil
            }
            return picked.count == indices.values.count ? .ints(picked, shape: indices.shape) : nil
        case "Unsqueeze":
            guard let data = ints(0) else { return nil }
            let axes = ints(1)?.values ?? a.ints("axes") ?? [0]
            var shape = data.shape
            for axis in axes.map({ $0 < 0 ? $0 + data.shape.count + axes.count : $0 }).sorted() {
                guard (0...shape.count).contains(axis) else { return nil }
                shape.insert(1, at: axis)
            }
            return .ints(data.values, shape: shape)
        case "Squeeze":
            guard let data = ints(0) else { return nil }
            guard let axes = ints(1)?.values ?? a.ints("axes") else { return .ints(data.values, shape: data.shape.filter { $0 != 1 }) }
            let rank = data.shape.count
            let dropped = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
            guard dropped.allSatisfy({ data.shape.indices.contains($0) && data.shape[$0] == 1 }) else { return nil }
            return .ints(data.values, shape: data.shape.enumerated().filter { !dropped.contains($0.offset) }.map(\.element))
        case "Cast":
            guard let data = ints(0) else { return nil }
            if a.int("to") == Int(ONNXDataType.float.rawValue) {
                return .floats(Tensor(shape: data.shape, values: data.values.map(Float.init)))
            }
            return .ints(data.values, shape: data.shape)
        case "ConstantOfShape":
            guard let shape = ints(0)?.values, shape.allSatisfy({ $0 >= 0 }), let count = Limits.elementCount(shape), count <= 1 << 16 else { return nil }
            if let value = a.values["value"], value.hasT, let fill = try? value.t.constant(directory: directory) {
                switch fill {
                case .ints(let v, _): return .ints(Array(repeating: v.first ?? 0, count: count), shape: shape)
                case .floats(let t): return .floats(Tensor(shape: shape, values: Array(repeating: t.count > 0 ? t[0] : 0, count: count)))
                }
            }
            return .floats(Tensor(shape: shape, values: Array(repeating: 0, count: count)))
        case "Reshape":
            guard let data = ints(0), let target = ints(1)?.values else { return nil }
            let shape = resolveReshape(target, data.shape)
            guard shape.allSatisfy({ $0 >= 0 }), Limits.elementCount(shape) == data.values.count else { return nil }
            return .ints(data.values, shape: shape)
        case "Transpose":
            guard let data = ints(0) else { return nil }
            let rank = data.shape.count
            let perm = a.ints("perm") ?? Array((0..<rank).reversed())
            guard perm.sorted() == Array(0..<rank) else { return nil }
            let shape = perm.map { data.shape[$0] }
            let inStrides = Self.strides(data.shape), outStrides = Self.strides(shape)
            let values = (0..<data.values.count).map { index -> Int in
                var rest = index, source = 0
                for axis in 0..<rank {
                    let c = rest / outStrides[axis]
                    rest -= c * outStrides[axis]
                    source += c * inStrides[perm[axis]]
                }
                return data.values[source]
            }
            return .ints(values, shape: shape)
        case "Slice":
            guard let data = ints(0), let starts = ints(1)?.values, let ends = ints(2)?.values else { return nil }
            let rank = data.shape.count
            let axes = (ints(3)?.values ?? Array(0..<starts.count)).map { $0 < 0 ? $0 + rank : $0 }
            let steps = ints(4)?.values ?? Array(repeating: 1, count: starts.count)
            guard axes.count == starts.count, ends.count == starts.count, steps.count == starts.count,
                  axes.allSatisfy({ (0..<rank).contains($0) }), steps.allSatisfy({ $0 != 0 }) else { return nil }
            var ranges = data.shape.map { Array(0..<$0) }
            for (k, axis) in axes.enumerated() {
                let n = data.shape[axis], step = steps[k]
                func clampIndex(_ i: Int, _ low: Int, _ high: Int) -> Int { min(max(i < 0 ? i + n : i, low), high) }
                if step > 0 {
                    let s = clampIndex(starts[k], 0, n), e = clampIndex(ends[k], 0, n)
                    ranges[axis] = Array(stride(from: s, to: e, by: step))
                } else {
                    let s = clampIndex(starts[k], -1, n - 1), e = clampIndex(ends[k], -1, n - 1)
                    ranges[axis] = Array(stride(from: s, to: e, by: step))
                }
            }
            let shape = ranges.map(\.count)
            let inStrides = Self.strides(data.shape), outStrides = Self.strides(shape)
            let count = shape.reduce(1, *)
            let values = (0..<count).map { index -> Int in
                var rest = index, source = 0
                for axis in 0..<rank {
                    let c = rest / outStrides[axis]
                    rest -= c * outStrides[axis]
                    source += ranges[axis][c] * inStrides[axis]
                }
                return data.values[source]
            }
            return .ints(values, shape: shape)
        case "Concat":
            let parts = (0..<inputs.count).compactMap(ints)
            guard parts.count == inputs.count, let first = parts.first else { return nil }
            let rank = first.shape.count
            let rawAxis = a.int("axis") ?? 0
            let axis = rawAxis < 0 ? rawAxis + rank : rawAxis
            guard (0..<max(rank, 1)).contains(axis), parts.allSatisfy({ $0.shape.count == rank }) else { return nil }
            // Off the axis the parts must agree, and each must hold as many values as its shape says.
            for part in parts {
                guard Limits.elementCount(part.shape) == part.values.count,
                      (0..<rank).allSatisfy({ $0 == axis || part.shape[$0] == first.shape[$0] }) else { return nil }
            }
            if rank <= 1 { return .ints(parts.flatMap(\.values), shape: [parts.reduce(0) { $0 + $1.values.count }]) }
            let outer = first.shape[..<axis].reduce(1, *)
            var values: [Int] = []
            for row in 0..<outer {
                for part in parts {
                    let chunk = part.shape[axis...].reduce(1, *)
                    values += part.values[(row * chunk)..<((row + 1) * chunk)]
                }
            }
            var shape = first.shape
            shape[axis] = parts.reduce(0) { $0 + $1.shape[axis] }
            return .ints(values, shape: shape)
        default:
            return nil
        }
    }

    static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in stride(from: shape.count - 2, through: 0, by: -1) { strides[axis] = strides[axis + 1] * shape[axis + 1] }
        return strides
    }
}
