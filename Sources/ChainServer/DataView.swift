import ChainCore
import Storage

/// The data as commands see it: the store, plus updates not in the store yet, with a value cache
/// in front. Loop-thread only.
///
/// Updates of one loop turn are collected into one batch (`pending`); at the end of the turn the
/// batch goes to the `StoreWriter`, which either writes it at once (memory mode) or keeps it *in
/// flight* until its thread reports it persisted.
/// Reads look at pending, then in-flight updates (newest first), then the cache, then the store,
/// so a GET always sees every earlier SET even before RocksDB has it.
///
/// User keys' values are held by user key (`ViewKey.value`): in the turn's tables, in the cache
/// and in the store batch (as the data key's prefix plus the user key's own array), so a write
/// makes no data key array on any replica; the data key is built only to read the store. Any
/// other store key (metadata, hash fields) is held as it is (`ViewKey.raw`) and never cached.
///
/// Sequence numbers order updates: `currentSeq` counts every update made, `persistedSeq` is the
/// last one the store holds (synced, in fsync mode). A reply that may depend on update N is sent
/// only once N is persisted.
final class DataView {
    let store: any KVStore
    let cache: ValueCache
    /// The turn's updates by key (nil value: deleted). Indexed only when something reads while
    /// updates are unindexed (`indexPending`): a turn of writes nobody reads before it is stored
    /// never hashes its keys (callgrind: ~600 instructions a write on every replica, for the
    /// insert and for emptying the table after the store write).
    private var pending: [ViewKey: ArraySlice<UInt8>?] = [:]
    /// The turn's updates in order; those from `indexed` on are not in `pending` yet.
    private var pendingLog: [(key: ViewKey, value: ArraySlice<UInt8>?)] = []
    private var indexed = 0
    /// Store key ranges deleted in the pending batch (before any update of `pending` to a key
    /// in them).
    private var pendingRanges: [Range<ByteKey>] = []
    private var batch = WriteBatch()
    private var inFlight: [(seq: UInt64, updates: [ViewKey: ArraySlice<UInt8>?], ranges: [Range<ByteKey>])] = []
    private(set) var currentSeq: UInt64 = 0
    private(set) var persistedSeq: UInt64 = 0
    /// Whether any hash field may be stored: false until one is written here or found in the
    /// store at start. While false, no key can be a hash, so writes that replace a value need
    /// not look for fields to delete.
    private(set) var mayHoldHashes = false
    /// The last write error; while set, new writes are refused (queued ones are retried).
    private(set) var writeError: StoreError?

    init(store: any KVStore, cacheBytes: Int) {
        self.store = store
        self.cache = ValueCache(capacityBytes: cacheBytes)
        try? store.scan(prefix: [KeyLayout.fieldTag], from: nil, at: nil) { _, _ in
            mayHoldHashes = true
            return false
        }
    }

    var hasPending: Bool { !batch.isEmpty }
    /// Entries in the turn's batch (each becomes one memtable entry).
    var pendingEntries: Int { batch.count }
    var hasUnpersisted: Bool { currentSeq > persistedSeq }

    /// The stored value of user key `key` (its data key's), through the cache.
    func getValue(_ key: [UInt8]) throws(StoreError) -> ArraySlice<UInt8>? {
        let user = ByteKey(key)
        if let unpersisted = unpersisted(.value(user)) { return unpersisted }
        if let c = cache.lookup(user) { return c }
        let v = try store.get(KeyLayout.dataKey(key))?[...]
        cache.store(user, v)
        return v
    }

