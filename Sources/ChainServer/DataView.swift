import Storage

/// The data as commands see it: the store plus the updates of the current loop turn that are not
/// written yet, with a value cache in front of the store. Updates are collected into one batch and written once per turn (`flush`), so a
/// pipeline of a thousand SETs costs one RocksDB write, while a GET later in the same turn still
/// sees an earlier SET. Loop-thread only.
///
/// Sequence numbers order updates: `currentSeq` counts every update made, `writtenSeq` is the
/// last one RocksDB accepted. A reply that may depend on update N is released only once N is
/// acknowledgeable (written, and in fsync mode also synced).
final class DataView {
    let store: any KVStore
    let cache: ValueCache
    private var pending: [ByteKey: [UInt8]?] = [:]
    private var batch = WriteBatch()
    private(set) var currentSeq: UInt64 = 0
    private(set) var writtenSeq: UInt64 = 0
    /// The last write error; while set, new writes are refused and the pending batch is retried.
    private(set) var writeError: StoreError?

    init(store: any KVStore, cacheBytes: Int) {
        self.store = store
        self.cache = ValueCache(capacityBytes: cacheBytes)
    }

    var hasPending: Bool { !batch.isEmpty }

    func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]? {
        let k = ByteKey(key)
        // Pending updates first: the cache may have evicted one that is not in the store yet.
        if let p = pending[k] { return p }
        if let c = cache.lookup(k) { return c }
        let v = try store.get(key)
        cache.store(k, v)
        return v
    }

    func put(_ key: [UInt8], _ value: [UInt8]) {
        let k = ByteKey(key)
        pending[k] = .some(value)
        cache.store(k, value)
        batch.put(key, value)
        currentSeq += 1
    }

    func delete(_ key: [UInt8]) {
        let k = ByteKey(key)
        pending[k] = .some(nil)
        cache.store(k, nil)
        batch.delete(key)
        currentSeq += 1
    }

    /// Writes the turn's batch. On failure the batch stays pending (and visible to reads, whose
    /// replies are held just like the writes' replies), and `writeError` is set.
    @discardableResult
    func flush() -> Bool {
        guard !batch.isEmpty else { return true }
        do {
            try store.write(batch, sync: false)
        } catch {
            writeError = error
            return false
        }
        batch.removeAll()
        pending.removeAll(keepingCapacity: pending.count < 4096)
        writtenSeq = currentSeq
        writeError = nil
        return true
    }

    func markSyncFailed(_ error: StoreError) { writeError = error }
    func clearSyncError() { if batch.isEmpty { writeError = nil } }
}
