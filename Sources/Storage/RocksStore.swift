internal import CRocksDB
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The node's RocksDB. One instance per data directory; RocksDB's LOCK file keeps a second process
/// out.
///
/// `@unchecked Sendable`: the `rocksdb_t` handle and the option objects are created in `init` and
/// never change until `close`; RocksDB itself is safe for concurrent reads, writes and WAL syncs.
/// `close` must only be called once no other thread uses the store (the server closes it after
/// its loop and its sync thread have stopped).
public final class RocksStore: KVStore, @unchecked Sendable {
    public let path: String
    private var db: OpaquePointer?
    private let options: OpaquePointer
    private let tableOptions: OpaquePointer
    private let blockCache: OpaquePointer
    private let readOptions: OpaquePointer
    private let syncWrite: OpaquePointer
    private let plainWrite: OpaquePointer
    /// A plain write that fails at once (Status::Incomplete) instead of waiting out a write stall.
    private let noStallWrite: OpaquePointer

    /// Length of the key prefix by which the memtable hashes keys (0: an ordinary skip list).
    public let hashPrefixLength: Int

    /// Opens (or creates) the store at `path`.
    ///
    /// With `hashPrefixLength` > 0 the memtable is a hash table keyed by that many leading
    /// bytes, instead of one skip list. A random insert or lookup in a skip list of 400k
    /// entries walks ~80 nodes, each a cache miss; a hash bucket holds about one. Each bucket
    /// is a sorted linked list until it holds 256 entries, then a skip list (RocksDB's
    /// hash-linked-list memtable): a bucket made a skip list from the start cost a skip list's
    /// construction for nearly every new key, ~1.2k instructions a put against ~0.6k (callgrind,
    /// per node and replicated write). The price of hashing:
    /// a flush, and a scan over a prefix shorter than `hashPrefixLength`, sort the memtable
    /// (scans with a longer prefix read one bucket). Every key must be at least
    /// `hashPrefixLength` long — RocksDB would otherwise hash bytes past the key — so shorter keys
    /// are refused with an error.
    ///
    /// With `writeAheadLog` false, writes that are not synced skip RocksDB's log: they live in
    /// the memtable until it is flushed to a table file (when it fills, and on `close`), so a
    /// crash of the process loses what was not flushed yet — always a prefix of the writes in
    /// their order, never a hole. Synced writes (`sync: true`) still go through the log.
    /// Hash buckets of a hashed memtable. A full 64 MiB memtable of small values holds about
    /// 450k entries, so 256k buckets keep about two in a bucket's sorted list; a flush walks
    /// every bucket (and logs a histogram entry for each), so 1M buckets cost the flush more
    /// than their shorter lists save the inserts: 16.6k → 15.7k instructions a standalone SET,
    /// loop and flush thread together, with the two levels without compression (callgrind).
    static let memtableBuckets = 1 << 18

