import Storage

/// Store cursors kept between the calls of one scan, filed under where the scan goes on next
/// (`SCAN`'s next cursor, `CS.SCAN`'s last key): making a cursor sorts the node's hashed
/// memtable (about 0.6 s with a million entries), seeking an existing one does not. A cursor
/// older than `maxAgeNanos` is not reused, so a scan sees the store at most that stale (and
/// the memtables it pins go); at most `maxOpen` are kept. Used only on `Server.storeWalks`.
final class ScanCursors: @unchecked Sendable {
    static let maxOpen = 32
    static let maxAgeNanos: UInt64 = 10_000_000_000

    private var open: [[UInt8]: (cursor: StoreCursor, madeNanos: UInt64)] = [:]
    private(set) var made = 0
    private(set) var reused = 0

    /// The cursor a scan left at `position`, or a new one.
    func take(at position: [UInt8]?, store: any KVStore) throws(StoreError) -> (cursor: StoreCursor, madeNanos: UInt64) {
        let now = monotonicNanos()
        open = open.filter { now - $0.value.madeNanos < Self.maxAgeNanos }
        if let position, let c = open.removeValue(forKey: position) {
            reused += 1
            return c
        }
        made += 1
        return (try store.makeCursor(), now)
    }

    /// Keeps `cursor` for the call that continues at `position`.
    func park(_ cursor: StoreCursor, madeNanos: UInt64, at position: [UInt8]) {
        if open.count >= Self.maxOpen, let oldest = open.min(by: { $0.value.madeNanos < $1.value.madeNanos })?.key {
            open.removeValue(forKey: oldest)
        }
        open[position] = (cursor, madeNanos)
    }

    /// Drops every cursor (before the store closes).
    func removeAll() { open.removeAll() }
}
