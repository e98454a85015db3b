import Synchronization

/// An in-memory `KVStore` for tests and simulations. Snapshots copy the map.
public final class MemoryStore: KVStore, Sendable {
    private let state = Mutex<[[UInt8]: [UInt8]]>([:])

    public init() {}

    public func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]? {
        state.withLock { $0[key] }
    }

    public func get(_ key: [UInt8], at snapshot: StoreSnapshot) throws(StoreError) -> [UInt8]? {
        (snapshot as! MemorySnapshot).map[key]
    }

    public func write(_ batch: WriteBatch, sync: Bool) throws(StoreError) {
        state.withLock { m in
            for op in batch.ops {
                switch op {
                case let .put(k, v): m[k] = v
                case let .delete(k): m.removeValue(forKey: k)
                case let .putPrefixed(prefix, rest, v): m[prefix.key(rest)] = v
                case let .putPrefixedShared(prefix, shared, split): m[prefix.key(split.key(shared))] = Array(split.value(shared))
                case let .deletePrefixed(prefix, rest): m.removeValue(forKey: prefix.key(rest))
                case let .deleteRange(s, e):
                    for k in m.keys where !k.lexicographicallyPrecedes(s) && k.lexicographicallyPrecedes(e) { m.removeValue(forKey: k) }
                }
            }
        }
    }

    public func syncWAL() throws(StoreError) {}

    public func writeWithoutStall(_ batch: WriteBatch) throws(StoreError) -> Bool {
        try write(batch, sync: false)
        return true
    }

    public func snapshot() -> StoreSnapshot {
        MemorySnapshot(state.withLock { $0 })
    }

    public func scan(prefix: [UInt8], from start: [UInt8]?, at snapshot: StoreSnapshot?,
                     _ body: ([UInt8], [UInt8]) -> Bool) throws(StoreError) {
        let map = (snapshot as? MemorySnapshot)?.map ?? state.withLock { $0 }
        let lower = start.map { prefix.lexicographicallyPrecedes($0) ? $0 : prefix } ?? prefix
        for k in map.keys.filter({ $0.starts(with: prefix) && !$0.lexicographicallyPrecedes(lower) }).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            if !body(k, map[k]!) { return }
        }
    }

    public func makeCursor() throws(StoreError) -> StoreCursor { MemoryCursor(store: self, snapshot: snapshot()) }
    public func makeCursor(at snapshot: StoreSnapshot) throws(StoreError) -> StoreCursor { MemoryCursor(store: self, snapshot: snapshot) }

    public var estimatedKeyCount: Int { state.withLock { $0.count } }
    public var estimatedDataBytes: Int { state.withLock { $0.reduce(0) { $0 + $1.key.count + $1.value.count } } }
}

final class MemoryCursor: StoreCursor, @unchecked Sendable {
    let store: MemoryStore
    let snapshot: StoreSnapshot
    init(store: MemoryStore, snapshot: StoreSnapshot) {
        self.store = store
        self.snapshot = snapshot
    }
    func scan(prefix: [UInt8], from start: [UInt8], _ body: ([UInt8], [UInt8]) -> Bool) throws(StoreError) {
        try store.scan(prefix: prefix, from: start, at: snapshot, body)
    }
    func scanBytes(prefix: [UInt8], from start: [UInt8], _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(StoreError) {
        try store.scan(prefix: prefix, from: start, at: snapshot) { k, v in
            k.withUnsafeBytes { kb in v.withUnsafeBytes { vb in body(kb, vb) } }
        }
    }
}

final class MemorySnapshot: StoreSnapshot, @unchecked Sendable {
    let map: [[UInt8]: [UInt8]]
    init(_ map: [[UInt8]: [UInt8]]) {
        self.map = map
        super.init()
    }
}