    public init(path: String, hashPrefixLength: Int = 0, createIfMissing: Bool = true, writeAheadLog: Bool = true) throws(StoreError) {
        self.path = path
        self.hashPrefixLength = hashPrefixLength
        try Self.prepareDirectory(path)
        // Per-operation perf counters cost a thread-local lookup on every key comparison.
        rocksdb_set_perf_level(1)
        options = rocksdb_options_create()
        if hashPrefixLength > 0 {
            guard let prefixExtractor = chainstore_fixed_prefix_create(hashPrefixLength) else {
                rocksdb_options_destroy(options)
                throw .rocksdb(operation: "open \(path)", message: "out of memory for the prefix extractor")
            }
            rocksdb_options_set_prefix_extractor(options, prefixExtractor)
            rocksdb_options_set_hash_link_list_rep(options, Self.memtableBuckets)
            rocksdb_options_set_allow_concurrent_memtable_write(options, 0)
        }
        rocksdb_options_set_create_if_missing(options, createIfMissing ? 1 : 0)
        rocksdb_options_increase_parallelism(options, 2)
        rocksdb_options_set_max_open_files(options, 512)
        // LZ4 for SST files when the library has it (RocksDB falls back to none otherwise), but
        // not for the first two levels: every write passes through them, so compressing them
        // costs the most CPU for the least space (the choice TiKV makes too).
        rocksdb_options_set_compression(options, Int32(rocksdb_lz4_compression))
        var levels = [Int32](repeating: Int32(rocksdb_lz4_compression), count: 7)
        levels[0] = Int32(rocksdb_no_compression)
        levels[1] = Int32(rocksdb_no_compression)
        rocksdb_options_set_compression_per_level(options, &levels, levels.count)
        // Full bloom filters (10 bits per key, ~1% false positives) let a lookup of a missing key
        // skip SST files instead of reading a block from each; a 64 MiB block cache keeps hot
        // index and data blocks in memory.
        tableOptions = rocksdb_block_based_options_create()
        rocksdb_block_based_options_set_filter_policy(tableOptions, rocksdb_filterpolicy_create_bloom_full(10))
        blockCache = rocksdb_cache_create_lru(64 << 20)
        rocksdb_block_based_options_set_block_cache(tableOptions, blockCache)
        rocksdb_options_set_block_based_table_factory(options, tableOptions)
        readOptions = rocksdb_readoptions_create()
        syncWrite = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(syncWrite, 1)
        plainWrite = rocksdb_writeoptions_create()
        noStallWrite = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_no_slowdown(noStallWrite, 1)
        if !writeAheadLog {
            rocksdb_writeoptions_disable_WAL(plainWrite, 1)
            rocksdb_writeoptions_disable_WAL(noStallWrite, 1)
        }
        var err: UnsafeMutablePointer<CChar>?
        let handle = rocksdb_open(options, path, &err)
        if let message = Self.take(&err) {
            Self.destroyOptions(options, readOptions, [syncWrite, plainWrite, noStallWrite])
            rocksdb_block_based_options_destroy(tableOptions)
            rocksdb_cache_destroy(blockCache)
            if message.contains("lock") || message.contains("LOCK") { throw .locked(path: path) }
            throw .rocksdb(operation: "open \(path)", message: message)
        }
        db = handle
    }

    deinit { close() }

    /// Closes the database. Later calls fail with `.closed`.
    public func close() {
        guard let db else { return }
        cursors.withLock { list in
            for w in list { w.cursor?.release() }
            list.removeAll()
        }
        snapshots.withLock { list in
            for w in list { w.snapshot?.release() }
            list.removeAll()
        }
        rocksdb_close(db)
        self.db = nil
        Self.destroyOptions(options, readOptions, [syncWrite, plainWrite, noStallWrite])
        rocksdb_block_based_options_destroy(tableOptions)
        rocksdb_cache_destroy(blockCache)
    }

