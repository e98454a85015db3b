import Dispatch
import EventLoop
import Storage

/// Makes written updates durable without blocking the loop: fsyncs of the write-ahead log run on
/// a dedicated queue, one at a time. Requests that arrive while a sync runs are covered together
/// by the next one (group commit), and completion is reported back on the loop.
///
/// `@unchecked Sendable`: `requested`, `inFlight` and the callbacks are touched only on the loop
/// thread (`request` is called there and completions are `submit`ted back to it); the sync queue
/// touches only the store, which is Sendable.
final class GroupCommitter: @unchecked Sendable {
    private let store: any KVStore
    private let loop: EventLoop
    private let queue = DispatchQueue(label: "chainstore.wal-sync")
    private var requested: UInt64 = 0
    private(set) var synced: UInt64 = 0
    private var inFlight = false
    var onSynced: (UInt64) -> Void = { _ in }
    var onFailed: (StoreError) -> Void = { _ in }

    init(store: any KVStore, loop: EventLoop) {
        self.store = store
        self.loop = loop
    }

    /// Asks for every update up to `seq` to become durable.
    func request(_ seq: UInt64) {
        if seq > requested { requested = seq }
        startIfNeeded()
    }

    var isIdle: Bool { !inFlight && requested == synced }

    private func startIfNeeded() {
        guard !inFlight, requested > synced else { return }
        inFlight = true
        let target = requested
        let store = self.store
        queue.async { [self] in
            var failure: StoreError?
            do throws(StoreError) { try store.syncWAL() } catch { failure = error }
            let outcome = failure
            loop.submit { [self] in finished(target, outcome) }
        }
    }

    private func finished(_ target: UInt64, _ failure: StoreError?) {
        inFlight = false
        if let failure {
            onFailed(failure)
            return
        }
        synced = max(synced, target)
        onSynced(synced)
        startIfNeeded()
    }

    /// Blocks until a sync in progress has finished. Only for shutdown, off the loop.
    func drain() { queue.sync {} }

    /// Retries after a failure (called from a timer).
    func retry() { startIfNeeded() }
}
