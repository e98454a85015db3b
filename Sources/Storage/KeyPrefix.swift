/// Up to eight bytes that go in front of a key, kept in a register instead of an array: a
/// `WriteBatch` entry can then name a key as prefix + the caller's own bytes, and the store
/// joins the two in stack memory when it writes the batch.
public struct KeyPrefix: Sendable, Equatable {
    /// The bytes, first one in the most significant byte.
    public let packed: UInt64
    public let count: Int

    public init(packed: UInt64, count: Int) {
        precondition(count >= 0 && count <= 8, "a key prefix holds at most 8 bytes")
        self.packed = packed
        self.count = count
    }

    /// Calls `body` with the whole key, prefix and `rest`, in stack memory.
    public func withKey<R>(_ rest: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withKey(rest[...], body)
    }

    public func withKey<R>(_ rest: ArraySlice<UInt8>, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let n = rest.count
        return try withUnsafeTemporaryAllocation(byteCount: count + n, alignment: 8) { out in
            var be = packed.bigEndian
            withUnsafeBytes(of: &be) { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: count) }
            if n > 0 { rest.withUnsafeBytes { (out.baseAddress! + count).copyMemory(from: $0.baseAddress!, byteCount: n) } }
            return try body(UnsafeRawBufferPointer(out))
        }
    }

    /// The whole key as an array.
    public func key(_ rest: [UInt8]) -> [UInt8] { withKey(rest) { Array($0) } }
    public func key(_ rest: ArraySlice<UInt8>) -> [UInt8] { withKey(rest) { Array($0) } }
}
