/// A put's key and value in one array: how a replica holds an update it decoded from a frame
/// (one allocation where two arrays were two; callgrind). Two words, like the two arrays of
/// `Mutation.put`, so a mutation still copies with a retain (the key and value as two slices
/// made a mutation too large to copy inline: about 3k instructions a write more at one chain).
public struct KeyValue: Sendable {
    /// The key's bytes, then — from `valueStart` on — the value's; anything between is not
    /// either (the frame's length field, copied along).
    public let storage: [UInt8]
    @usableFromInline let keyEnd: UInt32
    @usableFromInline let valueFrom: UInt32

    /// `storage[0..<keyCount]` is the key, `storage[valueStart...]` the value.
    public init(storage: [UInt8], keyCount: Int, valueStart: Int) {
        precondition(keyCount >= 0 && keyCount <= valueStart && valueStart <= storage.count, "key and value must lie inside the storage, in order")
        precondition(storage.count <= Int(UInt32.max), "a key and value of more than 4 GiB")
        self.storage = storage
        keyEnd = UInt32(keyCount)
        valueFrom = UInt32(valueStart)
    }

    @inlinable public var keyCount: Int { Int(keyEnd) }
    @inlinable public var valueStart: Int { Int(valueFrom) }
    @inlinable public var key: ArraySlice<UInt8> { storage[0..<Int(keyEnd)] }
    @inlinable public var value: ArraySlice<UInt8> { storage[Int(valueFrom)...] }
}

extension KeyValue: Equatable, Hashable {
    /// Equal when key and value are, wherever they lie in their storage.
    public static func == (a: KeyValue, b: KeyValue) -> Bool { a.key == b.key && a.value == b.value }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(key)
        hasher.combine(value)
    }
}
