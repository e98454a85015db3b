/// What a set of stored keys holds, summed so that two stores can be compared without shipping
/// their data: how many user keys (data keys; hash fields are not keys of their own) and an
/// order-independent digest (XOR of a 64-bit FNV-1a hash of every key and value, hash fields
/// included). Replicas of a chain compare these (`/digests`); a backup records them per chain
/// and a restore checks the restored cluster against them.
public struct ContentDigest: Sendable, Equatable {
    public var keys: Int = 0
    public var digest: UInt64 = 0

    public init() {}

    public init(keys: Int, digest: UInt64) {
        self.keys = keys
        self.digest = digest
    }

    /// Adds one stored key (a data or field key) and its stored value.
    public mutating func add(storeKey k: [UInt8], value v: [UInt8]) {
        if k.first == KeyLayout.dataTag { keys += 1 }
        digest ^= Self.fnv64(k, v)
    }

    /// Adds another set of keys, disjoint from this one.
    public mutating func merge(_ other: ContentDigest) {
        keys += other.keys
        digest ^= other.digest
    }

    public var digestHex: String { String(digest, radix: 16) }

    static func fnv64(_ a: [UInt8], _ b: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in a { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
        h = (h ^ 0xff) &* 0x100_0000_01b3
        for x in b { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
        return h
    }
}
