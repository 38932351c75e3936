import CLLVM
import LowpassIR
import LowpassTensor

/// Resize: a work item is one output row of one plane. Where every output column and row reads comes
/// from the node's `ResizeAxis` tables, computed in double at compile time (the reference reads the
/// same tables), so the kernel only gathers and blends: two gathers per input row in nearest mode's
/// one, four and three blends in linear mode. Arguments: output, input, tables (constant: column
/// lower, upper and weight, then row lower, upper and weight, indices as exact floats).
struct ResizeKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    var planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int
    var linear: Bool
    var lanes: Int

    var kind: String { linear ? "resize bilinear" : "resize nearest" }
    var workItems: Int { planes * outHeight }
    var flops: Double { Double(planes * outHeight * outWidth * (linear ? 6 : 0)) }
    var bytes: Double { 4 * Double(planes * (outHeight * outWidth + height * width)) }

    /// The tables in one constant, in the order the kernel reads them.
    static func tables(rows: ResizeAxis, columns: ResizeAxis) -> Tensor {
        let indices: [[Int]] = [columns.lower, columns.upper]
        let rowIndices: [[Int]] = [rows.lower, rows.upper]
        var values: [Float] = indices.flatMap { $0.map { Float($0) } }
        values += columns.weight.map { Float($0) }
        values += rowIndices.flatMap { $0.map { Float($0) } }
        values += rows.weight.map { Float($0) }
        return Tensor(shape: [values.count], values: values)
    }

    func emitItem(_ e: Emitter, _ item: Value) {
        let plane = e.div(item, outHeight), y = e.rem(item, outHeight)
        let input = e.address(e.operandArgument(0), e.mul(plane, height * width))
        let tables = e.operandArgument(1)
        let rowTables = e.address(tables, e.int(3 * outWidth))
        func row(_ table: Int) -> Value { e.address(input, e.mul(e.toInt(e.load(rowTables, e.add(y, table * outHeight))), width)) }
        let (top, bottom) = (row(0), row(1))
        let wy = e.splat(e.load(rowTables, e.add(y, 2 * outHeight)))
        let out = e.address(e.outputArgument, e.mul(item, outWidth))
        let body = { (x: Value, mask: Value?) in
            let all = mask ?? e.vcompare(LLVMIntSLT, e.laneIndices, e.intVectorConstant(lanes))
            let lower = e.vtoInt32(e.loadVector(tables, x, mask: mask))
            guard linear else { return e.storeVector(e.gather(top, lower, mask: all), out, x, mask: mask) }
            let upper = e.vtoInt32(e.loadVector(tables, e.add(x, outWidth), mask: mask))
            let wx = e.loadVector(tables, e.add(x, 2 * outWidth), mask: mask)
            func blend(_ a: Value, _ b: Value, _ w: Value) -> Value { e.fma(e.fsub(b, a), w, a) }
            let upperRow = blend(e.gather(top, lower, mask: all), e.gather(top, upper, mask: all), wx)
            let lowerRow = blend(e.gather(bottom, lower, mask: all), e.gather(bottom, upper, mask: all), wx)
            e.storeVector(blend(upperRow, lowerRow, wy), out, x, mask: mask)
        }
        e.forEachVector(outWidth, body)
    }
}
