import CLLVM
import LowpassTensor

/// Gemm and MatMul: `out[b, i, j] = alpha * sum_k A[b, i, k] * B[b, k, j] + beta * C[i, j]`.
/// One work item is a tile of `rowTile` rows of one batch entry by `columnVectors` vectors of columns;
/// each row's element of A is broadcast against the vectors of B's row, which serve every row of the
/// tile: a classifier at batch 8 reads its weights once, not once per image (VGG-16's first
/// fully-connected layer is 411 MB). A Gemm's constant B is repacked to [K, N] at compile time, so its
/// rows are contiguous; a runtime B with another layout is gathered.
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
    /// Whether B is a constant laid out by `packColumnTiles`: each work item then reads one contiguous
    /// run of it instead of a strip of every row (a classifier's rows are 4-16 KB apart, and a strip
    /// of 128-256 bytes a row left the hardware prefetchers behind).
    var bInColumnTiles = false

    /// Rows a work item computes, and vectors of columns: 16 sums with 16 lanes (8 with 8), which leave
    /// registers for the tile's vectors of B and its rows' broadcasts. At batch 8 with 16 lanes, VGG-16's
    /// fully-connected layers took 114 ms one row a tile, 28 ms with 4 rows x 4 vectors, 23 ms with 8
    /// x 2, and 54 ms with 8 x 3, whose 24 sums spill (Zen 5).
    var rowTile: Int { max(1, min(m, lanes == 16 ? 8 : 4)) }
    var columnVectors: Int { max(1, min(4, (lanes == 16 ? 16 : 8) / rowTile, ceilDiv(n, lanes))) }
    var columnTiles: Int { ceilDiv(n, columnVectors * lanes) }
    var rowTiles: Int { ceilDiv(m, rowTile) }
    var batches: Int { batchShape.reduce(1, *) }
    var kind: String { cStrides == nil ? "matmul" : "gemm" }
    var workItems: Int { batches * rowTiles * columnTiles }
    var flops: Double { 2 * Double(batches * m * n * k) }
    var bytes: Double { 4 * Double(batches * (m * k + k * n + m * n)) }

    /// A constant B, [K, N] or with `transposed` [N, K] (a Gemm's `transB`, the layout of PyTorch's
    /// Linear weights), as [column tile][K][columnVectors x lanes], zeros past column N: one pass, a
    /// column tile per core at a time, reading [N, K] rows in order.
    func packColumnTiles(_ b: Tensor, transposed: Bool) -> Tensor {
        let (width, k, n, columnTiles) = (columnVectors * lanes, k, n, columnTiles)
        var packed = Tensor(zeros: [columnTiles * k * width])
        packed.withUnsafeMutableBufferPointer { p in
            b.withUnsafeBufferPointer { w in
                let (target, source) = (Shared(p.baseAddress), Shared(w.baseAddress))
                concurrentPerform(columnTiles) { tile in
                    guard let p = target.value, let w = source.value else { return }
                    let run = p + tile * k * width
                    for lane in 0..<min(width, n - tile * width) {
                        let column = tile * width + lane
                        for row in 0..<k { run[row * width + lane] = transposed ? w[column * k + row] : w[row * n + column] }
                    }
                }
            }
        }
        return packed
    }

    func emitItem(_ e: Emitter, _ item: Value) {
        let c = split(e, item, [batches, rowTiles, columnTiles])
        let (batch, rowTileIndex, tile) = (c[0], c[1], c[2])
        // Past the last row a tile repeats it: the same sums, stored twice.
        let rows = (0..<rowTile).map { e.minimum(e.add(e.mul(rowTileIndex, rowTile), $0), e.int(m - 1)) }
        var aBase = e.operandArgument(0)
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
        let tileWidth = columnVectors * lanes
        let firstColumn = e.mul(tile, tileWidth)
        let columns = (0..<columnVectors).map { t in e.add(e.splatInt32(e.toInt32(firstColumn)), e.vadd(e.laneIndices, t * lanes)) }
        let masks = columns.map { e.vcompare(LLVMIntSLT, $0, e.intVectorConstant(n)) }
        let aRows = rows.map { e.address(aBase, e.mul($0, aStrides.row)) }
        let accumulators = rows.map { _ in columns.map { _ in e.local(e.vector(0)) } }
        let fullTiles = n % tileWidth == 0
        e.loop(k) { p in
            let b: [Value]
            if bInColumnTiles {
                let run = e.address(bBase, e.mul(e.add(e.mul(tile, k), p), tileWidth))
                b = (0..<columnVectors).map { t in e.loadVector(run, e.int(t * lanes)) }
            } else {
                let bRow = e.address(bBase, e.mul(p, bStrides.row))
                b = (0..<columnVectors).map { t in
                    bStrides.column == 1
                        ? e.loadVector(bRow, e.add(firstColumn, t * lanes), mask: fullTiles ? nil : masks[t])
                        : e.gather(bRow, e.vmul(columns[t], bStrides.column), mask: masks[t])
                }
            }
            for (i, aRow) in aRows.enumerated() {
                let a = e.splat(e.load(aRow, e.mul(p, aStrides.column)))
                for t in 0..<columnVectors { e.set(accumulators[i][t], e.fma(a, b[t], e.get(accumulators[i][t]))) }
            }
        }
        for (i, row) in rows.enumerated() {
            let out = e.address(e.outputArgument, e.mul(e.add(e.mul(batch, m), row), n))
            for t in 0..<columnVectors {
                var v = e.get(accumulators[i][t])
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
}
