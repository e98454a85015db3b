import ChainCore
import Storage

/// Why a command on user keys failed: the store failed, or the key holds another type.
enum CommandError: Error {
    case store(StoreError)
    case wrongType

    /// The error reply.
    var reply: String {
        switch self {
        case let .store(e): return "ERR store read failed: \(e)"
        case .wrongType: return "WRONGTYPE Operation against a key holding the wrong kind of value"
        }
    }
}

/// User keys as commands see them. Two implementations: `DirectKeyspace` applies changes to the
/// node's data at once (standalone mode, and reads at a tail); `RecordingKeyspace` only records
/// them, so that a chain head can turn a command into the mutations of an update before anything
/// is applied.
///
/// Values are `StoredValue`s. A key whose expiry time has passed (by `nowMs`) does not exist for
/// any command: `entry` and `get` return nil for it. A hash's fields are stored apart from its
/// value (which holds the field count), one store key per field.
protocol Keyspace: AnyObject {
    /// The time expiry is judged by, Unix milliseconds; fixed for one command.
    var nowMs: UInt64 { get }
    /// Whether any hash may exist (no hash field was ever stored: none can).
    var mayHoldHashes: Bool { get }
    /// The stored value, expired or not; nil if the key has none.
    func storedEntry(_ key: [UInt8]) throws(CommandError) -> StoredValue?
    func putValue(_ key: [UInt8], _ value: StoredValue)
    func deleteValue(_ key: [UInt8])
    func storedField(_ key: [UInt8], _ field: [UInt8]) throws(CommandError) -> [UInt8]?
    func putField(_ key: [UInt8], _ field: [UInt8], _ value: [UInt8])
    func deleteField(_ key: [UInt8], _ field: [UInt8])
    /// Every field of hash `key` with its value, in field order.
    func storedFields(_ key: [UInt8]) throws(CommandError) -> [(field: [UInt8], value: [UInt8])]
    /// Up to `limit` fields after field `after` (from the first when nil), in field order, and
    /// whether more may follow.
    func storedFields(_ key: [UInt8], after: [UInt8]?, limit: Int) throws(CommandError) -> (fields: [(field: [UInt8], value: [UInt8])], more: Bool)
    /// HSCAN's cursors on this node.
    var hashScans: HashScanCursors { get }
}

extension Keyspace {
    /// The key's value if it exists now.
    func entry(_ key: [UInt8]) throws(CommandError) -> StoredValue? {
        guard let e = try storedEntry(key), e.isLive(nowMs: nowMs) else { return nil }
        return e
    }

    /// The key's value if it exists now and is a string (`WRONGTYPE` if it is not).
    func stringEntry(_ key: [UInt8]) throws(CommandError) -> StoredValue? {
        guard let e = try entry(key) else { return nil }
        guard e.type == .string else { throw .wrongType }
        return e
    }

    /// The key's value if it exists now and is a hash (`WRONGTYPE` if it is not).
    func hashEntry(_ key: [UInt8]) throws(CommandError) -> StoredValue? {
        guard let e = try entry(key) else { return nil }
        guard e.type == .hash else { throw .wrongType }
        return e
    }

    /// The key's bytes if it exists now (a string).
    func get(_ key: [UInt8]) throws(CommandError) -> [UInt8]? {
        try stringEntry(key).map { Array($0.payload) }
    }

    /// Replaces whatever the key holds with `value`: an old hash's fields go.
    func put(_ key: [UInt8], _ value: StoredValue) throws(CommandError) {
        if mayHoldHashes, let old = try storedEntry(key), old.type == .hash { try deleteFields(key) }
        putValue(key, value)
    }

    /// Sets the key's bytes without a time to live (SET, MSET, GETSET: a new value forgets the
    /// old one's expiry).
    func put(_ key: [UInt8], _ bytes: [UInt8]) throws(CommandError) {
        try put(key, StoredValue(payload: bytes))
    }

    /// Changes a string's bytes and keeps its expiry (INCR, APPEND, SETRANGE: Redis keeps the
    /// time to live of a key modified in place). `old` is the key's live string value, if any;
    /// without one, whatever expired there is replaced.
    func modify(_ key: [UInt8], _ bytes: [UInt8], keepingExpiryOf old: StoredValue?) throws(CommandError) {
        if let old { putValue(key, StoredValue(payload: bytes, expiresAtMs: old.expiresAtMs)) } else { try put(key, bytes) }
    }

    /// Deletes the key, whatever it holds (expired or not).
    func delete(_ key: [UInt8]) throws(CommandError) {
        guard let old = try storedEntry(key) else { return }
        if old.type == .hash { try deleteFields(key) }
        deleteValue(key)
    }

    private func deleteFields(_ key: [UInt8]) throws(CommandError) {
        for f in try storedFields(key) { deleteField(key, f.field) }
    }
}

/// Decodes stored bytes; bytes in no known format (a store not yet converted) read as a string.
private func decodeStored(_ raw: ArraySlice<UInt8>?) -> StoredValue? {
    guard let raw else { return nil }
    return StoredValue(raw: raw) ?? StoredValue(payload: raw)
}

/// The fields of hash `key` among store entries under its field prefix.
private func fields(of key: [UInt8], _ entries: [(key: [UInt8], value: [UInt8])]) -> [(field: [UInt8], value: [UInt8])] {
    let skip = KeyLayout.fieldPrefix(key).count
    return entries.map { (Array($0.key[skip...]), $0.value) }
}

private func reading<T>(_ body: () throws(StoreError) -> T) throws(CommandError) -> T {
    do { return try body() } catch { throw .store(error) }
}

