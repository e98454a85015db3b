/// Incremental parser for replies (RESP2 and RESP3), used by clients. Aggregates nest up to
/// `limits.maxDepth`; anything deeper is a protocol error. `next` returns nil until a whole reply
/// has arrived.
public struct RESPReplyParser: Sendable {
    public let limits: RESPLimits
    /// Bulk replies come back as `.bulk([])` (still `.bulk(nil)` when null): for a load generator
    /// that only counts replies, this saves copying every value it reads.
    public let discardBulkBodies: Bool
    private var buf: [UInt8] = []
    private var pos = 0

    public init(limits: RESPLimits = RESPLimits(), discardBulkBodies: Bool = false) {
        self.limits = limits
        self.discardBulkBodies = discardBulkBodies
    }

    public var bufferedBytes: Int { buf.count - pos }

    public mutating func append<C: Collection>(contentsOf bytes: C) where C.Element == UInt8 {
        if pos == buf.count { buf.removeAll(keepingCapacity: true); pos = 0 }
        else if pos > 4096 && pos * 2 > buf.count { buf.removeSubrange(0..<pos); pos = 0 }
        buf.append(contentsOf: bytes)
    }

    public mutating func next() throws(RESPProtocolError) -> RESPValue? {
        var p = pos
        guard let v = try parse(&p, depth: 0) else { return nil }
        pos = p
        return v
    }

    private func line(_ p: inout Int) -> ArraySlice<UInt8>? {
        var i = p
        while i + 1 < buf.count {
            if buf[i] == 13 && buf[i + 1] == 10 {
                let l = buf[p..<i]
                p = i + 2
                return l
            }
            i += 1
        }
        return nil
    }

    /// `l` is a slice of `buf`: its indices are the buffer's (no copy; this runs for every reply).
    private func int(_ l: ArraySlice<UInt8>) throws(RESPProtocolError) -> Int {
        guard let n = RESPCommandParser.parseInt(buf, from: l.startIndex, to: l.endIndex) else { throw .invalidInteger }
        return n
    }

    private func parse(_ p: inout Int, depth: Int) throws(RESPProtocolError) -> RESPValue? {
        guard depth <= limits.maxDepth else { throw .tooDeep }
        guard p < buf.count else { return nil }
        let type = buf[p]
        var q = p + 1
        guard let l = line(&q) else { return nil }
        var text: String { String(decoding: l, as: UTF8.self) }
        switch type {
        case UInt8(ascii: "+"): p = q; return .simple(text)
        case UInt8(ascii: "-"): p = q; return .error(text)
        case UInt8(ascii: ":"): p = q; return .integer(Int64(try int(l)))
        case UInt8(ascii: "_"): p = q; return .null
        case UInt8(ascii: "#"): p = q; return .boolean(text == "t")
        case UInt8(ascii: ","): p = q; return .double(Double(text) ?? (text == "inf" ? .infinity : text == "-inf" ? -.infinity : .nan))
        case UInt8(ascii: "("): p = q; return .bigNumber(text)
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            let n = try int(l)
            if n < 0 { p = q; return .bulk(nil) }
            guard n <= limits.maxBulkBytes else { throw .invalidBulkLength }
            guard buf.count - q >= n + 2 else { return nil }
            guard buf[q + n] == 13, buf[q + n + 1] == 10 else { throw .missingCRLF }
            if discardBulkBodies && type == UInt8(ascii: "$") {
                p = q + n + 2
                return .bulk([])
            }
            let body = Array(buf[q..<(q + n)])
            p = q + n + 2
            if type == UInt8(ascii: "!") { return .error(String(decoding: body, as: UTF8.self)) }
            if type == UInt8(ascii: "=") {
                guard body.count >= 4 else { throw .invalidBulkLength }
                return .verbatim(format: String(decoding: body[0..<3], as: UTF8.self), text: Array(body[4...]))
            }
            return .bulk(body)
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"):
            let n = try int(l)
            if n < 0 { p = q; return type == UInt8(ascii: "*") ? .array(nil) : .null }
            guard n <= limits.maxArrayLength else { throw .invalidMultibulkLength }
            let count = type == UInt8(ascii: "%") ? 2 * n : n
            var items: [RESPValue] = []
            items.reserveCapacity(min(count, 1024))
            for _ in 0..<count {
                guard let v = try parse(&q, depth: depth + 1) else { return nil }
                items.append(v)
            }
            p = q
            switch type {
            case UInt8(ascii: "*"): return .array(items)
            case UInt8(ascii: "~"): return .set(items)
            case UInt8(ascii: ">"): return .push(items)
            default:
                return .map(stride(from: 0, to: items.count, by: 2).map { RESPPair(items[$0], items[$0 + 1]) })
            }
        default:
            throw .unknownType(type)
        }
    }
}
