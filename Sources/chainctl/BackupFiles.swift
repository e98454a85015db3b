import ChainCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file a backup writes, through plain POSIX calls so that every failure (a full disk, a
/// directory removed under it) comes back as the system's own reason.
final class OutputFile {
    let path: String
    private var fd: Int32

    /// Creates `path`; it must not exist.
    init(creating path: String) throws {
        self.path = path
        fd = Glibc.open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
        if fd < 0 { throw CtlError("cannot create \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    func write(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CtlError("writing \(path): \(String(cString: strerror(errno)))")
            }
            off += n
        }
    }

    /// Empties the file (a chain copied again from the start).
    func reset() throws {
        if ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0 {
            throw CtlError("emptying \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Flushes the file to disk and closes it.
    func finish() throws {
        if fsync(fd) != 0 { throw CtlError("syncing \(path): \(String(cString: strerror(errno)))") }
        if Glibc.close(fd) != 0 { throw CtlError("closing \(path): \(String(cString: strerror(errno)))") }
        fd = -1
    }
}

enum BackupFiles {
    /// Makes a rename or a new file in `dir` durable.
    static func syncDirectory(_ dir: String) throws {
        let fd = Glibc.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw CtlError("opening \(dir): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        if fsync(fd) != 0 { throw CtlError("syncing \(dir): \(String(cString: strerror(errno)))") }
    }

    /// Hands `body` the file's bytes, a few MiB at a time.
    static func readChunks(_ path: String, _ body: ([UInt8]) throws -> Void) throws {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw CtlError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CtlError("reading \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return }
            try body(Array(buffer[0..<n]))
        }
    }

    /// Every record of a chain file, in order; a malformed file is an error naming it.
    static func forEachRecord(_ path: String, _ body: ([UInt8], [UInt8]) throws -> Void) throws {
        var reader = BackupFormat.RecordReader()
        do {
            try readChunks(path) { chunk in
                reader.feed(chunk)
                while let r = try reader.next() { try body(r.key, r.value) }
            }
            try reader.finish()
        } catch let e as BackupFormat.ReadError {
            throw CtlError("backup is corrupt: \((path as NSString).lastPathComponent) \(e)")
        }
    }

    static func now() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

    static func timestamp() -> String { ISO8601DateFormatter().string(from: Date()) }
}
