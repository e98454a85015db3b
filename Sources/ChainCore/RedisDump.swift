/// Redis's `DUMP` payload: one value in RDB encoding, then the RDB version (2 bytes, little
/// endian) and a CRC-64 of everything before it (8 bytes, little endian). Pure: `DUMP` and
/// `RESTORE` use it to move strings and hashes between chainstore and Redis.
///
/// Written: strings as RDB type 0 and hashes as type 4 (field/value pairs), both understood by
/// every Redis since 2.6, under RDB version 9 (Redis 5 and later accept it). Read: strings in
/// every RDB string encoding (raw, integer, LZF-compressed) and hashes as type 4, a ziplist
/// (type 13, Redis ≤ 6) or a listpack (type 16, Redis 7), RDB versions up to 12.
public enum RedisDump {
    public enum Value: Equatable, Sendable {
        case string([UInt8])
        /// Field/value pairs, in the payload's order.
        case hash([[UInt8]])
    }

    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        /// Too short, a version newer than this reader, or a CRC mismatch.
        case versionOrChecksum
        /// A type chainstore does not store (the family, as the unsupported-command errors name it).
        case unsupportedType(family: String)
        case malformed(String)

        public var description: String {
            switch self {
            case .versionOrChecksum: return "DUMP payload version or checksum are wrong"
            case let .unsupportedType(f): return "a DUMP payload of \(f)"
            case let .malformed(why): return "Bad data format (\(why))"
            }
        }
    }

    static let writtenVersion: UInt16 = 9
    static let newestReadable: UInt16 = 12

    enum RDBType {
        static let string: UInt8 = 0
        static let hash: UInt8 = 4
        static let hashZiplist: UInt8 = 13
        static let hashListpack: UInt8 = 16
    }

    public static func encode(_ value: Value) -> [UInt8] {
        var out: [UInt8] = []
        switch value {
        case let .string(s):
            out.append(RDBType.string)
            appendString(s, to: &out)
        case let .hash(pairs):
            out.append(RDBType.hash)
            appendLength(UInt64(pairs.count / 2), to: &out)
            for x in pairs { appendString(x, to: &out) }
        }
        out.append(UInt8(writtenVersion & 0xff))
        out.append(UInt8(writtenVersion >> 8))
        let crc = CRC64.jones(out)
        for i in 0..<8 { out.append(UInt8((crc >> (8 * UInt64(i))) & 0xff)) }
        return out
    }

    public static func decode(_ payload: [UInt8]) throws(DecodeError) -> Value {
        guard payload.count >= 10 else { throw .versionOrChecksum }
        let n = payload.count
        let version = UInt16(payload[n - 10]) | UInt16(payload[n - 9]) << 8
        guard version <= newestReadable else { throw .versionOrChecksum }
        var crc: UInt64 = 0
        for i in 0..<8 { crc |= UInt64(payload[n - 8 + i]) << (8 * UInt64(i)) }
        guard CRC64.jones(payload[0..<(n - 8)]) == crc else { throw .versionOrChecksum }
        var r = RDBReader(bytes: payload[0..<(n - 10)])
        let type = try r.byte()
        let value: Value
        switch type {
        case RDBType.string:
            value = .string(try r.string())
        case RDBType.hash:
            let count = try r.length()
            guard count <= UInt64(r.remaining) else { throw .malformed("hash of \(count) fields in \(r.remaining) bytes") }
            var pairs: [[UInt8]] = []
            for _ in 0..<(count * 2) { pairs.append(try r.string()) }
            value = .hash(pairs)
        case RDBType.hashZiplist:
            value = .hash(try Ziplist.elements(try r.string()))
        case RDBType.hashListpack:
            value = .hash(try Listpack.elements(try r.string()))
        case 1, 10, 14, 18: throw .unsupportedType(family: "lists")
        case 2, 11, 20: throw .unsupportedType(family: "sets")
        case 3, 5, 12, 17: throw .unsupportedType(family: "sorted sets")
        case 15, 19, 21: throw .unsupportedType(family: "streams")
        case 6, 7: throw .unsupportedType(family: "module types")
        default: throw .malformed("RDB type \(type)")
        }
        guard r.remaining == 0 else { throw .malformed("\(r.remaining) bytes after the value") }
        if case let .hash(pairs) = value {
            guard !pairs.isEmpty, pairs.count % 2 == 0 else { throw .malformed("a hash needs field/value pairs") }
            var seen = Set<[UInt8]>()
            for i in stride(from: 0, to: pairs.count, by: 2) where !seen.insert(pairs[i]).inserted {
                throw .malformed("duplicate hash field")
            }
        }
        return value
    }

    static func appendLength(_ n: UInt64, to out: inout [UInt8]) {
        if n < 64 {
            out.append(UInt8(n))
        } else if n < 16384 {
            out.append(0x40 | UInt8(n >> 8))
            out.append(UInt8(n & 0xff))
        } else if n <= UInt64(UInt32.max) {
            out.append(0x80)
            for i in (0..<4).reversed() { out.append(UInt8((n >> (8 * UInt64(i))) & 0xff)) }
        } else {
            out.append(0x81)
            for i in (0..<8).reversed() { out.append(UInt8((n >> (8 * UInt64(i))) & 0xff)) }
        }
    }

    static func appendString(_ s: [UInt8], to out: inout [UInt8]) {
        appendLength(UInt64(s.count), to: &out)
        out.append(contentsOf: s)
    }
}

