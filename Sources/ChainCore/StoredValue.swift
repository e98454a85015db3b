/// How a user key's value is kept in the store: a kind byte, then, for a key with a time to
/// live, its absolute expiry time, then the value's bytes.
///
///     0x00 payload                      a string
///     0x01 expiry (8 bytes, BE) payload a string that expires at `expiry` (Unix milliseconds)
///     0x02 count (8 bytes, BE)          a hash of `count` fields (stored apart, see `KeyLayout`)
///     0x03 expiry count                 a hash that expires
///
/// Bit 0 of the kind says whether an expiry follows; the bits above it give the type.
/// The chain head decides expiry times (from its clock) and writes them into the value, so every
/// replica holds the same bytes; a reader compares them with its own clock (`isLive`).
public struct StoredValue: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        case string = 0
        case expiringString = 1
        case hash = 2
        case expiringHash = 3
    }

    /// What a key holds (`TYPE`).
    public enum ValueType: UInt8, Sendable {
        case string = 0
        case hash = 1

        public var name: String {
            switch self {
            case .string: return "string"
            case .hash: return "hash"
            }
        }
    }

    public var type: ValueType { ValueType(rawValue: raw[raw.startIndex] >> 1)! }

    /// The encoded form, as stored: an array, or part of one (a replica keeps an update's key and
    /// value in one buffer).
    public let raw: ArraySlice<UInt8>
    /// Absolute expiry in Unix milliseconds, nil for a key without a time to live.
    public let expiresAtMs: UInt64?
    /// Where the value's bytes start in `raw` (an index of `raw`).
    private let payloadStart: Int

    /// The value's bytes (no copy).
    public var payload: ArraySlice<UInt8> { raw[payloadStart...] }
    public var payloadCount: Int { raw.endIndex - payloadStart }

    /// Decodes a stored value; nil if it is not in this format (empty, an unknown kind, a
    /// truncated expiry).
    public init?(raw: [UInt8]) { self.init(raw: raw[...]) }

    public init?(raw: ArraySlice<UInt8>) {
        guard let first = raw.first, let kind = Kind(rawValue: first) else { return nil }
        let base = raw.startIndex
        if first & 1 == 0 {
            expiresAtMs = nil
            payloadStart = base + 1
        } else {
            guard raw.count >= 9 else { return nil }
            var t: UInt64 = 0
            for i in 1..<9 { t = t << 8 | UInt64(raw[base + i]) }
            expiresAtMs = t
            payloadStart = base + 9
        }
        // A hash's payload is its field count.
        if kind == .hash || kind == .expiringHash, raw.endIndex - payloadStart != 8 { return nil }
        self.raw = raw
    }

    /// Equal when the stored bytes are (where they lie does not matter).
    public static func == (a: StoredValue, b: StoredValue) -> Bool { a.raw == b.raw }

    /// Encodes `payload` with an optional absolute expiry.
    public init<C: Collection>(payload: C, expiresAtMs: UInt64? = nil) where C.Element == UInt8 {
        self.init(type: .string, payload: payload, expiresAtMs: expiresAtMs)
    }

    /// The stored bytes of string `payload` without an expiry, as an array of their own (what a
    /// plain SET's update carries).
    public static func encoded(payload: [UInt8]) -> [UInt8] {
        payload.withUnsafeBufferPointer { encode(Kind.string.rawValue, nil, $0) }
    }

    /// A hash's own value: its field count.
    public static func hash(fields: UInt64, expiresAtMs: UInt64? = nil) -> StoredValue {
        StoredValue(type: .hash, payload: withUnsafeBytes(of: fields.bigEndian) { Array($0) }, expiresAtMs: expiresAtMs)
    }

    /// A hash's field count (0 for a string).
    public var fieldCount: UInt64 {
        guard type == .hash else { return 0 }
        return payload.reduce(0) { $0 << 8 | UInt64($1) }
    }

    private init<C: Collection>(type: ValueType, payload: C, expiresAtMs: UInt64?) where C.Element == UInt8 {
        let kind = type.rawValue << 1 | (expiresAtMs == nil ? 0 : 1)
        let start = expiresAtMs == nil ? 1 : 9
        // Arrays and their slices (nearly every payload) are copied from where they lie.
        raw = (payload.withContiguousStorageIfAvailable { Self.encode(kind, expiresAtMs, $0) }
            ?? Array(payload).withUnsafeBufferPointer { Self.encode(kind, expiresAtMs, $0) })[...]
        payloadStart = start
        self.expiresAtMs = expiresAtMs
    }

    /// Kind byte, expiry if any, payload: built in stack memory and copied once (appended part
    /// by part, each append checks capacity and uniqueness: about 350 instructions a SET at the
    /// head; `Array(unsafeUninitializedCapacity:)` goes through an unspecialized path).
    private static func encode(_ kind: UInt8, _ expiresAtMs: UInt64?, _ p: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        let start = expiresAtMs == nil ? 1 : 9
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: start + p.count) { out in
            out[0] = kind
            if let t = expiresAtMs {
                UnsafeMutableRawPointer(out.baseAddress! + 1).storeBytes(of: t.bigEndian, as: UInt64.self)
            }
            if p.count > 0 { (out.baseAddress! + start).update(from: p.baseAddress!, count: p.count) }
            return Array(out)
        }
    }

    /// Whether the key still exists at `nowMs` (Redis: a key whose expiry time has come is gone).
    public func isLive(nowMs: UInt64) -> Bool {
        guard let t = expiresAtMs else { return true }
        return t > nowMs
    }

    /// The same value with another expiry (nil: none).
    public func withExpiry(_ t: UInt64?) -> StoredValue { StoredValue(type: type, payload: payload, expiresAtMs: t) }

    /// Whether stored bytes are a live value at `nowMs` without keeping the decoded form (the
    /// keyspace walkers' test). Bytes in no known format count as live, so they stay visible.
    public static func isLive(raw: [UInt8], nowMs: UInt64) -> Bool {
        raw.withUnsafeBytes { liveness(raw: $0, nowMs: nowMs) } != .expired
    }

    /// What a key counts as in `DBSIZE` and `INFO keyspace`.
    public enum Liveness: Equatable, Sendable {
        /// Gone (its expiry time has come).
        case expired
        /// Present, without a time to live (also bytes in no known format, as `isLive(raw:)`).
        case live
        /// Present, with a time to live.
        case expiring
    }

    /// The same judgement as decoding `raw` and asking `isLive`, read from the bytes where the
    /// store keeps them (a count of a million keys makes no array per key).
    public static func liveness(raw: UnsafeRawBufferPointer, nowMs: UInt64) -> Liveness {
        guard let first = raw.first, let kind = Kind(rawValue: first) else { return .live }
        let payloadStart = first & 1 == 0 ? 1 : 9
        guard raw.count >= payloadStart else { return .live }
        if kind == .hash || kind == .expiringHash, raw.count - payloadStart != 8 { return .live }
        guard first & 1 == 1 else { return .live }
        var t: UInt64 = 0
        for i in 1..<9 { t = t << 8 | UInt64(raw[i]) }
        return t > nowMs ? .expiring : .expired
    }
}
