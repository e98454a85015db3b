import Dispatch
import EventLoop
import Storage
import Synchronization

/// Writes the loop's update batches to the store on a dedicated thread, so the event loop never
/// waits on RocksDB (a memtable insert, a write stall, or an fsync).
///
/// Batches are written strictly in submission order. Batches that queue up while a write runs
/// are merged into the next write, so in fsync mode one WAL sync covers all of them (group
/// commit). Each completion is reported back on the loop with the highest update sequence it
/// covers. RocksDB must never run out of disk: after a failed write its log writer is left in an
/// error state that a process cannot leave (Debian's build even aborts inside that very write).
/// So before each write the writer checks that the disk keeps `reserveBytes` free; when it would
/// not, the write waits (the server refuses new writes) and `retry()` tries again once there is
/// room. A write RocksDB itself fails is final: the node must be restarted.
///
/// `@unchecked Sendable`: the queue of batches is behind a Mutex; the callbacks are only called
/// on the loop thread (through `loop.submit`); the store is Sendable.
final class StoreWriter: @unchecked Sendable {
    private struct Queued {
        var batch: WriteBatch
        var seq: UInt64
    }

    private let store: any KVStore
    private let loop: EventLoop
    private let sync: Bool
    private let worker = DispatchQueue(label: "chainstore.store-writer")
    private let queued = Mutex<(items: [Queued], running: Bool, failed: Bool)>(([], false, false))
    private let dataDir: String
    private let reserveBytes: Int
    /// Fault injection for tests: writes after this many fail as an I/O error would.
    private let failWritesAfter: Int?
    private var writesDone = 0
    /// Worker thread only.
    private lazy var freeSpace = FreeSpaceGauge(path: dataDir, reserveBytes: reserveBytes)
    /// Called on the loop: every update up to the sequence is in the store (and synced when
    /// `sync` is set).
    var onPersisted: (UInt64) -> Void = { _ in }
    /// Called on the loop when a write failed; nothing is written after it.
    var onFailed: (StoreError) -> Void = { _ in }

    init(store: any KVStore, loop: EventLoop, sync: Bool, dataDir: String = "", reserveBytes: Int = 0, failWritesAfter: Int? = nil) {
        self.store = store
        self.failWritesAfter = failWritesAfter
        self.dataDir = dataDir
        self.reserveBytes = reserveBytes
        self.loop = loop
        self.sync = sync
    }

    /// Queues a batch holding updates up to `seq`. Loop thread.
    func submit(_ batch: WriteBatch, seq: UInt64) {
        let start = queued.withLock { q -> Bool in
            q.items.append(Queued(batch: batch, seq: seq))
            if q.running || q.failed { return false }
            q.running = true
            return true
        }
        if start { worker.async { [self] in drain() } }
    }

    /// Writes again after a write waited for disk space (not after a store failure).
    func retry() {
        let start = queued.withLock { q -> Bool in
            if q.running || q.failed || q.items.isEmpty { return false }
            q.running = true
            return true
        }
        if start { worker.async { [self] in drain() } }
    }

    /// Blocks until the worker is idle. Only for shutdown, off the loop.
    func waitUntilIdle() { worker.sync {} }

    /// Worker thread: writes everything queued, one merged batch at a time.
    private func drain() {
        while true {
            let work = queued.withLock { q -> [Queued]? in
                if q.items.isEmpty { q.running = false; return nil }
                return q.items
            }
            guard let work else { return }
            var merged = work[0].batch
            for w in work.dropFirst() { merged.append(contentsOf: w.batch) }
            let seq = work[work.count - 1].seq
            // RocksDB writes a batch twice (log, then table file): room for both is needed.
            let need = 2 * merged.byteCount
            if reserveBytes > 0, let free = freeSpace.available(needing: need), free < reserveBytes + need {
                queued.withLock { $0.running = false }
                loop.submit { [self] in onFailed(.diskFull(availableBytes: free, reserveBytes: reserveBytes)) }
                return
            }
            if reserveBytes > 0 { freeSpace.wrote(need) }
            do throws(StoreError) {
                if let limit = failWritesAfter, writesDone >= limit { throw .rocksdb(operation: "write", message: "injected I/O error (--debug-fail-writes-after)") }
                try store.write(merged, sync: sync)
                writesDone += 1
            } catch {
                queued.withLock { $0.running = false; $0.failed = true }
                loop.submit { [self] in onFailed(error) }
                return
            }
            queued.withLock { $0.items.removeFirst(work.count) }
            loop.submit { [self] in onPersisted(seq) }
        }
    }
}
