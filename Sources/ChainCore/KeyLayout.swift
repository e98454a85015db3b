/// How keys are laid out in a node's store. Data keys carry their slot in front so that one
/// chain's data (a set of slot ranges) can be scanned, streamed and deleted as a unit; metadata
/// lives under its own prefix and is written in the same batch as the data it describes.
public enum KeyLayout {
    public static let dataTag: UInt8 = UInt8(ascii: "d")
    public static let metaTag: UInt8 = UInt8(ascii: "m")

    /// `d` + slot (2 bytes, big-endian) + user key.
    public static func dataKey(_ key: [UInt8]) -> [UInt8] {
        dataKey(key, slot: HashSlot.of(key))
    }

    public static func dataKey(_ key: [UInt8], slot: Int) -> [UInt8] {
        var k = [UInt8]()
        k.reserveCapacity(key.count + 3)
        k.append(dataTag)
        k.append(UInt8(slot >> 8))
        k.append(UInt8(slot & 0xff))
        k.append(contentsOf: key)
        return k
    }

    /// The prefix shared by every data key in `slot`.
    public static func slotPrefix(_ slot: Int) -> [UInt8] {
        [dataTag, UInt8(slot >> 8), UInt8(slot & 0xff)]
    }

    /// The user key inside a data key, nil if this is not a data key.
    public static func userKey(fromDataKey k: [UInt8]) -> [UInt8]? {
        guard k.count >= 3, k[0] == dataTag else { return nil }
        return Array(k[3...])
    }

    /// `m` + name: node-level and chain-level metadata.
    public static func metaKey(_ name: String) -> [UInt8] {
        [metaTag] + Array(name.utf8)
    }
}
