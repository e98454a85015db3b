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
        /// A put whose key is `prefix` followed by the first bytes of `shared` and whose value is
        /// the end of `shared` (`split` says where each part is): a replica holds a put's key
        /// and value in one array.
        case putPrefixedShared(prefix: KeyPrefix, shared: [UInt8], split: SharedSplit)
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

    public mutating func put(prefix: KeyPrefix, shared: [UInt8], split: SharedSplit) {
        ops.append(.putPrefixedShared(prefix: prefix, shared: shared, split: split))
        byteCount += prefix.count + split.keyCount + (shared.count - split.valueStart)
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
        // Popped, not `removeAll(keepingCapacity:)`: that generic range replacement cost about
        // 90 instructions an operation (callgrind).
        if ops.capacity > 4096 { ops = [] } else { while !ops.isEmpty { ops.removeLast() } }
        byteCount = 0
    }
}

/// Where a key and a value lie in one array (`WriteBatch.Op.putPrefixedShared`): the key is its
/// first `keyCount` bytes, the value everything from `valueStart` on. One word, so the batch's
/// operations stay as small as with two arrays.
public struct SharedSplit: Sendable, Equatable {
    private let packed: UInt64

    public init(keyCount: Int, valueStart: Int) {
        precondition(keyCount >= 0 && keyCount <= valueStart && valueStart <= Int(UInt32.max), "a key must come before its value")
        packed = UInt64(keyCount) << 32 | UInt64(valueStart)
    }

    public var keyCount: Int { Int(packed >> 32) }
    public var valueStart: Int { Int(packed & 0xffff_ffff) }

    public func key(_ shared: [UInt8]) -> ArraySlice<UInt8> { shared[0..<keyCount] }
    public func value(_ shared: [UInt8]) -> ArraySlice<UInt8> { shared[valueStart...] }
}
