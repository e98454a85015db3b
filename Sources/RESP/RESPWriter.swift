/// Appends RESP replies (or commands) to a byte buffer. `version` 2 or 3 decides how nulls, maps,
/// doubles and booleans are written; RESP2 gets the same information in RESP2 shapes.
public struct RESPWriter: Sendable {
    public var bytes: [UInt8]
    public var version: Int

    public init(version: Int = 2, capacity: Int = 0) {
        self.version = version
        self.bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var isEmpty: Bool { bytes.isEmpty }

    public mutating func clear() { bytes.removeAll(keepingCapacity: true) }

    public mutating func simple(_ s: String) {
        bytes.append(UInt8(ascii: "+"))
        bytes.append(contentsOf: s.utf8)
        crlf()
    }

    public mutating func ok() { bytes.append(contentsOf: Self.okBytes) }

    /// An error line; `message` starts with its code (`ERR …`, `MOVED …`). CR/LF are replaced so a
    /// message can never break the framing.
    public mutating func error(_ message: String) {
        bytes.append(UInt8(ascii: "-"))
        for b in message.utf8 { bytes.append(b == 13 || b == 10 ? 32 : b) }
        crlf()
    }

    public mutating func integer<I: BinaryInteger>(_ v: I) {
        bytes.append(UInt8(ascii: ":"))
        decimal(Int64(v))
        crlf()
    }

    public mutating func bulk<C: Collection>(_ b: C) where C.Element == UInt8 {
        bytes.append(UInt8(ascii: "$"))
        decimal(Int64(b.count))
        crlf()
        bytes.append(contentsOf: b)
        crlf()
    }

    public mutating func bulk(_ s: String) { bulk(Array(s.utf8)) }

    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    public mutating func null() {
        bytes.append(contentsOf: version >= 3 ? Self.null3 : Self.null2)
    }

    /// A missing array (`EXEC` of an aborted transaction): `*-1` in RESP2, `_` in RESP3.
    public mutating func nullArray() {
        bytes.append(contentsOf: version >= 3 ? Self.null3 : Self.resp2NullArray)
    }

    public mutating func arrayHeader(_ n: Int) {
        bytes.append(UInt8(ascii: "*"))
        decimal(Int64(n))
        crlf()
    }

    /// A map of `n` pairs: `%n` in RESP3, a flat array of 2n elements in RESP2.
    public mutating func mapHeader(_ n: Int) {
        if version >= 3 {
            bytes.append(UInt8(ascii: "%"))
            decimal(Int64(n))
            crlf()
        } else {
            arrayHeader(2 * n)
        }
    }

    public mutating func double(_ d: Double) {
        if version >= 3 {
            bytes.append(UInt8(ascii: ","))
            bytes.append(contentsOf: Self.formatDouble(d).utf8)
            crlf()
        } else {
            bulk(Self.formatDouble(d))
        }
    }

    public mutating func boolean(_ b: Bool) {
        if version >= 3 {
            bytes.append(contentsOf: b ? Array("#t\r\n".utf8) : Array("#f\r\n".utf8))
        } else {
            integer(b ? 1 : 0)
        }
    }

    /// Text meant for humans (INFO): verbatim `txt` in RESP3, a bulk string in RESP2.
    public mutating func verbatim(_ text: String) {
        value(.verbatim(format: "txt", text: Array(text.utf8)))
    }

    /// Any value, in this writer's version (RESP3-only types are downgraded for RESP2).
    public mutating func value(_ v: RESPValue) {
        switch v {
        case let .simple(s): simple(s)
        case let .error(e): error(e)
        case let .integer(i): integer(i)
        case let .bulk(b): if let b { bulk(b) } else { null() }
        case let .array(a):
            guard let a else { bytes.append(contentsOf: version >= 3 ? Self.null3 : Array("*-1\r\n".utf8)); return }
            arrayHeader(a.count)
            for e in a { value(e) }
        case .null: null()
        case let .double(d): double(d)
        case let .boolean(b): boolean(b)
        case let .map(pairs):
            mapHeader(pairs.count)
            for p in pairs { value(p.key); value(p.value) }
        case let .set(a):
            if version >= 3 { bytes.append(UInt8(ascii: "~")); decimal(Int64(a.count)); crlf() } else { arrayHeader(a.count) }
            for e in a { value(e) }
        case let .verbatim(format, text):
            if version >= 3 {
                let body = Array((format + ":").utf8) + text
                bytes.append(UInt8(ascii: "="))
                decimal(Int64(body.count))
                crlf()
                bytes.append(contentsOf: body)
                crlf()
            } else {
                bulk(text)
            }
        case let .bigNumber(s):
            if version >= 3 { bytes.append(UInt8(ascii: "(")); bytes.append(contentsOf: s.utf8); crlf() } else { bulk(s) }
        case let .push(a):
            if version >= 3 { bytes.append(UInt8(ascii: ">")); decimal(Int64(a.count)); crlf() } else { arrayHeader(a.count) }
            for e in a { value(e) }
        }
    }

    /// A request as a client sends it: an array of bulk strings.
    public mutating func command(_ args: [[UInt8]]) {
        arrayHeader(args.count)
        for a in args { bulk(a) }
    }

    public static func command(_ args: [[UInt8]]) -> [UInt8] {
        var w = RESPWriter()
        w.command(args)
        return w.bytes
    }

    @inline(__always) private mutating func crlf() {
        bytes.append(13)
        bytes.append(10)
    }

    /// Writes a decimal without going through String.
    private mutating func decimal(_ v: Int64) {
        if v >= 0 && v < 10 { bytes.append(UInt8(48 + v)); return }
        var n = v.magnitude
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                  UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &tmp) { p in
            while n > 0 {
                p[19 - count] = UInt8(48 + n % 10)
                n /= 10
                count += 1
            }
            bytes.append(contentsOf: p[(20 - count)...])
        }
    }

    static func formatDouble(_ d: Double) -> String {
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        if d.isNaN { return "nan" }
        if d == d.rounded() && abs(d) < 1e17 { return String(Int64(d)) }
        return String(d)
    }

    private static let okBytes: [UInt8] = Array("+OK\r\n".utf8)
    private static let null2: [UInt8] = Array("$-1\r\n".utf8)
    private static let null3: [UInt8] = Array("_\r\n".utf8)
    public static let okReply: [UInt8] = okBytes
    public static let resp2Null: [UInt8] = null2
    public static let resp2NullArray: [UInt8] = Array("*-1\r\n".utf8)
    public static let resp3Null: [UInt8] = null3
}
