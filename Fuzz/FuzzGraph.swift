// libFuzzer target: the JSON graph reader, then the verifier and shape inference, then the printers.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGraph(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let graph = try? Graph.decode(json: bytes) else { return 0 }
    if let verified = try? graph.verify() {
        _ = verified.totalMultiplyAdds
        _ = verified.parameterCount
        _ = graph.text(types: verified.types)
        _ = graph.dot(types: verified.types)
        _ = graph.jsonText()
    } else {
        _ = graph.text()
    }
    return 0
}
