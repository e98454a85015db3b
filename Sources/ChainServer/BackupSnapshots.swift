import Storage
import Synchronization

/// The snapshots of backups in progress (`CS.BACKUP`), by id. A snapshot pins the store's
/// memtables and files as they were, so one left by a client that went away is dropped after
/// `idleNanos` without a call, and at most `maxOpen` are kept (the oldest goes). Opened on the
/// event loop, read on `Server.storeWalks`.
final class BackupSnapshots: Sendable {
    static let maxOpen = 16
    static let idleNanos: UInt64 = 120_000_000_000

    final class Entry: @unchecked Sendable {
        /// The chains the snapshot was opened for, with their slots.
        let chains: [Int: Range<Int>]
        let snapshot: StoreSnapshot
        /// Built on first read, off the loop (it sorts a hashed memtable, so the chains of one
        /// node share it rather than sort once each).
        var cursor: StoreCursor?
        var lastUsedNanos: UInt64

        init(chains: [Int: Range<Int>], snapshot: StoreSnapshot, now: UInt64) {
            self.chains = chains
            self.snapshot = snapshot
            lastUsedNanos = now
        }
    }

    private struct Table {
        var entries: [String: Entry] = [:]
        var nextID: UInt64 = 1
    }
    private let table = Mutex(Table())

    /// Files a new snapshot; returns its id.
    func open(chains: [Int: Range<Int>], snapshot: StoreSnapshot) -> String {
        let now = monotonicNanos()
        return table.withLock { t in
            t.entries = t.entries.filter { now - $0.value.lastUsedNanos < Self.idleNanos }
            if t.entries.count >= Self.maxOpen, let oldest = t.entries.min(by: { $0.value.lastUsedNanos < $1.value.lastUsedNanos })?.key {
                t.entries.removeValue(forKey: oldest)
            }
            let id = "backup-\(t.nextID)"
            t.nextID += 1
            t.entries[id] = Entry(chains: chains, snapshot: snapshot, now: now)
            return id
        }
    }

    /// The snapshot filed under `id`, marked as used now; nil if there is none (closed, dropped
    /// when idle, or the node restarted).
    func use(_ id: String) -> Entry? {
        let now = monotonicNanos()
        return table.withLock { t in
            guard let e = t.entries[id], now - e.lastUsedNanos < Self.idleNanos else {
                t.entries.removeValue(forKey: id)
                return nil
            }
            e.lastUsedNanos = now
            return e
        }
    }

    @discardableResult
    func close(_ id: String) -> Bool { table.withLock { $0.entries.removeValue(forKey: id) != nil } }

    var count: Int { table.withLock { $0.entries.count } }

    /// Drops every snapshot (before the store closes).
    func removeAll() { table.withLock { $0.entries.removeAll() } }
}
