import ChainCore
import Storage

/// User keys as commands see them. Two implementations: `DirectKeyspace` applies changes to the
/// node's data at once (standalone mode, and reads at a tail); `RecordingKeyspace` only records
/// them, so that a chain head can turn a command into the mutations of an update before anything
/// is applied.
///
/// Values are `StoredValue`s. A key whose expiry time has passed (by `nowMs`) does not exist for
/// any command: `entry` and `get` return nil for it.
protocol Keyspace: AnyObject {
    /// The time expiry is judged by, Unix milliseconds; fixed for one command.
    var nowMs: UInt64 { get }
    /// The stored value, expired or not; nil if the key has none.
    func storedEntry(_ key: [UInt8]) throws(StoreError) -> StoredValue?
    func put(_ key: [UInt8], _ value: StoredValue)
    func delete(_ key: [UInt8])
}

extension Keyspace {
    /// The key's value if it exists now.
    func entry(_ key: [UInt8]) throws(StoreError) -> StoredValue? {
        guard let e = try storedEntry(key), e.isLive(nowMs: nowMs) else { return nil }
        return e
    }

    /// The key's bytes if it exists now.
    func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]? {
        try entry(key).map { Array($0.payload) }
    }

    /// Sets the key's bytes without a time to live (SET, MSET, GETSET: a new value forgets the
    /// old one's expiry).
    func put(_ key: [UInt8], _ bytes: [UInt8]) {
        put(key, StoredValue(payload: bytes))
    }

    /// Changes the key's bytes and keeps its expiry (INCR, APPEND, SETRANGE: Redis keeps the
    /// time to live of a key modified in place).
    func modify(_ key: [UInt8], _ bytes: [UInt8], keepingExpiryOf old: StoredValue?) {
        put(key, StoredValue(payload: bytes, expiresAtMs: old?.expiresAtMs))
    }
}

/// Decodes stored bytes; bytes in no known format (a store not yet converted) read as a string.
private func decodeStored(_ raw: [UInt8]?) -> StoredValue? {
    guard let raw else { return nil }
    return StoredValue(raw: raw) ?? StoredValue(payload: raw)
}

final class DirectKeyspace: Keyspace {
    let data: DataView
    /// Called for every key written or deleted (a standalone node's `WATCH` table, and its
    /// expiry sweep, which wakes up for a value with a time to live).
    var onWrite: ((_ key: [UInt8], _ value: StoredValue?) -> Void)?
    init(_ data: DataView) { self.data = data }
    var nowMs: UInt64 { wallMillis() }
    func storedEntry(_ key: [UInt8]) throws(StoreError) -> StoredValue? { decodeStored(try data.get(KeyLayout.dataKey(key))) }
    func put(_ key: [UInt8], _ value: StoredValue) {
        data.put(KeyLayout.dataKey(key), value.raw)
        onWrite?(key, value)
    }
    func delete(_ key: [UInt8]) {
        data.delete(KeyLayout.dataKey(key))
        onWrite?(key, nil)
    }
}

/// Reads through to the data (seeing its own recorded changes first) and records changes as
/// mutations instead of applying them.
final class RecordingKeyspace: Keyspace {
    let data: DataView
    let nowMs: UInt64
    private(set) var mutations: [Mutation] = []
    private var overlay: [ByteKey: StoredValue?] = [:]

    init(_ data: DataView, nowMs: UInt64 = wallMillis()) {
        self.data = data
        self.nowMs = nowMs
    }

    func storedEntry(_ key: [UInt8]) throws(StoreError) -> StoredValue? {
        if let v = overlay[ByteKey(key)] { return v }
        return decodeStored(try data.get(KeyLayout.dataKey(key)))
    }

    func put(_ key: [UInt8], _ value: StoredValue) {
        overlay[ByteKey(key)] = .some(value)
        mutations.append(.put(key: key, value: value.raw))
    }

    func delete(_ key: [UInt8]) {
        overlay[ByteKey(key)] = .some(nil)
        mutations.append(.delete(key: key))
    }
}
