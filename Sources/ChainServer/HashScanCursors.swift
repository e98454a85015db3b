/// HSCAN's cursors over large hashes. Redis clients need an integer cursor, and a hash's fields
/// are ordered by their bytes, which no integer can name; so the cursor is a number this node
/// hands out for where the scan goes on (the hash, and the last field returned). A cursor stays
/// valid for `maxAgeNanos` and may be used again (a client repeating a call whose reply it
/// lost); at most `capacity` are kept, the oldest dropped first. Another node, or this one
/// after a restart, does not know it: HSCAN then says so instead of ending the scan early.
/// Loop-thread only.
final class HashScanCursors {
    struct Position {
        var key: [UInt8]
        var after: [UInt8]
        var madeNanos: UInt64
    }

    static let maxAgeNanos: UInt64 = 600_000_000_000
    static let capacity = 4096

    private var open: [UInt64: Position] = [:]

    var count: Int { open.count }

    /// A new cursor for the scan of `key` going on after field `after`.
    func make(key: [UInt8], after: [UInt8], now: UInt64 = monotonicNanos()) -> UInt64 {
        if open.count >= Self.capacity {
            open = open.filter { now - $0.value.madeNanos < Self.maxAgeNanos }
            if open.count >= Self.capacity, let oldest = open.min(by: { $0.value.madeNanos < $1.value.madeNanos })?.key {
                open.removeValue(forKey: oldest)
            }
        }
        var cursor: UInt64
        // Random, so that a cursor from another node or an earlier process is unknown here
        // rather than naming some other scan's position.
        repeat { cursor = UInt64.random(in: 1...(1 << 62)) } while open[cursor] != nil
        open[cursor] = Position(key: key, after: after, madeNanos: now)
        return cursor
    }

    /// Where the scan of `key` with `cursor` goes on; nil if this node does not know the cursor
    /// (for this key), or it is too old.
    func position(_ cursor: UInt64, key: [UInt8], now: UInt64 = monotonicNanos()) -> [UInt8]? {
        guard let p = open[cursor], p.key == key, now - p.madeNanos < Self.maxAgeNanos else { return nil }
        return p.after
    }
}
