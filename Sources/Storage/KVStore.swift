/// An ordered byte-key store. Implementations are safe to call from several threads: the event
/// loop reads and writes while a sync thread calls `syncWAL`.
public protocol KVStore: AnyObject, Sendable {
    func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]?
    func get(_ key: [UInt8], at snapshot: StoreSnapshot) throws(StoreError) -> [UInt8]?
    /// Applies the batch atomically; with `sync` the write-ahead log is fsynced before returning.
    func write(_ batch: WriteBatch, sync: Bool) throws(StoreError)
    /// Makes every earlier write durable (fsync of the write-ahead log). Blocks: never call it on
    /// the event loop.
    func syncWAL() throws(StoreError)
    /// Applies the batch atomically without syncing, unless the store would first have to wait
    /// (a write stall while it catches up with flushes and compactions): then it writes nothing
    /// and returns false. Cheap enough for the event loop.
    func writeWithoutStall(_ batch: WriteBatch) throws(StoreError) -> Bool
    /// A consistent point-in-time view for reads and scans.
    func snapshot() -> StoreSnapshot
    /// Visits keys with `prefix` in order, starting at `start` (inclusive) if given, until `body`
    /// returns false.
    func scan(prefix: [UInt8], from start: [UInt8]?, at snapshot: StoreSnapshot?,
              _ body: (_ key: [UInt8], _ value: [UInt8]) -> Bool) throws(StoreError)
    /// An ordered view for a walk done in many calls (`SCAN`): built once — for a RocksDB store
    /// with a hashed memtable that is where the memtable gets sorted — then sought again by
    /// each call. It shows the store as it was when made. Use it from one thread at a time.
    func makeCursor() throws(StoreError) -> StoreCursor
    /// A cursor that shows the store as `snapshot` does (a backup takes the snapshot on the
    /// event loop, where it is cheap, and builds the cursor elsewhere).
    func makeCursor(at snapshot: StoreSnapshot) throws(StoreError) -> StoreCursor
    /// Approximate number of live keys (for status pages).
    var estimatedKeyCount: Int { get }
    /// Approximate bytes of live data, memtables included (for plans and capacity figures).
    var estimatedDataBytes: Int { get }
}

/// See `KVStore.makeCursor`.
public protocol StoreCursor: AnyObject, Sendable {
    /// Visits keys with `prefix` in order, starting at `start` (inclusive), until `body` returns
    /// false.
    func scan(prefix: [UInt8], from start: [UInt8], _ body: (_ key: [UInt8], _ value: [UInt8]) -> Bool) throws(StoreError)
    /// Like `scan`, but hands `body` the bytes where the store keeps them, valid only during the
    /// call: a walk that copies every entry somewhere (a backup) makes no arrays per entry.
    func scanBytes(prefix: [UInt8], from start: [UInt8],
                   _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool) throws(StoreError)
}

/// A point-in-time view. Released when the last reference goes away.
public class StoreSnapshot: @unchecked Sendable {
    init() {}
}

public extension KVStore {
    func put(_ key: [UInt8], _ value: [UInt8], sync: Bool = false) throws(StoreError) {
        var b = WriteBatch()
        b.put(key, value)
        try write(b, sync: sync)
    }

    func delete(_ key: [UInt8], sync: Bool = false) throws(StoreError) {
        var b = WriteBatch()
        b.delete(key)
        try write(b, sync: sync)
    }

    /// All key-value pairs under `prefix`, in key order.
    func entries(prefix: [UInt8], at snapshot: StoreSnapshot? = nil) throws(StoreError) -> [([UInt8], [UInt8])] {
        var out: [([UInt8], [UInt8])] = []
        try scan(prefix: prefix, from: nil, at: snapshot) { k, v in
            out.append((k, v))
            return true
        }
        return out
    }
}

/// The smallest key greater than every key starting with `prefix` (nil if there is none).
public func prefixUpperBound(_ prefix: [UInt8]) -> [UInt8]? {
    var p = prefix
    while let last = p.last {
        if last < 0xff {
            p[p.count - 1] = last + 1
            return p
        }
        p.removeLast()
    }
    return nil
}
