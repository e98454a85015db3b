import ChainCore
import Storage

/// User keys as commands see them. Two implementations: `DirectKeyspace` applies changes to the
/// node's data at once (standalone mode); `RecordingKeyspace` only records them, so that a chain
/// head can turn a command into the mutations of an update before anything is applied.
protocol Keyspace: AnyObject {
    func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]?
    func put(_ key: [UInt8], _ value: [UInt8])
    func delete(_ key: [UInt8])
}

final class DirectKeyspace: Keyspace {
    let data: DataView
    init(_ data: DataView) { self.data = data }
    func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]? { try data.get(KeyLayout.dataKey(key)) }
    func put(_ key: [UInt8], _ value: [UInt8]) { data.put(KeyLayout.dataKey(key), value) }
    func delete(_ key: [UInt8]) { data.delete(KeyLayout.dataKey(key)) }
}

/// Reads through to the data (seeing its own recorded changes first) and records changes as
/// mutations instead of applying them.
final class RecordingKeyspace: Keyspace {
    let data: DataView
    private(set) var mutations: [Mutation] = []
    private var overlay: [ByteKey: [UInt8]?] = [:]

    init(_ data: DataView) { self.data = data }

    func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]? {
        if let v = overlay[ByteKey(key)] { return v }
        return try data.get(KeyLayout.dataKey(key))
    }

    func put(_ key: [UInt8], _ value: [UInt8]) {
        overlay[ByteKey(key)] = .some(value)
        mutations.append(.put(key: key, value: value))
    }

    func delete(_ key: [UInt8]) {
        overlay[ByteKey(key)] = .some(nil)
        mutations.append(.delete(key: key))
    }
}