/// Reads RDB lengths and strings, never past its bytes.
struct RDBReader {
    let bytes: ArraySlice<UInt8>
    var at: Int

    init(bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        at = bytes.startIndex
    }

    var remaining: Int { bytes.endIndex - at }

    mutating func byte() throws(RedisDump.DecodeError) -> UInt8 {
        guard at < bytes.endIndex else { throw .malformed("truncated") }
        defer { at += 1 }
        return bytes[at]
    }

    mutating func take(_ n: Int) throws(RedisDump.DecodeError) -> [UInt8] {
        guard n >= 0, n <= remaining else { throw .malformed("truncated") }
        defer { at += n }
        return Array(bytes[at..<(at + n)])
    }

    /// An unsigned big-endian integer of `n` bytes.
    mutating func bigEndian(_ n: Int) throws(RedisDump.DecodeError) -> UInt64 {
        var v: UInt64 = 0
        for b in try take(n) { v = v << 8 | UInt64(b) }
        return v
    }

    /// A signed little-endian integer of `n` bytes.
    mutating func littleEndianSigned(_ n: Int) throws(RedisDump.DecodeError) -> Int64 {
        let b = try take(n)
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(b[i]) << (8 * UInt64(i)) }
        let shift = UInt64(64 - 8 * n)
        return Int64(bitPattern: v << shift) >> Int64(shift)
    }

    /// A length; an encoded (special) string's marker throws — `string()` handles those.
    mutating func length() throws(RedisDump.DecodeError) -> UInt64 {
        let (n, special) = try lengthOrSpecial()
        guard !special else { throw .malformed("an encoded value where a length belongs") }
        return n
    }

    private mutating func lengthOrSpecial() throws(RedisDump.DecodeError) -> (UInt64, Bool) {
        let b = try byte()
        switch b >> 6 {
        case 0: return (UInt64(b & 0x3f), false)
        case 1: return (UInt64(b & 0x3f) << 8 | UInt64(try byte()), false)
        case 2:
            if b == 0x80 { return (try bigEndian(4), false) }
            if b == 0x81 { return (try bigEndian(8), false) }
            throw .malformed("length marker \(b)")
        default: return (UInt64(b & 0x3f), true)
        }
    }

    mutating func string() throws(RedisDump.DecodeError) -> [UInt8] {
        let (n, special) = try lengthOrSpecial()
        guard special else {
            guard n <= UInt64(remaining) else { throw .malformed("truncated") }
            return try take(Int(n))
        }
        switch n {
        case 0: return Array(String(try littleEndianSigned(1)).utf8)
        case 1: return Array(String(try littleEndianSigned(2)).utf8)
        case 2: return Array(String(try littleEndianSigned(4)).utf8)
        case 3:
            let compressed = try length(), plain = try length()
            guard compressed <= UInt64(remaining), plain <= 1 << 32 else { throw .malformed("LZF lengths") }
            return try LZF.decompress(try take(Int(compressed)), length: Int(plain))
        default: throw .malformed("string encoding \(n)")
        }
    }
}

/// Redis's CRC-64 (Jones polynomial, reflected, no final xor): the checksum of DUMP payloads
/// and RDB files.
enum CRC64 {
    private static let table: [UInt64] = (0..<256).map { i -> UInt64 in
        var crc = UInt64(i)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5 : crc >> 1 }
        return crc
    }

    static func jones<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
        var crc: UInt64 = 0
        for b in bytes { crc = table[Int((crc ^ UInt64(b)) & 0xff)] ^ (crc >> 8) }
        return crc
    }
}