    public func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]? {
        try get(key, options: readOptions)
    }

    public func get(_ key: [UInt8], at snapshot: StoreSnapshot) throws(StoreError) -> [UInt8]? {
        let s = snapshot as! RocksSnapshot
        return try get(key, options: s.readOptions)
    }

    private func get(_ key: [UInt8], options: OpaquePointer) throws(StoreError) -> [UInt8]? {
        guard let db else { throw .closed }
        guard key.count >= hashPrefixLength else { throw .keyTooShort(length: key.count, minimum: hashPrefixLength) }
        var err: UnsafeMutablePointer<CChar>?
        var len = 0
        let value = key.withUnsafeBufferPointer { k in
            k.withMemoryRebound(to: CChar.self) { rocksdb_get(db, options, $0.baseAddress, k.count, &len, &err) }
        }
        if let message = Self.take(&err) { throw .rocksdb(operation: "get", message: message) }
        // A missing key is a nil pointer; the buffer is not NUL-terminated and must be freed.
        guard let value else { return nil }
        defer { rocksdb_free(value) }
        return value.withMemoryRebound(to: UInt8.self, capacity: len) { Array(UnsafeBufferPointer(start: $0, count: len)) }
    }

    public func write(_ batch: WriteBatch, sync: Bool) throws(StoreError) {
        try write(batch, options: sync ? syncWrite : plainWrite)
    }

    public func writeWithoutStall(_ batch: WriteBatch) throws(StoreError) -> Bool {
        do {
            try write(batch, options: noStallWrite)
            return true
        } catch let .rocksdb(_, message) where message.hasPrefix("Result incomplete") {
            // RocksDB would have made the write wait (too many memtables or level-0 files).
            return false
        }
    }

    private func write(_ batch: WriteBatch, options writeOptions: OpaquePointer) throws(StoreError) {
        guard let db else { throw .closed }
        guard !batch.isEmpty else { return }
        let result: Result<Void, StoreError> = batch.ops.withUnsafeBufferPointer { ops in
            let size: Int
            switch BatchEncoding.measure(ops, minimumKeyLength: hashPrefixLength) {
            case let .bytes(n): size = n
            case let .keyTooShort(length): return .failure(.keyTooShort(length: length, minimum: hashPrefixLength))
            case let .sliceTooLarge(length):
                return .failure(.rocksdb(operation: "write", message: "a key or value of \(length) bytes is over RocksDB's 4 GiB limit"))
            }
            // Encoded in one pass (`BatchEncoding`) and copied into RocksDB's batch once.
            let wb = withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { out in
                BatchEncoding.encode(ops, into: out)
                return rocksdb_writebatch_create_from(out.baseAddress!.assumingMemoryBound(to: CChar.self), size)
            }
            defer { rocksdb_writebatch_destroy(wb) }
            var err: UnsafeMutablePointer<CChar>?
            rocksdb_write(db, writeOptions, wb, &err)
            if let message = Self.take(&err) { return .failure(.rocksdb(operation: "write", message: message)) }
            return .success(())
        }
        try result.get()
    }

    public func syncWAL() throws(StoreError) {
        guard let db else { throw .closed }
        var err: UnsafeMutablePointer<CChar>?
        rocksdb_flush_wal(db, 1, &err)
        if let message = Self.take(&err) { throw .rocksdb(operation: "sync WAL", message: message) }
    }

    public func snapshot() -> StoreSnapshot {
        let s = RocksSnapshot(db: db!)
        snapshots.withLock { list in
            list.removeAll { $0.snapshot == nil }
            list.append(WeakSnapshot(snapshot: s))
        }
        return s
    }

    /// Live snapshots: `close` releases them before the database goes.
    private let snapshots = Mutex<[WeakSnapshot]>([])
    private struct WeakSnapshot { weak var snapshot: RocksSnapshot? }

    public func scan(prefix: [UInt8], from start: [UInt8]?, at snapshot: StoreSnapshot?,
                     _ body: ([UInt8], [UInt8]) -> Bool) throws(StoreError) {
        guard let db else { throw .closed }
        let ro = rocksdb_readoptions_create()!
        defer { rocksdb_readoptions_destroy(ro) }
        if let snap = snapshot as? RocksSnapshot { rocksdb_readoptions_set_snapshot(ro, snap.snap) }
        if hashPrefixLength > 0 && prefix.count >= hashPrefixLength {
            rocksdb_readoptions_set_prefix_same_as_start(ro, 1)
        } else {
            rocksdb_readoptions_set_total_order_seek(ro, 1)
        }
        guard let it = rocksdb_create_iterator(db, ro) else { throw .rocksdb(operation: "iterate", message: "no iterator") }
        defer { rocksdb_iter_destroy(it) }
        try Self.walk(it, prefix: prefix, from: start.map { prefix.lexicographicallyPrecedes($0) ? $0 : prefix } ?? prefix, body)
    }

    /// Seeks `it` to `seekKey` and hands `body` each entry under `prefix` until it returns false.
    static func walk(_ it: OpaquePointer, prefix: [UInt8], from seekKey: [UInt8], _ body: ([UInt8], [UInt8]) -> Bool) throws(StoreError) {
        seekKey.withUnsafeBytes { rocksdb_iter_seek(it, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
        while rocksdb_iter_valid(it) != 0 {
            var klen = 0
            var vlen = 0
            let kp = rocksdb_iter_key(it, &klen)!
            let key = kp.withMemoryRebound(to: UInt8.self, capacity: klen) { Array(UnsafeBufferPointer(start: $0, count: klen)) }
            guard key.starts(with: prefix) else { break }
            let vp = rocksdb_iter_value(it, &vlen)!
            let value = vp.withMemoryRebound(to: UInt8.self, capacity: vlen) { Array(UnsafeBufferPointer(start: $0, count: vlen)) }
            if !body(key, value) { break }
            rocksdb_iter_next(it)
        }
        var err: UnsafeMutablePointer<CChar>?
        rocksdb_iter_get_error(it, &err)
        if let message = Self.take(&err) { throw .rocksdb(operation: "iterate", message: message) }
    }

    /// `walk` without copies: `body` sees the iterator's own memory.
    static func walkBytes(_ it: OpaquePointer, prefix: [UInt8], from seekKey: [UInt8],
                          _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(StoreError) {
        seekKey.withUnsafeBytes { rocksdb_iter_seek(it, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
        while rocksdb_iter_valid(it) != 0 {
            var klen = 0
            var vlen = 0
            let key = UnsafeRawBufferPointer(start: rocksdb_iter_key(it, &klen), count: klen)
            guard key.starts(with: prefix) else { break }
            let value = UnsafeRawBufferPointer(start: rocksdb_iter_value(it, &vlen), count: vlen)
            if !body(key, value) { break }
            rocksdb_iter_next(it)
        }
        var err: UnsafeMutablePointer<CChar>?
        rocksdb_iter_get_error(it, &err)
        if let message = Self.take(&err) { throw .rocksdb(operation: "iterate", message: message) }
    }

    public func makeCursor() throws(StoreError) -> StoreCursor { try makeCursor(snapshot: nil) }

    public func makeCursor(at snapshot: StoreSnapshot) throws(StoreError) -> StoreCursor {
        try makeCursor(snapshot: snapshot as? RocksSnapshot)
    }

    private func makeCursor(snapshot: RocksSnapshot?) throws(StoreError) -> StoreCursor {
        try cursors.withLock { (list: inout [Weak]) throws(StoreError) -> StoreCursor in
            guard let db else { throw .closed }
            let c = try RocksCursor(db: db, snapshot: snapshot)
            list.removeAll { $0.cursor == nil }
            list.append(Weak(cursor: c))
            return c
        }
    }

    /// Open cursors: `close` releases their iterators before the database goes.
    private let cursors = Mutex<[Weak]>([])
    private struct Weak { weak var cursor: RocksCursor? }

    public var estimatedKeyCount: Int { property("rocksdb.estimate-num-keys") }

    public var estimatedDataBytes: Int {
        property("rocksdb.estimate-live-data-size") + property("rocksdb.cur-size-all-mem-tables")
    }

    private func property(_ name: String) -> Int {
        guard let db, let p = rocksdb_property_value(db, name) else { return 0 }
        defer { rocksdb_free(p) }
        return Int(String(cString: p)) ?? 0
    }

    /// Returns RocksDB's error text and frees it; nil when there was no error.
    static func take(_ err: inout UnsafeMutablePointer<CChar>?) -> String? {
        guard let e = err else { return nil }
        defer { rocksdb_free(e); err = nil }
        return String(cString: e)
    }

    private static func destroyOptions(_ o: OpaquePointer, _ r: OpaquePointer, _ writeOptions: [OpaquePointer]) {
        rocksdb_options_destroy(o)
        rocksdb_readoptions_destroy(r)
        for w in writeOptions { rocksdb_writeoptions_destroy(w) }
    }

    /// Creates the directory if needed and proves it is writable, so the user sees a plain message
    /// instead of RocksDB's.
    static func prepareDirectory(_ path: String) throws(StoreError) {
        var st = stat()
        if stat(path, &st) != 0 {
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw .unusableDirectory(path: path, reason: String(cString: strerror(errno)))
            }
        } else if (st.st_mode & S_IFMT) != S_IFDIR {
            throw .unusableDirectory(path: path, reason: "not a directory")
        }
        let probe = path + "/.write-test"
        let fd = open(probe, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        if fd < 0 { throw .unusableDirectory(path: path, reason: String(cString: strerror(errno))) }
        Glibc.close(fd)
        unlink(probe)
    }
}

/// A RocksDB snapshot and the read options that pin it. Released when the last reference goes,
/// or by `RocksStore.close` if that comes first (a backup may still hold it).
final class RocksSnapshot: StoreSnapshot, @unchecked Sendable {
    private let db: OpaquePointer
    let snap: OpaquePointer
    let readOptions: OpaquePointer
    private let released = Mutex(false)

    init(db: OpaquePointer) {
        self.db = db
        self.snap = rocksdb_create_snapshot(db)
        self.readOptions = rocksdb_readoptions_create()
        rocksdb_readoptions_set_snapshot(readOptions, snap)
        super.init()
    }

    /// Gives the snapshot back to the database (idempotent).
    func release() {
        released.withLock { done in
            guard !done else { return }
            rocksdb_release_snapshot(db, snap)
            done = true
        }
    }

    deinit {
        release()
        rocksdb_readoptions_destroy(readOptions)
    }
}