    /// The value of store key `key` (metadata, a hash field: read rarely, never cached; a data
    /// key is read as its user key's value).
    func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]? {
        if let user = KeyLayout.userKey(fromDataKey: key) { return try getValue(user).map { Array($0) } }
        let k = ViewKey.raw(ByteKey(key))
        if let unpersisted = unpersisted(k) { return unpersisted.map { Array($0) } }
        return try store.get(key)
    }

    /// What the updates the store does not hold yet say about `k`: `.some(nil)` deleted, nil
    /// nothing. Looked at before the cache, which may have evicted one of them.
    private func unpersisted(_ k: ViewKey) -> ArraySlice<UInt8>?? {
        indexPending()
        if !pending.isEmpty, let p = pending[k] { return p }
        // Ranges are in store keys: a value's data key is built only if there is a range to
        // check (rare: a FLUSHALL, a chain dropped), not for every read while batches are in
        // flight, as they are all the time in fsync mode.
        var storeKey: ByteKey?
        func inRange(_ ranges: [Range<ByteKey>]) -> Bool {
            guard !ranges.isEmpty else { return false }
            let s = storeKey ?? k.storeKey
            storeKey = s
            return ranges.contains { $0.contains(s) }
        }
        if inRange(pendingRanges) { return .some(nil) }
        for f in inFlight.reversed() {
            if let v = f.updates[k] { return v }
            if inRange(f.ranges) { return .some(nil) }
        }
        return nil
    }

    /// Every key under `prefix` with its value, in key order, as reads see them: the store's,
    /// then the in-flight batches' changes (oldest first), then this turn's. (A hash's fields.)
    func entries(withPrefix prefix: [UInt8]) throws(StoreError) -> [(key: [UInt8], value: [UInt8])] {
        var found: [ByteKey: [UInt8]] = [:]
        try store.scan(prefix: prefix, from: nil, at: nil) { k, v in
            found[ByteKey(k)] = v
            return true
        }
        func overlay(_ updates: [ViewKey: ArraySlice<UInt8>?], _ ranges: [Range<ByteKey>]) {
            for r in ranges { for k in found.keys where r.contains(k) { found.removeValue(forKey: k) } }
            for (k, v) in updates where k.mayStart(with: prefix) {
                let storeKey = k.storeKey
                if storeKey.bytes.starts(with: prefix) { found[storeKey] = v.map { Array($0) } }
            }
        }
        for f in inFlight { overlay(f.updates, f.ranges) }
        indexPending()
        overlay(pending, pendingRanges)
        return found.map { (key: Array($0.key.bytes), value: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }

    /// Up to `limit` keys under `prefix` after `after` (all of them from the start when nil), in
    /// key order, as reads see them, and whether more may follow: one page of a hash's fields.
    /// The store is read for `limit` keys only; updates not in the store yet are merged within
    /// the key range that page covers.
    func entries(withPrefix prefix: [UInt8], after: [UInt8]?, limit: Int) throws(StoreError) -> (entries: [(key: [UInt8], value: [UInt8])], more: Bool) {
        // From the smallest key after `after`; a page whose store keys were all deleted by
        // unwritten updates moves on rather than ending the walk.
        var from = after.map { ByteKey($0 + [0]) }
        while true {
            let page = try page(prefix, from: from, limit: limit)
            if !page.entries.isEmpty || page.end == nil { return (page.entries, page.more) }
            from = page.end
        }
    }

    private func page(_ prefix: [UInt8], from: ByteKey?, limit: Int) throws(StoreError) -> (entries: [(key: [UInt8], value: [UInt8])], more: Bool, end: ByteKey?) {
        var found: [ByteKey: [UInt8]] = [:]
        var end: ByteKey?
        try store.scan(prefix: prefix, from: from.map { Array($0.bytes) }, at: nil) { k, v in
            if found.count == limit {
                end = ByteKey(k)
                return false
            }
            found[ByteKey(k)] = v
            return true
        }
        func inPage(_ k: ByteKey) -> Bool {
            k.bytes.starts(with: prefix) && (from.map { $0 <= k } ?? true) && (end.map { k < $0 } ?? true)
        }
        func overlay(_ updates: [ViewKey: ArraySlice<UInt8>?], _ ranges: [Range<ByteKey>]) {
            for r in ranges { for k in found.keys where r.contains(k) { found.removeValue(forKey: k) } }
            for (k, v) in updates where k.mayStart(with: prefix) {
                let storeKey = k.storeKey
                if inPage(storeKey) { found[storeKey] = v.map { Array($0) } }
            }
        }
        for f in inFlight { overlay(f.updates, f.ranges) }
        indexPending()
        overlay(pending, pendingRanges)
        var entries = found.map { (key: Array($0.key.bytes), value: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        var more = end != nil
        if entries.count > limit {
            entries.removeLast(entries.count - limit)
            more = true
        }
        return (entries, more, end)
    }

    /// HSCAN's cursors (a view of the data held between calls).
    let hashScans = HashScanCursors()

    /// How an update treats the value cache.
    enum CacheUse {
        /// The new value goes into the cache (a node that reads these keys).
        case store
        /// Any cached value is dropped, nothing is added: a chain's middle member never reads
        /// its keys, and filling the cache with them would evict what the node does read.
        case invalidate
        /// A cached value is replaced, nothing is added: a head or tail applying an update. A
        /// key it reads is cached by the read (and kept current by its updates); one only
        /// written would cost an entry and evict what is read (callgrind: entering every written
        /// key cost about 1,000 instructions per write at each of head and tail).
        case refresh
    }

    /// Sets user key `key`'s value. `slot`: the key's hash slot where the caller has it (the
    /// head routed the request by it), so it is not computed again.
    func putValue(_ key: [UInt8], _ value: [UInt8], slot: Int? = nil, cache use: CacheUse = .store) {
        let k = ByteKey(key)
        pendingLog.append((.value(k), value[...]))
        updateCache(k, value[...], use)
        batch.put(prefix: Self.dataPrefix(key[...], slot: slot), key, value)
        currentSeq += 1
    }

    /// The same for a key and value held in one array (a replica's copy of a put): kept as they
    /// are, not copied apart.
    func putValue(_ kv: KeyValue, slot: Int? = nil, cache use: CacheUse = .store) {
        let k = ByteKey(kv.key)
        pendingLog.append((.value(k), kv.value))
        updateCache(k, kv.value, use)
        batch.put(prefix: Self.dataPrefix(kv.key, slot: slot), shared: kv.storage, split: SharedSplit(keyCount: kv.keyCount, valueStart: kv.valueStart))
        currentSeq += 1
    }

    func deleteValue(_ key: [UInt8], slot: Int? = nil, cache use: CacheUse = .store) {
        let k = ByteKey(key)
        pendingLog.append((.value(k), nil))
        updateCache(k, nil, use)
        batch.delete(prefix: Self.dataPrefix(key[...], slot: slot), key)
        currentSeq += 1
    }

    private static func dataPrefix(_ key: ArraySlice<UInt8>, slot: Int?) -> KeyPrefix {
        KeyPrefix(packed: KeyLayout.dataPrefix(key, slot: slot ?? HashSlot.of(key)), count: KeyLayout.dataPrefixLength)
    }

    /// Sets store key `key` (never cached; a data key sets its user key's value, the cached
    /// value refreshed).
    func put(_ key: [UInt8], _ value: [UInt8]) {
        if let user = KeyLayout.userKey(fromDataKey: key) { return putValue(user, value, cache: .refresh) }
        if key.first == KeyLayout.fieldTag { mayHoldHashes = true }
        pendingLog.append((.raw(ByteKey(key)), value[...]))
        batch.put(key, value)
        currentSeq += 1
    }

    /// Sets store key `key` (a whole key given as a prefix), which nothing reads through this
    /// view — the turn entries, read back only from the store (at start, and from a snapshot
    /// for a copy): it goes into the batch without an entry in the index of pending writes.
    func putUnread(_ key: KeyPrefix, _ value: [UInt8]) {
        batch.put(prefix: key, [], value)
        currentSeq += 1
    }

    func delete(_ key: [UInt8]) {
        if let user = KeyLayout.userKey(fromDataKey: key) { return deleteValue(user, cache: .refresh) }
        pendingLog.append((.raw(ByteKey(key)), nil))
        batch.delete(key)
        currentSeq += 1
    }

    private func updateCache(_ k: ByteKey, _ value: ArraySlice<UInt8>?, _ use: CacheUse) {
        switch use {
        case .store: cache.store(k, value)
        case .invalidate: cache.remove(k)
        case .refresh: cache.refresh(k, value)
        }
    }

    /// Deletes every key in [start, end) (a chain's slot range). The cache is emptied: it cannot
    /// tell which of its keys fall in the range.
    func deleteRange(from start: [UInt8], to end: [UInt8]) {
        batch.deleteRange(from: start, to: end)
        let range = ByteKey(start)..<ByteKey(end)
        indexPending()
        for k in pending.keys where range.contains(k.storeKey) { pending.removeValue(forKey: k) }
        // Until the store holds the deletion, reads of keys in the range must see it.
        pendingRanges.append(range)
        cache.removeAll()
        currentSeq += 1
    }

    /// Hands the turn's batch to the writer. Returns true when the store holds it on return (the
    /// caller reports it persisted); otherwise it stays in flight until `persisted`.
    func flush(to writer: StoreWriter) -> Bool {
        guard !batch.isEmpty else { return false }
        let written = writer.submit(batch, seq: currentSeq)
        // Emptied in place: its list of operations keeps its room for the next turn (grown from
        // empty it reallocated four or five times a turn). A batch the writer still holds (in
        // flight, or waiting out a stall) is left to it: the list is copied, not shared.
        batch.removeAll()
        if written {
            // The store has it all: the table is emptied in place, keeping its capacity (growing
            // a dictionary from empty every turn costs a rehash per doubling).
            if !pending.isEmpty { pending.removeAll(keepingCapacity: true) }
        } else {
            indexPending()
            inFlight.append((currentSeq, pending, pendingRanges))
            pending = Dictionary(minimumCapacity: pending.count)
        }
        pendingLog.popAll()
        indexed = 0
        pendingRanges = []
        return written
    }

    /// Enters the updates made since the last read into `pending`, in order.
    private func indexPending() {
        guard indexed < pendingLog.count else { return }
        for i in indexed..<pendingLog.count { pending[pendingLog[i].key] = .some(pendingLog[i].value) }
        indexed = pendingLog.count
    }

    /// The writer stored everything up to `seq`.
    func persisted(upTo seq: UInt64) {
        persistedSeq = max(persistedSeq, seq)
        inFlight.removeAll { $0.seq <= seq }
        writeError = nil
    }

    func writeFailed(_ error: StoreError) { writeError = error }
}

/// A key as the data view holds it: a user key's value, or any other store key as stored.
enum ViewKey: Hashable {
    /// The value of this user key (stored under its data key, see `KeyLayout`).
    case value(ByteKey)
    /// A store key that is not a data key.
    case raw(ByteKey)

    /// The key in the store (a data key is built: only off the write path).
    var storeKey: ByteKey {
        switch self {
        case let .value(k): return ByteKey(KeyLayout.dataKey(Array(k.bytes)))
        case let .raw(k): return k
        }
    }

    /// Whether the store key may start with `prefix` (values only under the data tag), so
    /// prefix scans build no data keys for values they cannot include.
    func mayStart(with prefix: [UInt8]) -> Bool {
        switch self {
        case .value: return prefix.first.map { $0 == KeyLayout.dataTag } ?? true
        case let .raw(k): return k.bytes.starts(with: prefix)
        }
    }
}
