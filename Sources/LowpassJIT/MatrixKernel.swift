import CLLVM

/// Gemm and MatMul: `out[b, i, j] = alpha * sum_k A[b, i, k] * B[b, k, j] + beta * C[i, j]`.
/// One work item is one row of one batch entry and a tile of `columnVectors` vectors of columns;
/// A's element is broadcast against vectors of B's row. A Gemm's constant B is repacked to [K, N] at
/// compile time, so its rows are contiguous; a runtime B with another layout is gathered.
///
/// Arguments: output, A, B, then C if any.
/// A matrix operand's element strides between rows and between columns (0 = broadcast).
struct MatrixStrides: Hashable {
    var row: Int, column: Int
    init(_ row: Int, _ column: Int) { (self.row, self.column) = (row, column) }
}

struct MatrixKernel: Kernel {
    var nodes: [String]
    var arguments: [Operand]
    var output: Int
    /// Output batch shape and, for A and B, the element stride of each batch axis (0 = broadcast).
    var batchShape: [Int], aBatchStrides: [Int], bBatchStrides: [Int]
    var m: Int, n: Int, k: Int
    /// Element strides of A along (i, k), of B along (k, j), of C along (i, j).
    var aStrides: MatrixStrides, bStrides: MatrixStrides, cStrides: MatrixStrides?
    var alpha: Double, beta: Double
    var lanes: Int

    var columnVectors: Int { min(4, ceilDiv(n, lanes)) }
    var columnTiles: Int { ceilDiv(n, columnVectors * lanes) }
    var batches: Int { batchShape.reduce(1, *) }
    var kind: String { cStrides == nil ? "matmul" : "gemm" }
    var workItems: Int { batches * m * columnTiles }
    var flops: Double { 2 * Double(batches * m * n * k) }
    var bytes: Double { 4 * Double(batches * (m * k + k * n + m * n)) }

    func emitItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [batches, m, columnTiles])
        let (batch, row, tile) = (c[0], c[1], c[2])
        var aBase = e.address(e.operandArgument(0), e.mul(row, aStrides.row))
        var bBase = e.operandArgument(1)
        if !batchShape.isEmpty {
            let coordinates = split(e, batch, batchShape)
            var aOffset = e.int(0), bOffset = e.int(0)
            for axis in batchShape.indices {
                aOffset = e.add(aOffset, e.mul(coordinates[axis], aBatchStrides[axis]))
                bOffset = e.add(bOffset, e.mul(coordinates[axis], bBatchStrides[axis]))
            }
            aBase = e.address(aBase, aOffset)
            bBase = e.address(bBase, bOffset)
        }
        let firstColumn = e.mul(tile, columnVectors * lanes)
        let columns = (0..<columnVectors).map { t in e.add(e.splatInt32(e.toInt32(firstColumn)), e.vadd(e.laneIndices, t * lanes)) }
        let masks = columns.map { e.vcompare(LLVMIntSLT, $0, e.intVectorConstant(n)) }
        let accumulators = columns.map { _ in e.local(e.vector(0)) }
        let fullTiles = n % (columnVectors * lanes) == 0
        e.loop(k) { p in
            let a = e.splat(e.load(aBase, e.mul(p, aStrides.column)))
            let bRow = e.address(bBase, e.mul(p, bStrides.row))
            for t in 0..<columnVectors {
                let b = bStrides.column == 1
                    ? e.loadVector(bRow, e.add(firstColumn, t * lanes), mask: fullTiles ? nil : masks[t])
                    : e.gather(bRow, e.vmul(columns[t], bStrides.column), mask: masks[t])
                e.set(accumulators[t], e.fma(a, b, e.get(accumulators[t])))
            }
        }
        let out = e.address(e.outputArgument, e.mul(e.add(e.mul(batch, m), row), n))
        for t in 0..<columnVectors {
            var v = e.get(accumulators[t])
            if alpha != 1 { v = e.fmul(v, e.vector(alpha)) }
            if let cStrides {
                let cRow = e.address(e.operandArgument(2), e.mul(row, cStrides.row))
                let bias = cStrides.column == 0
                    ? e.splat(e.load(cRow, e.int(0)))
                    : e.gather(cRow, e.vmul(columns[t], cStrides.column), mask: masks[t])
                v = e.fma(bias, e.vector(beta), v)
            }
            e.storeVector(v, out, e.add(firstColumn, t * lanes), mask: fullTiles ? nil : masks[t])
        }
    }
}
