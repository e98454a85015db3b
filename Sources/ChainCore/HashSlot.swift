/// Redis Cluster's key → slot mapping: CRC16 (XMODEM) of the key, or of the part inside the first
/// non-empty `{…}`, modulo 16384. Using the same function means Redis tooling agrees with us on
/// which keys share a slot.
public enum HashSlot {
    public static let count = 16384

    /// Not generic on purpose: a generic collection method called across modules runs
    /// unspecialized (boxed indices, an allocation per call), and this runs on every request.
    public static func of(_ key: [UInt8]) -> Int { key.withUnsafeBufferPointer { of(bytes: $0) } }

    public static func of(_ key: ArraySlice<UInt8>) -> Int { key.withUnsafeBufferPointer { of(bytes: $0) } }

    public static func of(_ key: String) -> Int { of(Array(key.utf8)) }

    static func of(bytes key: UnsafeBufferPointer<UInt8>) -> Int {
        var start = 0
        var end = key.count
        if let open = firstOpenBrace(key),
           let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            start = open + 1
            end = close
        }
        return Int(crc16(UnsafeBufferPointer(rebasing: key[start..<end])) & 0x3fff)
    }

    /// The first `{` in `key`, looked for eight bytes at a time (most keys have none, and every
    /// request and replicated update asks: a byte at a time was about 100 instructions a key).
    static func firstOpenBrace(_ key: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let base = key.baseAddress else { return nil }
        let raw = UnsafeRawPointer(base)
        let n = key.count
        var i = 0
        while i + 8 <= n {
            // A zero byte in `x` marks a `{` in the word (the usual has-zero-byte test).
            let x = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ 0x7B7B_7B7B_7B7B_7B7B
            if (x &- 0x0101_0101_0101_0101) & ~x & 0x8080_8080_8080_8080 != 0 { break }
            i += 8
        }
        while i < n {
            if base[i] == UInt8(ascii: "{") { return i }
            i += 1
        }
        return nil
    }

    static func crc16(_ bytes: [UInt8]) -> UInt16 { bytes.withUnsafeBufferPointer { crc16($0) } }

    /// Two bytes a step: with `x` the CRC so far xor the next two bytes (big-endian), the CRC
    /// after them is `T2[x >> 8] ^ T1[x & 0xff]` — the CRC is linear, so the first byte's table
    /// entry, pushed through the second step, folds into a second table (`T2[i]` is byte `i`
    /// followed by a zero byte). Half the dependent table loads of a byte at a time: every
    /// request and every replica of a write hashes its key (callgrind: about 216 instructions
    /// for a 16-byte key before).
    static func crc16(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt16 {
        guard let base = bytes.baseAddress else { return 0 }
        let raw = UnsafeRawPointer(base)
        let pairs = bytes.count / 2
        var crc: UInt16 = 0
        tables.withUnsafeBufferPointer { t in
            // (Wrapping arithmetic: the index cannot overflow, and checked additions were a
            // third of the loop.)
            var at = 0
            for _ in 0..<pairs {
                let x = crc ^ UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt16.self))
                crc = t[256 &+ Int(x >> 8)] ^ t[Int(x & 0xff)]
                at = at &+ 2
            }
            if at < bytes.count { crc = (crc << 8) ^ t[Int((crc >> 8) ^ UInt16(base[at]))] }
        }
        return crc
    }

    /// `T1` (a byte at a time, entries 0..<256) then `T2` (entries 256..<512).
    private static let tables: [UInt16] = {
        let t1 = (0..<256).map { i -> UInt16 in
            var c = UInt16(i) << 8
            for _ in 0..<8 { c = (c & 0x8000) != 0 ? (c << 1) ^ 0x1021 : c << 1 }
            return c
        }
        let t2 = (0..<256).map { i in t1[Int(t1[i] >> 8)] ^ (t1[i] << 8) }
        return t1 + t2
    }()
}
