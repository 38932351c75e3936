// libFuzzer target: the .npy reader.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if let tensor = try? NPY.decode(Array(UnsafeBufferPointer(start: data, count: size))) {
        _ = NPY.encode(tensor)
    }
    return 0
}
