import ChainCore
import EventLoop
import Storage

/// `INFO keyspace`'s `keys=` and `expires=`: counted by walking the keys this node answers for
/// (as `DBSIZE`) on a snapshot off the event loop, at most every `refreshNanos`, when `INFO`
/// asks. RocksDB's own estimate counted request records and metadata too (ten times the keys),
/// and an exact count is a walk, so `INFO` shows the last count and starts a new one when it is
/// stale: monitoring that polls `INFO` every few seconds costs one walk per half minute.
final class KeyspaceStats {
    static let refreshNanos: UInt64 = 30_000_000_000
    private(set) var keys = 0
    private(set) var expires = 0
    private var countedNanos: UInt64 = 0
    private var counting = false

    /// Starts a count of `ranges` if the last one is stale; `INFO` then shows the one before.
    func refresh(_ ranges: [Range<Int>], store: any KVStore, loop: EventLoop) {
        let now = monotonicNanos()
        guard !counting, countedNanos == 0 || now - countedNanos > Self.refreshNanos else { return }
        counting = true
        let snapshot = store.snapshot()
        let bound = LoopBound(self, loop: loop)
        Server.storeWalks.async {
            var keys = 0
            var expires = 0
            let wallNow = wallMillis()
            for r in ranges where !r.isEmpty {
                try? store.scan(prefix: [KeyLayout.dataTag], from: KeyLayout.slotPrefix(r.lowerBound), at: snapshot) { k, v in
                    guard k.count >= KeyLayout.dataPrefixLength, Int(k[1]) << 8 | Int(k[2]) < r.upperBound else { return false }
                    guard let e = StoredValue(raw: v) else { keys += 1; return true }
                    guard e.isLive(nowMs: wallNow) else { return true }
                    keys += 1
                    if e.expiresAtMs != nil { expires += 1 }
                    return true
                }
            }
            bound.submit { [keys, expires] stats in
                stats.keys = keys
                stats.expires = expires
                stats.countedNanos = monotonicNanos()
                stats.counting = false
            }
        }
    }
}
