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
            // A failed read leaves the last count in place (and tries again when next stale).
            let counted = try? Server.countUserKeys(ranges, in: store, at: snapshot)
            bound.submit { stats in
                if let counted {
                    stats.keys = counted.keys
                    stats.expires = counted.expiring
                }
                stats.countedNanos = monotonicNanos()
                stats.counting = false
            }
        }
    }
}
