/// Updates applied atomically: all or none survive a crash.
public struct WriteBatch: Sendable, Equatable {
    public enum Op: Sendable, Equatable {
        case put(key: [UInt8], value: [UInt8])
        case delete(key: [UInt8])
        /// Deletes every key in [start, end).
        case deleteRange(start: [UInt8], end: [UInt8])
        /// A put whose key is `prefix` followed by `rest`: the caller's key needs no array of
        /// its own (the node's data keys are a short prefix in front of the user key).
        case putPrefixed(prefix: KeyPrefix, rest: [UInt8], value: [UInt8])
        case deletePrefixed(prefix: KeyPrefix, rest: [UInt8])
    }

    public private(set) var ops: [Op] = []
    /// Sum of key and value sizes, for metrics and batching decisions.
    public private(set) var byteCount = 0

    public init() {}

    public var isEmpty: Bool { ops.isEmpty }
    public var count: Int { ops.count }

    public mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        ops.append(.put(key: key, value: value))
        byteCount += key.count + value.count
    }

    public mutating func delete(_ key: [UInt8]) {
        ops.append(.delete(key: key))
        byteCount += key.count
    }

    public mutating func put(prefix: KeyPrefix, _ rest: [UInt8], _ value: [UInt8]) {
        ops.append(.putPrefixed(prefix: prefix, rest: rest, value: value))
        byteCount += prefix.count + rest.count + value.count
    }

    public mutating func delete(prefix: KeyPrefix, _ rest: [UInt8]) {
        ops.append(.deletePrefixed(prefix: prefix, rest: rest))
        byteCount += prefix.count + rest.count
    }

    public mutating func deleteRange(from start: [UInt8], to end: [UInt8]) {
        ops.append(.deleteRange(start: start, end: end))
        byteCount += start.count + end.count
    }

    public mutating func append(contentsOf other: WriteBatch) {
        ops.append(contentsOf: other.ops)
        byteCount += other.byteCount
    }

    /// Empties the batch, keeping its room for as many operations as a usual batch holds (a
    /// batch reused turn after turn does not regrow; one that held a bulk copy does not keep it).
    public mutating func removeAll() {
        if ops.capacity > 4096 { ops = [] } else { ops.removeAll(keepingCapacity: true) }
        byteCount = 0
    }
}