final class DirectKeyspace: Keyspace {
    let data: DataView
    /// Called for every key written or deleted (a standalone node's `WATCH` table, and its
    /// expiry sweep, which wakes up for a value with a time to live).
    var onWrite: ((_ key: [UInt8], _ value: StoredValue?) -> Void)?
    init(_ data: DataView) { self.data = data }
    var nowMs: UInt64 { wallMillis() }
    var mayHoldHashes: Bool { data.mayHoldHashes }
    func storedEntry(_ key: [UInt8]) throws(CommandError) -> StoredValue? {
        decodeStored(try reading { () throws(StoreError) in try data.getValue(key) })
    }
    // A standalone node is its keys' head and tail at once: as there, a written key's cached
    // value is kept current and a key is entered by its first read (`DataView.CacheUse`).
    func putValue(_ key: [UInt8], _ value: StoredValue) {
        data.putValue(key, Array(value.raw), cache: .refresh)
        onWrite?(key, value)
    }
    func deleteValue(_ key: [UInt8]) {
        data.deleteValue(key, cache: .refresh)
        onWrite?(key, nil)
    }
    func storedField(_ key: [UInt8], _ field: [UInt8]) throws(CommandError) -> [UInt8]? {
        try reading { () throws(StoreError) in try data.get(KeyLayout.fieldKey(key, field)) }
    }
    func putField(_ key: [UInt8], _ field: [UInt8], _ value: [UInt8]) {
        data.put(KeyLayout.fieldKey(key, field), value)
        onWrite?(key, nil)
    }
    func deleteField(_ key: [UInt8], _ field: [UInt8]) {
        data.delete(KeyLayout.fieldKey(key, field))
        onWrite?(key, nil)
    }
    func storedFields(_ key: [UInt8]) throws(CommandError) -> [(field: [UInt8], value: [UInt8])] {
        fields(of: key, try reading { () throws(StoreError) in try data.entries(withPrefix: KeyLayout.fieldPrefix(key)) })
    }
    func storedFields(_ key: [UInt8], after: [UInt8]?, limit: Int) throws(CommandError) -> (fields: [(field: [UInt8], value: [UInt8])], more: Bool) {
        let prefix = KeyLayout.fieldPrefix(key)
        let page = try reading { () throws(StoreError) in try data.entries(withPrefix: prefix, after: after.map { prefix + $0 }, limit: limit) }
        return (fields(of: key, page.entries), page.more)
    }
    var hashScans: HashScanCursors { data.hashScans }
}

/// Reads through to the data (seeing its own recorded changes first) and records changes as
/// mutations instead of applying them.
final class RecordingKeyspace: Keyspace {
    let data: DataView
    let nowMs: UInt64
    private(set) var mutations = Mutations()
    private var overlay: [ByteKey: StoredValue?] = [:]
    /// Fields written by this command, by field store key (nil: deleted).
    private var fieldOverlay: [ByteKey: [UInt8]?] = [:]
    private var wroteFields = false

    init(_ data: DataView, nowMs: UInt64 = wallMillis()) {
        self.data = data
        self.nowMs = nowMs
    }

    var mayHoldHashes: Bool { wroteFields || data.mayHoldHashes }

    func storedEntry(_ key: [UInt8]) throws(CommandError) -> StoredValue? {
        if let v = overlay[ByteKey(key)] { return v }
        return decodeStored(try reading { () throws(StoreError) in try data.getValue(key) })
    }

    func putValue(_ key: [UInt8], _ value: StoredValue) {
        overlay[ByteKey(key)] = .some(value)
        mutations.append(.put(key: key, value: Array(value.raw)))
    }

    func deleteValue(_ key: [UInt8]) {
        overlay[ByteKey(key)] = .some(nil)
        mutations.append(.delete(key: key))
    }

    func storedField(_ key: [UInt8], _ field: [UInt8]) throws(CommandError) -> [UInt8]? {
        let k = KeyLayout.fieldKey(key, field)
        if let v = fieldOverlay[ByteKey(k)] { return v }
        return try reading { () throws(StoreError) in try data.get(k) }
    }

    func putField(_ key: [UInt8], _ field: [UInt8], _ value: [UInt8]) {
        wroteFields = true
        fieldOverlay[ByteKey(KeyLayout.fieldKey(key, field))] = .some(value)
        mutations.append(.putField(key: key, field: field, value: value))
    }

    func deleteField(_ key: [UInt8], _ field: [UInt8]) {
        fieldOverlay[ByteKey(KeyLayout.fieldKey(key, field))] = .some(nil)
        mutations.append(.deleteField(key: key, field: field))
    }

    func storedFields(_ key: [UInt8]) throws(CommandError) -> [(field: [UInt8], value: [UInt8])] {
        let prefix = KeyLayout.fieldPrefix(key)
        var entries = try reading { () throws(StoreError) in try data.entries(withPrefix: prefix) }
        let mine = fieldOverlay.filter { $0.key.bytes.starts(with: prefix) }
        if !mine.isEmpty {
            var merged = Dictionary(entries.map { (ByteKey($0.key), $0.value) }, uniquingKeysWith: { $1 })
            for (k, v) in mine { merged[k] = v }
            entries = merged.map { (key: Array($0.key.bytes), value: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        }
        return fields(of: key, entries)
    }

    /// (Inside a transaction: a page of all the fields, merged with the transaction's own.)
    func storedFields(_ key: [UInt8], after: [UInt8]?, limit: Int) throws(CommandError) -> (fields: [(field: [UInt8], value: [UInt8])], more: Bool) {
        let rest = try storedFields(key).filter { f in after.map { $0.lexicographicallyPrecedes(f.field) } ?? true }
        return (Array(rest.prefix(limit)), rest.count > limit)
    }

    var hashScans: HashScanCursors { data.hashScans }
}
