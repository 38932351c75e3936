import LowpassIR
import LowpassTensor

/// Folds the integer shape arithmetic that exporters emit around Pad and Reshape (torch.onnx writes
/// ReflectionPad2d's pads as ConstantOfShape -> Concat -> Reshape -> Slice(step -1) -> Transpose ->
/// Reshape -> Cast). Every op here works on integer constants of any rank, in row-major order.
extension GraphImporter {
    func foldIntegers(_ node: Onnx_NodeProto, _ a: ONNXAttributes) -> ONNXConstant? {
        let inputs: [IntegerTensor?] = node.input.map { name in
            guard case .ints(let values, let shape)? = constants[name] else { return nil }
            return IntegerTensor(values: values, shape: shape)
        }
        func input(_ i: Int) -> IntegerTensor? { i < inputs.count ? inputs[i] : nil }
        let result: IntegerTensor?
        switch node.opType {
        case "Gather": result = input(0).flatMap { data in input(1).flatMap { data.gathered($0) } }
        case "Unsqueeze": result = input(0).flatMap { $0.unsqueezed(input(1)?.values ?? a.ints("axes") ?? [0]) }
        case "Squeeze": result = input(0).flatMap { $0.squeezed(input(1)?.values ?? a.ints("axes")) }
        case "Cast":
            let toFloat = a.int("to") == Int(ONNXDataType.float.rawValue) || a.int("to") == Int(ONNXDataType.double.rawValue)
            if case .floats(let tensor)? = constants[node.input.first ?? ""] {
                // Float to integer truncates toward zero, as NumPy's astype does.
                guard !toFloat else { return .floats(tensor) }
                guard tensor.values.allSatisfy({ $0.isFinite && abs($0) < 1e18 }) else { return nil }
                return .ints(tensor.values.map { Int(Double($0).rounded(.towardZero)) }, shape: tensor.shape)
            }
            guard let data = input(0) else { return nil }
            if toFloat { return .floats(Tensor(shape: data.shape, values: data.values.map(Float.init))) }
            result = data
        case "ConstantOfShape": return constantOfShape(input(0), a)
        case "Reshape":
            guard let data = input(0), let target = input(1)?.values else { return nil }
            let shape = resolveReshape(target, data.shape)
            guard shape.allSatisfy({ $0 >= 0 }), Limits.elementCount(shape) == data.values.count else { return nil }
            result = IntegerTensor(values: data.values, shape: shape)
        case "Transpose": result = input(0).flatMap { $0.transposed(a.ints("perm")) }
        case "Slice":
            guard let data = input(0), let starts = input(1)?.values, let ends = input(2)?.values else { return nil }
            result = data.sliced(starts: starts, ends: ends, axes: input(3)?.values, steps: input(4)?.values)
        case "Range":
            guard let start = input(0)?.values.first, let limit = input(1)?.values.first, let delta = input(2)?.values.first, delta != 0 else { return nil }
            // ceil((limit - start) / delta) elements, each of which must fit: hostile bounds are refused, not trapped on.
            let span = limit.subtractingReportingOverflow(start), rounding = span.partialValue.addingReportingOverflow(delta - delta.signum())
            guard !span.overflow, !rounding.overflow, !(rounding.partialValue == .min && delta == -1) else { return nil }
            let count = max(0, rounding.partialValue / delta)
            guard count <= Limits.maximumDimension else { return nil }
            let reach = max(count - 1, 0).multipliedReportingOverflow(by: delta)
            guard !reach.overflow, !start.addingReportingOverflow(reach.partialValue).overflow else { return nil }
            result = IntegerTensor(values: (0..<count).map { start + $0 * delta }, shape: [count])
        case "Tile":
            guard let repeats = input(1)?.values else { return nil }
            result = input(0)?.viewed(by: Node(name: node.name, op: .tile, inputs: [], outputs: [], attributes: ["repeats": .ints(repeats)]))
        case "Mod":
            // Integer remainder of shape arithmetic (Swin's window shifts): Python's sign (of the divisor) by
            // default, C's (of the dividend) with fmod=1.
            guard let dividend = input(0), let divisor = input(1), !divisor.values.contains(0) else { return nil }
            let fmod = a.int("fmod") == 1
            result = IntegerTensor.broadcasting([dividend, divisor]) { v in
                let r = v[0].truncatingRemainder(dividingBy: v[1])
                return fmod || r == 0 || (r < 0) == (v[1] < 0) ? r : r + v[1]
            }
        case "Concat":
            let parts = inputs.compactMap { $0 }
            result = parts.count == inputs.count ? IntegerTensor.concatenated(parts, axis: a.int("axis") ?? 0) : nil
        default: return nil
        }
        return result.map { .ints($0.values, shape: $0.shape) }
    }

