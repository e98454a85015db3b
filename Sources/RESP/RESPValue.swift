/// A RESP2/RESP3 value, as a client sees a reply.
public indirect enum RESPValue: Equatable, Sendable {
    /// `+OK`
    case simple(String)
    /// `-ERR …`
    case error(String)
    /// `:42`
    case integer(Int64)
    /// `$3\r\nfoo`, or the RESP2 null bulk `$-1` as `bulk(nil)`.
    case bulk([UInt8]?)
    /// `*N`, or the RESP2 null array `*-1` as `array(nil)`.
    case array([RESPValue]?)
    /// RESP3 `_`
    case null
    /// RESP3 `,`
    case double(Double)
    /// RESP3 `#t` / `#f`
    case boolean(Bool)
    /// RESP3 `%`; pairs in wire order.
    case map([RESPPair])
    /// RESP3 `~`
    case set([RESPValue])
    /// RESP3 `=`: a three-letter format and the text.
    case verbatim(format: String, text: [UInt8])
    /// RESP3 `(`
    case bigNumber(String)
    /// RESP3 `>`
    case push([RESPValue])

    /// The bytes of a bulk or simple string, if this is one.
    public var bytes: [UInt8]? {
        switch self {
        case let .bulk(b): return b
        case let .simple(s): return Array(s.utf8)
        case let .verbatim(_, t): return t
        default: return nil
        }
    }

    /// A bulk or simple string decoded as UTF-8.
    public var string: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    public var isNull: Bool {
        switch self {
        case .null, .bulk(nil), .array(nil): return true
        default: return false
        }
    }
}

public struct RESPPair: Equatable, Sendable {
    public var key: RESPValue
    public var value: RESPValue
    public init(_ key: RESPValue, _ value: RESPValue) {
        self.key = key
        self.value = value
    }
}