/// LZF, as Redis compresses long strings in RDB.
enum LZF {
    static func decompress(_ input: [UInt8], length: Int) throws(RedisDump.DecodeError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(length)
        var i = 0
        while i < input.count {
            let ctrl = Int(input[i])
            i += 1
            if ctrl < 32 {
                let n = ctrl + 1
                guard i + n <= input.count, out.count + n <= length else { throw .malformed("LZF literal") }
                out.append(contentsOf: input[i..<(i + n)])
                i += n
            } else {
                var n = ctrl >> 5
                if n == 7 {
                    guard i < input.count else { throw .malformed("LZF back reference") }
                    n += Int(input[i])
                    i += 1
                }
                guard i < input.count else { throw .malformed("LZF back reference") }
                let back = ((ctrl & 0x1f) << 8) + Int(input[i]) + 1
                i += 1
                n += 2
                guard back <= out.count, out.count + n <= length else { throw .malformed("LZF back reference") }
                let from = out.count - back
                for k in 0..<n { out.append(out[from + k]) }
            }
        }
        guard out.count == length else { throw .malformed("LZF length") }
        return out
    }
}

/// The elements of a listpack (Redis 7's small-collection encoding); integers come back as
/// their decimal text.
enum Listpack {
    static func elements(_ lp: [UInt8]) throws(RedisDump.DecodeError) -> [[UInt8]] {
        guard lp.count >= 7 else { throw .malformed("listpack header") }
        var out: [[UInt8]] = []
        var p = 6
        while true {
            guard p < lp.count else { throw .malformed("listpack without an end") }
            let b = lp[p]
            if b == 0xff { break }
            var r = RDBReader(bytes: lp[(p + 1)...])
            let element: [UInt8]
            if b & 0x80 == 0 {
                element = Array(String(b & 0x7f).utf8)
            } else if b & 0xc0 == 0x80 {
                element = try r.take(Int(b & 0x3f))
            } else if b & 0xe0 == 0xc0 {
                let v = Int(b & 0x1f) << 8 | Int(try r.byte())
                element = Array(String(v >= 1 << 12 ? v - (1 << 13) : v).utf8)
            } else if b & 0xf0 == 0xe0 {
                element = try r.take(Int(b & 0x0f) << 8 | Int(try r.byte()))
            } else {
                switch b {
                case 0xf0: element = try r.take(Int(try r.littleEndianSigned(4) & 0xffff_ffff))
                case 0xf1: element = Array(String(try r.littleEndianSigned(2)).utf8)
                case 0xf2: element = Array(String(try r.littleEndianSigned(3)).utf8)
                case 0xf3: element = Array(String(try r.littleEndianSigned(4)).utf8)
                case 0xf4: element = Array(String(try r.littleEndianSigned(8)).utf8)
                default: throw .malformed("listpack entry \(b)")
                }
            }
            let entryLength = r.at - p
            // Each entry ends with its length, in 1 to 5 bytes.
            let back = entryLength < 128 ? 1 : entryLength < 16384 ? 2 : entryLength < 2_097_152 ? 3 : entryLength < 268_435_456 ? 4 : 5
            p = r.at + back
            out.append(element)
        }
        return out
    }
}

/// The elements of a ziplist (the small-collection encoding before Redis 7).
enum Ziplist {
    static func elements(_ zl: [UInt8]) throws(RedisDump.DecodeError) -> [[UInt8]] {
        guard zl.count >= 11 else { throw .malformed("ziplist header") }
        var out: [[UInt8]] = []
        var r = RDBReader(bytes: zl[10...])
        while true {
            let first = try r.byte()
            if first == 0xff { break }
            // The previous entry's length: one byte, or 0xfe and four more.
            if first == 0xfe { _ = try r.take(4) }
            let b = try r.byte()
            switch b >> 6 {
            case 0: out.append(try r.take(Int(b & 0x3f)))
            case 1: out.append(try r.take(Int(b & 0x3f) << 8 | Int(try r.byte())))
            case 2:
                guard b == 0x80 else { throw .malformed("ziplist entry \(b)") }
                out.append(try r.take(Int(try r.bigEndian(4))))
            default:
                let v: Int64
                switch b {
                case 0xc0: v = try r.littleEndianSigned(2)
                case 0xd0: v = try r.littleEndianSigned(4)
                case 0xe0: v = try r.littleEndianSigned(8)
                case 0xf0: v = try r.littleEndianSigned(3)
                case 0xfe: v = try r.littleEndianSigned(1)
                case 0xf1...0xfd: v = Int64(b & 0x0f) - 1
                default: throw .malformed("ziplist entry \(b)")
                }
                out.append(Array(String(v).utf8))
            }
        }
        return out
    }
}
