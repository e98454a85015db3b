#if canImport(Glibc)
import Glibc
#endif

/// Free space on the file system holding a path, as an unprivileged process may use it.
public enum DiskSpace {
    /// Bytes available at `path`, or nil when it cannot be told.
    public static func available(at path: String) -> Int? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int(s.f_bavail) * Int(s.f_frsize)
    }
}
