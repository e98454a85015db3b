/// Redis Cluster's key → slot mapping: CRC16 (XMODEM) of the key, or of the part inside the first
/// non-empty `{…}`, modulo 16384. Using the same function means Redis tooling agrees with us on
/// which keys share a slot.
public enum HashSlot {
    public static let count = 16384

    public static func of<C: Collection>(_ key: C) -> Int where C.Element == UInt8, C.Index == Int {
        var start = key.startIndex
        var end = key.endIndex
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
           let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            start = open + 1
            end = close
        }
        return Int(crc16(key[start..<end]) & 0x3fff)
    }

    public static func of(_ key: String) -> Int { of(Array(key.utf8)) }

    static func crc16<C: Collection>(_ bytes: C) -> UInt16 where C.Element == UInt8 {
        var crc: UInt16 = 0
        for b in bytes {
            crc = (crc << 8) ^ table[Int((crc >> 8) ^ UInt16(b))]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { i -> UInt16 in
        var c = UInt16(i) << 8
        for _ in 0..<8 { c = (c & 0x8000) != 0 ? (c << 1) ^ 0x1021 : c << 1 }
        return c
    }
}