    /// CumSum of a constant (float or integer) along a constant axis, with ONNX's exclusive and reverse.
    func foldCumulativeSum(_ node: ONNXNode) -> ONNXConstant? {
        guard node.inputs.count == 2, let axisValue = constants[node.inputs[1]]?.ints?.first, let (values, shape, isInteger) = constants[node.inputs[0]]?.doubles else { return nil }
        let axis = axisValue < 0 ? axisValue + shape.count : axisValue
        guard shape.indices.contains(axis) else { return nil }
        let (exclusive, reverse) = (node.attributes.int("exclusive") == 1, node.attributes.int("reverse") == 1)
        let size = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        var result = values
        for start in 0..<values.count where start / inner % size == 0 {
            var total = 0.0
            for step in 0..<size {
                let i = start + (reverse ? size - 1 - step : step) * inner
                if exclusive { result[i] = total; total += values[i] } else { total += values[i]; result[i] = total }
            }
        }
        return ONNXConstant(doubles: result, shape: shape, isInteger: isInteger)
    }

    /// Comparisons, logic and Where on constants (masks built from constant maps: Swin's shifted-window
    /// attention mask). Booleans are integer constants 0 and 1; Where keeps its branches' kind.
    func foldLogic(_ node: ONNXNode) -> ONNXConstant? {
        let operands = node.inputs.compactMap { constants[$0]?.doubles }
        guard operands.count == node.inputs.count, !operands.isEmpty else { return nil }
        let f: ([Double]) -> Double
        switch node.op {
        case "Equal": f = { $0[0] == $0[1] ? 1 : 0 }
        case "Less": f = { $0[0] < $0[1] ? 1 : 0 }
        case "Greater": f = { $0[0] > $0[1] ? 1 : 0 }
        case "LessOrEqual": f = { $0[0] <= $0[1] ? 1 : 0 }
        case "GreaterOrEqual": f = { $0[0] >= $0[1] ? 1 : 0 }
        case "Not": f = { $0[0] == 0 ? 1 : 0 }
        case "And": f = { $0[0] != 0 && $0[1] != 0 ? 1 : 0 }
        case "Or": f = { $0[0] != 0 || $0[1] != 0 ? 1 : 0 }
        case "Where": f = { $0[0] != 0 ? $0[1] : $0[2] }
        default: return nil
        }
        let arity = ["Not": 1, "Where": 3][node.op] ?? 2
        guard operands.count == arity,
              let (values, shape) = IntegerTensor.broadcast(operands.map { ($0.values, $0.shape) }, limit: 1 << 22, f) else { return nil }
        let integerResult = node.op != "Where" || (operands[1].isInteger && operands[2].isInteger)
        return ONNXConstant(doubles: values, shape: shape, isInteger: integerResult)
    }

    /// ScatterND of constants (a mask filled in place in Python, as Swin's): `updates` written into a copy
    /// of `data` at `indices` (the last axis of `indices` addresses the leading axes of `data`).
    func foldScatter(_ node: ONNXNode) -> ONNXConstant? {
        guard node.inputs.count == 3, (node.attributes.string("reduction") ?? "none") == "none",
              case .ints(let indices, let indexShape)? = constants[node.inputs[1]], let k = indexShape.last, k > 0 else { return nil }
        guard let (data, dataShape, isInteger) = constants[node.inputs[0]]?.doubles, let updates = constants[node.inputs[2]]?.doubles.values else { return nil }
        guard k <= dataShape.count, Limits.elementCount(dataShape) == data.count, indices.count % k == 0 else { return nil }
        let slice = dataShape[k...].reduce(1, *), strides = rowMajorStrides(dataShape)
        guard updates.count == indices.count / k * slice else { return nil }
        var result = data
        for (n, start) in stride(from: 0, to: indices.count, by: k).enumerated() {
            var offset = 0
            for axis in 0..<k {
                let i = indices[start + axis], size = dataShape[axis]
                guard (-size..<size).contains(i) else { return nil }
                offset += (i < 0 ? i + size : i) * strides[axis]
            }
            for j in 0..<slice { result[offset + j] = updates[n * slice + j] }
        }
        return ONNXConstant(doubles: result, shape: dataShape, isInteger: isInteger)
    }

    /// An element-wise op on integer constants (the shape arithmetic exporters write): the op's scalar
    /// expression in double, truncated toward zero (ONNX's integer Div), with NumPy broadcasting.
    func foldIntegerElementwise(_ op: OpKind, _ node: Onnx_NodeProto) -> ONNXConstant? {
        let tensors: [IntegerTensor] = node.input.compactMap { name in
            guard case .ints(let values, let shape)? = constants[name] else { return nil }
            return IntegerTensor(values: values, shape: shape)
        }
        guard tensors.count == node.input.count, !tensors.isEmpty,
              let expression = try? Node(name: "", op: op, inputs: node.input, outputs: []).scalarExpression(),
              let result = IntegerTensor.broadcasting(tensors, { expression.evaluate($0) }) else { return nil }
        return .ints(result.values, shape: result.shape)
    }

