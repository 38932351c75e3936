import Foundation

/// Writes `data` to a temporary file beside `path` and renames it into place.
public func writeAtomically(_ data: Data, to path: String) throws(Diagnostic) {
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw Diagnostic("write-failed", "cannot write the file: the folder \(folder) does not exist", at: SourceLocation(file: path))
    }
    do {
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw Diagnostic("write-failed", "cannot write the file: \(error.localizedDescription)", at: SourceLocation(file: path))
    }
}

/// Creates folder `path` and any missing parents; `purpose` names it in the error ("output folder").
public func createFolder(_ path: String, purpose: String) throws(Diagnostic) {
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        throw Diagnostic("write-failed", "cannot create the \(purpose): \(error.localizedDescription)", at: SourceLocation(file: path))
    }
}

public func writeAtomically(_ text: String, to path: String) throws(Diagnostic) {
    try writeAtomically(Data(text.utf8), to: path)
}

/// The bytes of a regular file, read with POSIX calls: bounded by `limit`, and (unlike Foundation's
/// `FileManager.contents`, which leaks a buffer on empty files) clean under LeakSanitizer.
public func readFileBytes(_ path: String, limit: Int = 1 << 34) throws(Diagnostic) -> [UInt8] {
    let location = SourceLocation(file: path)
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw Diagnostic("unreadable-file", "cannot open the file: \(String(cString: strerror(errno)))", at: location) }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
        throw Diagnostic("unreadable-file", "not a regular file", at: location)
    }
    let size = Int(info.st_size)
    guard size <= limit else { throw Diagnostic("file-too-large", "the file has \(size) bytes; the limit is \(limit)", at: location) }
    var bytes = [UInt8](repeating: 0, count: size)
    var filled = 0
    while filled < size {
        let count = bytes.withUnsafeMutableBytes { buffer -> Int in
            guard let base = buffer.baseAddress else { return 0 }
            return read(fd, base + filled, size - filled)
        }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { throw Diagnostic("unreadable-file", "cannot read the file: \(count < 0 ? String(cString: strerror(errno)) : "it ended early")", at: location) }
        filled += count
    }
    return bytes
}
