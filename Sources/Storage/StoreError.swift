/// A storage failure, with RocksDB's own message where it gave one.
public enum StoreError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The data directory cannot be created or written.
    case unusableDirectory(path: String, reason: String)
    /// Another process holds the data directory's lock.
    case locked(path: String)
    /// A RocksDB call failed.
    case rocksdb(operation: String, message: String)
    /// The store was closed.
    case closed
    /// The disk holding the data directory has less room than the reserve writes must leave.
    case diskFull(availableBytes: Int, reserveBytes: Int)
    /// A key shorter than the store's memtable hash prefix.
    case keyTooShort(length: Int, minimum: Int)

    public var description: String {
        switch self {
        case let .unusableDirectory(path, reason): return "data directory \(path) is not usable: \(reason)"
        case let .locked(path): return "data directory \(path) is in use by another process (its LOCK file is held)"
        case let .rocksdb(op, msg): return "rocksdb \(op): \(msg)"
        case .closed: return "store is closed"
        case let .diskFull(a, r): return "only \(a >> 20) MiB free on the data directory's disk, below the \(r >> 20) MiB reserve (--min-free-disk-mb)"
        case let .keyTooShort(l, m): return "key of \(l) bytes is shorter than the store's \(m)-byte prefix"
        }
    }
}