    /// ConstantOfShape: the `value` attribute's one element (0.0 when absent) repeated to the shape.
    func constantOfShape(_ shapeTensor: IntegerTensor?, _ a: ONNXAttributes) -> ONNXConstant? {
        guard let shape = shapeTensor?.values, shape.allSatisfy({ $0 >= 0 }), let count = Limits.elementCount(shape), count <= 1 << 16 else { return nil }
        if let value = a.values["value"], value.hasT, let fill = try? value.t.constant(directory: directory) {
            switch fill {
            case .ints(let v, _): return .ints(Array(repeating: v.first ?? 0, count: count), shape: shape)
            case .floats(let t): return .floats(Tensor(shape: shape, values: Array(repeating: t.count > 0 ? t[0] : 0, count: count)))
            }
        }
        return .floats(Tensor(shape: shape, values: Array(repeating: 0, count: count)))
    }

}

/// An integer constant of any rank, row-major; each operation returns nil where ONNX would reject
/// its operands, so folding leaves the node to be reported instead.
struct IntegerTensor {
    var values: [Int]
    var shape: [Int]

    /// Gather along axis 0 of a vector (negative indices count from the end).
    func gathered(_ indices: IntegerTensor) -> IntegerTensor? {
        guard shape.count <= 1 else { return nil }
        let picked = indices.values.compactMap { i -> Int? in
            let j = i < 0 ? i + values.count : i
            return values.indices.contains(j) ? values[j] : nil
        }
        return picked.count == indices.values.count ? IntegerTensor(values: picked, shape: indices.shape) : nil
    }

    func unsqueezed(_ axes: [Int]) -> IntegerTensor? {
        var newShape = shape
        for axis in axes.map({ $0 < 0 ? $0 + shape.count + axes.count : $0 }).sorted() {
            guard (0...newShape.count).contains(axis) else { return nil }
            newShape.insert(1, at: axis)
        }
        return IntegerTensor(values: values, shape: newShape)
    }

    /// Without `axes`, every axis of size 1 goes.
    func squeezed(_ axes: [Int]?) -> IntegerTensor? {
        guard let axes else { return IntegerTensor(values: values, shape: shape.filter { $0 != 1 }) }
        let dropped = Set(axes.map { $0 < 0 ? $0 + shape.count : $0 })
        guard dropped.allSatisfy({ shape.indices.contains($0) && shape[$0] == 1 }) else { return nil }
        return IntegerTensor(values: values, shape: shape.enumerated().filter { !dropped.contains($0.offset) }.map(\.element))
    }

    /// The tensor whose element at `coordinates` of `newShape` is `self`'s at `source(coordinates)`.
    func gathering(_ newShape: [Int], _ source: ([Int]) -> Int) -> IntegerTensor {
        let outStrides = rowMajorStrides(newShape)
        let count = newShape.reduce(1, *)
        let picked = (0..<count).map { index -> Int in
            var rest = index
            let coordinates = outStrides.map { stride -> Int in
                let c = rest / stride
                rest -= c * stride
                return c
            }
            return values[source(coordinates)]
        }
        return IntegerTensor(values: picked, shape: newShape)
    }

    /// Without `perm`, the axes reversed.
    func transposed(_ perm: [Int]?) -> IntegerTensor? {
        let rank = shape.count
        let perm = perm ?? Array((0..<rank).reversed())
        guard perm.sorted() == Array(0..<rank) else { return nil }
        let inStrides = rowMajorStrides(shape)
        return gathering(perm.map { shape[$0] }) { c in zip(c, perm).reduce(0) { $0 + $1.0 * inStrides[$1.1] } }
    }

    /// The elements a data-movement node selects (Tile, Expand: a `StridedView`), its output shape from
    /// the op's shape rule; nil where the rule refuses the node or the result is beyond `largestFold`.
    func viewed(by node: Node) -> IntegerTensor? {
        guard let output = (try? node.schema.shape(node, [TensorType(fixed: shape)]))?.first?.fixedShape,
              let count = Limits.elementCount(output), count <= Self.largestFold,
              let view = try? node.stridedView(input: shape), Limits.elementCount(view.shape) == count else { return nil }
        return IntegerTensor(values: (0..<count).map { values[view.source(of: $0)] }, shape: output)
    }

    /// Integer constants are shape arithmetic: a fold that would make more elements than this is refused.
    static let largestFold = 1 << 16

