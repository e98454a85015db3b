import Dispatch
import EventLoop
import Storage
import Synchronization

/// Writes the loop's update batches to the store: in fsync mode always on a dedicated thread, so
/// the event loop never waits on a sync; in memory mode on the loop itself unless RocksDB would
/// stall the write (or earlier batches still wait), which then goes to the thread.
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
    /// Whoever holds the writer (`running`): the worker, or the loop for an inline write.
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

    /// Writes a batch holding updates up to `seq`. Loop thread. Returns true when the batch is
    /// in the store already: without `sync` and with nothing queued, the loop writes it itself
    /// (a memtable insert and an unsynced log append take microseconds; a hand-off to the worker
    /// would cost two thread wake-ups per turn). Otherwise, or when RocksDB would stall the write,
    /// the worker writes it and `onPersisted` reports it.
    func submit(_ batch: WriteBatch, seq: UInt64) -> Bool {
        if !sync, claimIdleWriter() {
            let outcome = attempt(batch, stallAllowed: false)
            queued.withLock { q in
                q.running = false
                if case .failed = outcome { q.failed = true }
            }
            switch outcome {
            case .written: return true
            case .stalled: break
            case let .noRoom(free):
                queued.withLock { $0.items.append(Queued(batch: batch, seq: seq)) }
                loop.submit { [self] in onFailed(.diskFull(availableBytes: free, reserveBytes: reserveBytes)) }
                return false
            case let .failed(error):
                loop.submit { [self] in onFailed(error) }
                return false
            }
        }
        let start = queued.withLock { q -> Bool in
            q.items.append(Queued(batch: batch, seq: seq))
            if q.running || q.failed { return false }
            q.running = true
            return true
        }
        if start { worker.async { [self] in drain() } }
        return false
    }

    /// Takes the writer for a write on the loop when the worker has nothing to do.
    private func claimIdleWriter() -> Bool {
        queued.withLock { q in
            if q.running || q.failed || !q.items.isEmpty { return false }
            q.running = true
            return true
        }
    }

    private enum Attempt {
        case written
        /// RocksDB would have made the write wait; nothing was written.
        case stalled
        /// The disk lacks room for the write and the reserve; nothing was written.
        case noRoom(free: Int)
        case failed(StoreError)
    }

    /// One write, on whichever thread holds the writer (`running`).
    private func attempt(_ batch: WriteBatch, stallAllowed: Bool) -> Attempt {
        // RocksDB writes a batch twice with its log (fsync mode: log, then table file), once
        // without (memory mode); room for two is asked either way.
        let need = 2 * batch.byteCount
        if reserveBytes > 0, let free = freeSpace.available(needing: need), free < reserveBytes + need {
            return .noRoom(free: free)
        }
        do throws(StoreError) {
            if let limit = failWritesAfter, writesDone >= limit { throw .rocksdb(operation: "write", message: "injected I/O error (--debug-fail-writes-after)") }
            if stallAllowed {
                try store.write(batch, sync: sync)
            } else if try !store.writeWithoutStall(batch) {
                return .stalled
            }
        } catch {
            return .failed(error)
        }
        if reserveBytes > 0 { freeSpace.wrote(need) }
        writesDone += 1
        return .written
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
            switch attempt(merged, stallAllowed: true) {
            case .written, .stalled: break
            case let .noRoom(free):
                queued.withLock { $0.running = false }
                loop.submit { [self] in onFailed(.diskFull(availableBytes: free, reserveBytes: reserveBytes)) }
                return
            case let .failed(error):
                queued.withLock { $0.running = false; $0.failed = true }
                loop.submit { [self] in onFailed(error) }
                return
            }
            queued.withLock { $0.items.removeFirst(work.count) }
            loop.submit { [self] in onPersisted(seq) }
        }
    }
}
