import Foundation

/// Writes `data` to a temporary file beside `path` and renames it into place (`TemporaryFiles`: a signal
/// mid-write leaves no temporary file behind). Only a regular file is
/// ever replaced: a folder, device, FIFO or socket at `path` is refused (run as root, `-o /dev/null`
/// would otherwise replace the system's `/dev/null` with a file). A symbolic link is written through:
/// the file it names is replaced and the link stays.
public func writeAtomically(_ data: Data, to path: String) throws(Diagnostic) {
    let location = SourceLocation(file: path)
    guard !path.isEmpty else { throw Diagnostic(.writeFailed, "cannot write the file: the output path is empty") }
    var target = path
    var info = stat()
    if lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK {
        guard let resolved = realPath(path) else {
            throw Diagnostic(.writeFailed, "cannot write the file: it is a symbolic link to nothing", at: location)
        }
        target = resolved
    }
    if stat(target, &info) == 0, let kind = FileKind(mode: info.st_mode), kind != .regular {
        throw Diagnostic(.writeRefused, "\(kind.rawValue) is there; only a regular file is ever replaced", at: location)
    }
    let folder = URL(fileURLWithPath: target).deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw Diagnostic(.writeFailed, "cannot write the file: the folder \(folder) does not exist", at: location)
    }
    try TemporaryFiles.write(data, to: target)
}

/// `path` with every symbolic link and `..` resolved, or nil where it does not exist.
public func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// What a path names, in words for errors.
public enum FileKind: String {
    case regular = "a regular file", folder = "a folder", characterDevice = "a character device", blockDevice = "a block device"
    case fifo = "a FIFO", socket = "a socket", link = "a symbolic link"

    public init?(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .folder
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFLNK: self = .link
        default: return nil
        }
    }
}

/// Opens `path` for reading if it is a regular file, and returns the descriptor and the file's size.
/// The open does not block (a FIFO would wait for a writer forever); anything but a regular file is
/// refused before a byte is read.
public func openRegularFile(_ path: String) throws(Diagnostic) -> (descriptor: Int32, size: Int) {
    let location = SourceLocation(file: path)
    let fd = open(path, O_RDONLY | O_NONBLOCK)
    guard fd >= 0 else { throw Diagnostic(.unreadableFile, "cannot open the file: \(String(cString: strerror(errno)))", at: location) }
    var info = stat()
    guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
        close(fd)
        let kind = FileKind(mode: info.st_mode).map { " (\($0.rawValue))" } ?? ""
        throw Diagnostic(.unreadableFile, "not a regular file\(kind)", at: location)
    }
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
    return (fd, Int(info.st_size))
}

/// Creates folder `path` and any missing parents; `purpose` names it in the error ("output folder").
public func createFolder(_ path: String, purpose: String) throws(Diagnostic) {
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        throw Diagnostic(.writeFailed, "cannot create the \(purpose): \(error.localizedDescription)", at: SourceLocation(file: path))
    }
}

public func writeAtomically(_ text: String, to path: String) throws(Diagnostic) {
    try writeAtomically(Data(text.utf8), to: path)
}

/// The bytes of a regular file, read with POSIX calls: bounded by `limit`, and (unlike Foundation's
/// `FileManager.contents`, which leaks a buffer on empty files) clean under LeakSanitizer.
public func readFileBytes(_ path: String, limit: Int = 1 << 34) throws(Diagnostic) -> [UInt8] {
    let location = SourceLocation(file: path)
    let (fd, size) = try openRegularFile(path)
    defer { close(fd) }
    guard size <= limit else { throw Diagnostic(.fileTooLarge, "the file has \(size) bytes; the limit is \(limit)", at: location) }
    var failure: Diagnostic?
    // Not zero-filled first: a model file is hundreds of megabytes, and read() writes every byte.
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
        var filled = 0
        while filled < size, let base = buffer.baseAddress {
            let count = read(fd, base + filled, size - filled)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                failure = Diagnostic(.unreadableFile, "cannot read the file: \(count < 0 ? String(cString: strerror(errno)) : "it ended early")", at: location)
                break
            }
            filled += count
        }
        initialized = filled
    }
    if let failure { throw failure }
    return bytes
}