    /// ONNX Slice: per axis, start and end clamped into the axis (negative ones count from its end), any nonzero step.
    func sliced(starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) -> IntegerTensor? {
        let rank = shape.count
        let axes = (axes ?? Array(0..<starts.count)).map { $0 < 0 ? $0 + rank : $0 }
        let steps = steps ?? Array(repeating: 1, count: starts.count)
        guard axes.count == starts.count, ends.count == starts.count, steps.count == starts.count,
              axes.allSatisfy({ (0..<rank).contains($0) }), steps.allSatisfy({ $0 != 0 }) else { return nil }
        var ranges = shape.map { Array(0..<$0) }
        for (k, axis) in axes.enumerated() {
            let n = shape[axis], step = steps[k]
            func clamped(_ i: Int, _ low: Int, _ high: Int) -> Int { min(max(i < 0 ? i + n : i, low), high) }
            ranges[axis] = step > 0 ? Array(stride(from: clamped(starts[k], 0, n), to: clamped(ends[k], 0, n), by: step))
                : Array(stride(from: clamped(starts[k], -1, n - 1), to: clamped(ends[k], -1, n - 1), by: step))
        }
        let inStrides = rowMajorStrides(shape)
        return gathering(ranges.map(\.count)) { c in c.indices.reduce(0) { $0 + ranges[$1][c[$1]] * inStrides[$1] } }
    }

    /// `f` of the tensors' elements, broadcast NumPy-style, its result truncated toward zero; nil when the
    /// shapes do not broadcast or a result is not a finite integer.
    static func broadcasting(_ tensors: [IntegerTensor], _ f: ([Double]) -> Double) -> IntegerTensor? {
        guard let (values, shape) = broadcast(tensors.map { ($0.values.map(Double.init), $0.shape) }, limit: largestFold, f) else { return nil }
        var integers: [Int] = []
        integers.reserveCapacity(values.count)
        for value in values {
            let truncated = value.rounded(.towardZero)
            guard truncated.isFinite, abs(truncated) < 1e18 else { return nil }
            integers.append(Int(truncated))
        }
        return IntegerTensor(values: integers, shape: shape)
    }

    /// `f` of the operands' elements, broadcast NumPy-style, for at most `limit` results; nil when the
    /// shapes do not broadcast, an operand's values do not fill its shape, or the result is too large.
    static func broadcast(_ operands: [(values: [Double], shape: [Int])], limit: Int, _ f: ([Double]) -> Double) -> (values: [Double], shape: [Int])? {
        let rank = operands.map(\.shape.count).max() ?? 0
        let padded = operands.map { [Int](repeating: 1, count: rank - $0.shape.count) + $0.shape }
        var shape = [Int](repeating: 1, count: rank)
        for p in padded {
            for axis in 0..<rank where p[axis] != 1 {
                guard shape[axis] == 1 || shape[axis] == p[axis] else { return nil }
                shape[axis] = p[axis]
            }
        }
        guard operands.allSatisfy({ Limits.elementCount($0.shape) == $0.values.count }), let count = Limits.elementCount(shape), count <= limit else { return nil }
        let outStrides = rowMajorStrides(shape)
        let sourceStrides = padded.map { p in zip(rowMajorStrides(p), p).map { $1 == 1 ? 0 : $0 } }
        var values: [Double] = []
        values.reserveCapacity(count)
        var offsets = [Int](repeating: 0, count: operands.count), arguments = [Double](repeating: 0, count: operands.count)
        for index in 0..<count {
            var rest = index
            for k in offsets.indices { offsets[k] = 0 }
            for axis in 0..<rank {
                let c = rest / outStrides[axis]
                rest -= c * outStrides[axis]
                for k in operands.indices { offsets[k] += c * sourceStrides[k][axis] }
            }
            for k in operands.indices { arguments[k] = operands[k].values[offsets[k]] }
            values.append(f(arguments))
        }
        return (values, shape)
    }

    /// Parts that agree off the axis, each holding as many values as its shape says.
    static func concatenated(_ parts: [IntegerTensor], axis rawAxis: Int) -> IntegerTensor? {
        guard let first = parts.first else { return nil }
        let rank = first.shape.count
        let axis = rawAxis < 0 ? rawAxis + rank : rawAxis
        guard (0..<max(rank, 1)).contains(axis), parts.allSatisfy({ $0.shape.count == rank }) else { return nil }
        for part in parts {
            guard Limits.elementCount(part.shape) == part.values.count,
                  (0..<rank).allSatisfy({ $0 == axis || part.shape[$0] == first.shape[$0] }) else { return nil }
        }
        if rank <= 1 { return IntegerTensor(values: parts.flatMap(\.values), shape: [parts.reduce(0) { $0 + $1.values.count }]) }
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
        return IntegerTensor(values: values, shape: shape)
    }
}
