import Storage

/// The free space of the data directory's file system, read with `statvfs` at most every 50 ms
/// while far from the reserve (a write takes microseconds; a `statvfs` several), and before every
/// write once the estimate comes near it. Between readings it subtracts what this node wrote;
/// other writers to the same disk are caught by the next reading, and the reserve absorbs what
/// they write in between.
struct FreeSpaceGauge {
    let path: String
    let reserveBytes: Int
    private var lastReading: Int?
    private var readAtNanos: UInt64 = 0
    private var writtenSince = 0
    static let maxAgeNanos: UInt64 = 50_000_000

    init(path: String, reserveBytes: Int) {
        self.path = path
        self.reserveBytes = reserveBytes
    }

    /// Bytes available (estimated, or read now), nil when the file system cannot tell.
    mutating func available(needing bytes: Int) -> Int? {
        let now = monotonicNanos()
        if let last = lastReading, now &- readAtNanos < Self.maxAgeNanos, last - writtenSince > 2 * (reserveBytes + bytes) {
            return last - writtenSince
        }
        lastReading = DiskSpace.available(at: path)
        readAtNanos = now
        writtenSince = 0
        return lastReading
    }

    mutating func wrote(_ bytes: Int) { writtenSince += bytes }
}
