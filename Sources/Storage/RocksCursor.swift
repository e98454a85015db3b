internal import CRocksDB
import Synchronization

/// A RocksDB iterator in total key order kept between calls (`KVStore.makeCursor`). Making it
/// sorts a hashed memtable once; each `scan` then only seeks. The iterator pins the memtables
/// and files it was made from, so holders drop cursors they no longer use; `RocksStore.close`
/// releases any left.
final class RocksCursor: StoreCursor, @unchecked Sendable {
    private struct Handles: @unchecked Sendable {
        var iterator: OpaquePointer
        var options: OpaquePointer
    }
    private let handles: Mutex<Handles?>
    /// Kept while the iterator reads at it.
    private let snapshot: RocksSnapshot?

    init(db: OpaquePointer, snapshot: RocksSnapshot? = nil) throws(StoreError) {
        self.snapshot = snapshot
        let ro = rocksdb_readoptions_create()!
        rocksdb_readoptions_set_total_order_seek(ro, 1)
        if let snapshot { rocksdb_readoptions_set_snapshot(ro, snapshot.snap) }
        guard let it = rocksdb_create_iterator(db, ro) else {
            rocksdb_readoptions_destroy(ro)
            throw .rocksdb(operation: "iterate", message: "no iterator")
        }
        handles = Mutex(Handles(iterator: it, options: ro))
    }

    deinit { release() }

    /// Frees the iterator (idempotent); later scans fail with `.closed`.
    func release() {
        handles.withLock { h in
            guard let x = h else { return }
            rocksdb_iter_destroy(x.iterator)
            rocksdb_readoptions_destroy(x.options)
            h = nil
        }
    }

    func scanBytes(prefix: [UInt8], from start: [UInt8], _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(StoreError) {
        try handles.withLock { (h: inout Handles?) throws(StoreError) in
            guard let it = h?.iterator else { throw .closed }
            try RocksStore.walkBytes(it, prefix: prefix, from: prefix.lexicographicallyPrecedes(start) ? start : prefix, body)
        }
    }

    func scan(prefix: [UInt8], from start: [UInt8], _ body: ([UInt8], [UInt8]) -> Bool) throws(StoreError) {
        try handles.withLock { (h: inout Handles?) throws(StoreError) in
            guard let it = h?.iterator else { throw .closed }
            try RocksStore.walk(it, prefix: prefix, from: prefix.lexicographicallyPrecedes(start) ? start : prefix, body)
        }
    }
}
