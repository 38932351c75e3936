// libFuzzer target: the pipeline parser, and resolving the result against a registry.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPipeline(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let pipeline = try? Pipeline(parsing: text) else { return 0 }
    _ = pipeline.description
    _ = try? Pipeline(parsing: pipeline.description)
    _ = try? PassRegistry().configure(pipeline)
    return 0
}
