import Foundation

/// Bounds on what a file from a stranger may ask for. A graph, weight file or tensor that exceeds one
/// is an error before anything is allocated.
public enum Limits {
    /// The most elements one tensor may have: 2^32 (16 GiB of f32) unless the environment variable
    /// `LOWPASS_MAX_TENSOR_ELEMENTS` says otherwise.
    public static let maximumElementCount: Int = {
        guard let text = ProcessInfo.processInfo.environment["LOWPASS_MAX_TENSOR_ELEMENTS"] else { return 1 << 32 }
        if let n = Int(text), n > 0 { return n }
        FileHandle.standardError.write(Data("warning: LOWPASS_MAX_TENSOR_ELEMENTS='\(text.prefix(40))' is not a positive integer; the limit stays 2^32\n".utf8))
        return 1 << 32
    }()

    /// Bytes a run may allocate for parameters and intermediates together: the machine's physical
    /// memory, or `LOWPASS_MEMORY_BUDGET_MB` megabytes.
    public static let memoryBudget: Int = {
        if let text = ProcessInfo.processInfo.environment["LOWPASS_MEMORY_BUDGET_MB"] {
            if let n = Int(text), n > 0, n < 1 << 40 { return n << 20 }
            FileHandle.standardError.write(Data("warning: LOWPASS_MEMORY_BUDGET_MB='\(text.prefix(40))' is not a positive integer; the budget is the machine's memory\n".utf8))
        }
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        return pages > 0 && pageSize > 0 ? pages.multipliedReportingOverflow(by: pageSize).partialValue : 1 << 40
    }()

    /// The largest dimension, attribute integer or pad a graph may contain (2^31 - 1): larger values
    /// cannot describe a real network, and bounding them keeps all shape arithmetic free of overflow.
    public static let maximumDimension = Int(Int32.max)

    /// The element count of `shape`, or nil if it overflows or exceeds `maximumElementCount`.
    public static func elementCount(_ shape: [Int]) -> Int? {
        // A zero anywhere makes an empty tensor, wherever it stands among huge dimensions.
        if shape.contains(0) && shape.allSatisfy({ $0 >= 0 }) { return 0 }
        var total = 1
        for n in shape {
            guard n >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: n)
            guard !overflow, product <= maximumElementCount else { return nil }
            total = product
        }
        return total
    }
}

/// a * b, or Int.max where the product would overflow (for costs, which only need to be big).
func saturatingProduct(_ values: some Sequence<Int>) -> Int {
    var total = 1
    for v in values {
        let (product, overflow) = total.multipliedReportingOverflow(by: v)
        if overflow { return Int.max }
        total = product
    }
    return total
}
