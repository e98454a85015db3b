import Foundation
import Dispatch

/// Writes the master's state durably and off the event loop: encode on the loop, then write a
/// temporary file, fsync it, rename it over the old one and fsync the directory on a background
/// queue. Saves are applied in order; the completion is called on the loop.
final class StateFile: @unchecked Sendable {
    let path: String
    private let queue = DispatchQueue(label: "chainmaster.state-file")

    init(directory: String) {
        self.path = directory + "/state.json"
    }

    /// Reads the saved state, nil if there is none.
    func load() throws -> Data? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    /// Saves `data`; `done` receives nil or the error, on whatever thread `deliver` uses.
    func save(_ data: Data, deliver: @escaping @Sendable (String?) -> Void) {
        let path = self.path
        queue.async {
            deliver(Self.writeDurably(data, to: path))
        }
    }

    /// Blocks until queued saves are done (shutdown only).
    func drain() { queue.sync {} }

    private static func writeDurably(_ data: Data, to path: String) -> String? {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        guard fd >= 0 else { return "open \(tmp): \(String(cString: strerror(errno)))" }
        let ok = data.withUnsafeBytes { p -> Bool in
            var off = 0
            while off < p.count {
                let n = write(fd, p.baseAddress! + off, p.count - off)
                if n < 0 { if errno == EINTR { continue }; return false }
                off += n
            }
            return true
        }
        guard ok, fsync(fd) == 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            return "write \(tmp): \(e)"
        }
        close(fd)
        guard rename(tmp, path) == 0 else { return "rename \(tmp): \(String(cString: strerror(errno)))" }
        let dir = open((path as NSString).deletingLastPathComponent, O_RDONLY)
        if dir >= 0 { fsync(dir); close(dir) }
        return nil
    }
}
