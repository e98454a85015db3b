/// One request: its arguments, and the first argument that was too long to keep, if any.
public struct RESPCommand: Equatable, Sendable {
    public var args: [[UInt8]]
    /// Set when an argument exceeded `maxArgumentBytes`: its index in the request as sent and
    /// its declared length. The argument itself was discarded (it appears as an empty array in
    /// `args`).
    public var oversized: OversizedArgument?
    /// The request started with a marker word, taken off `args` (`RESPWrappers`).
    public var marked: Bool
    /// The request started (after any marker) with a tag word and its ids, taken off `args`.
    public var tag: RESPTag?

    public init(args: [[UInt8]], oversized: OversizedArgument? = nil, marked: Bool = false, tag: RESPTag? = nil) {
        self.args = args
        self.oversized = oversized
        self.marked = marked
        self.tag = tag
    }
}

public struct OversizedArgument: Equatable, Sendable {
    public var index: Int
    public var length: Int
}

/// Incremental parser for client requests: RESP arrays of bulk strings, or inline commands (so
/// `nc`/`telnet` work). Feed it any split of the byte stream with `append`, then call `next` until
/// it returns nil ("need more bytes"). A thrown error means the stream is unusable: reply with it
/// and close the connection.
///
/// The parser keeps its position inside a partly received request, so a large value arriving in
/// many reads is scanned once, not once per read.
public struct RESPCommandParser: Sendable {
    public let limits: RESPLimits
    private var buf: [UInt8] = []
    private var pos = 0
    /// Arguments still expected in the current array; -1 when between requests.
    private var remainingArgs = -1
    /// Length of the bulk whose body is awaited; -1 when its `$N` header is next.
    private var bulkLen = -1
    /// Bytes of an oversized argument (and its CRLF) still to discard.
    private var skipping = 0
    private var args: [[UInt8]] = []
    private var argBytes = 0
    private var oversized: OversizedArgument?
    /// Leading words taken off requests (`RESPWrappers`; none when both are empty), and the
    /// shortest and longest of them (most arguments are told apart by their length alone).
    private let markerWords: [[UInt8]]
    private let tagWords: [[UInt8]]
    private let shortestWord: Int
    private let longestWord: Int
    /// The current request's marker and tag so far (`tagWord` -1: none; `tagIDs` read of 2).
    private var marked = false
    private var tagWord = -1
    private var tagIDs = 0
    private var tagFirst: UInt64 = 0
    private var tagSecond: UInt64 = 0

    public init(limits: RESPLimits = RESPLimits(), wrappers: RESPWrappers? = nil) {
        self.limits = limits
        markerWords = wrappers?.markers ?? []
        tagWords = wrappers?.tags ?? []
        let lengths = (markerWords + tagWords).map(\.count)
        shortestWord = lengths.min() ?? .max
        longestWord = lengths.max() ?? 0
    }

    /// Bytes held for requests not yet complete (what a query-buffer limit should bound).
    public var bufferedBytes: Int { buf.count - pos + argBytes }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compact()
        buf.append(contentsOf: bytes)
    }

    public mutating func append<C: Collection>(contentsOf bytes: C) where C.Element == UInt8 {
        compact()
        buf.append(contentsOf: bytes)
    }

    /// Gives the parser's buffer to `fill` so a transport can append to it without a second copy.
    public mutating func withAppendBuffer<R>(_ fill: (inout [UInt8]) -> R) -> R {
        compact()
        return fill(&buf)
    }

    private mutating func compact() {
        if pos == buf.count {
            buf.removeAll(keepingCapacity: buf.capacity <= 1 << 20)
            pos = 0
        } else if pos >= 4096 && pos * 2 >= buf.count {
            buf.removeSubrange(0..<pos)
            pos = 0
        }
    }

    /// The next complete request, nil if more bytes are needed.
    public mutating func next() throws(RESPProtocolError) -> RESPCommand? {
        while true {
            if remainingArgs < 0 {
                guard pos < buf.count else { return nil }
                if buf[pos] != UInt8(ascii: "*") {
                    guard let line = try inlineLine() else { return nil }
                    let words = try InlineSplitter.split(line)
                    if words.isEmpty { continue }
                    return RESPCommand(args: words)
                }
                guard let n = try headerNumber(error: .invalidMultibulkLength) else { return nil }
                guard n <= limits.maxArrayLength else { throw .invalidMultibulkLength }
                if n <= 0 { continue }  // `*0` / `*-1`: nothing to run, as Redis does.
                remainingArgs = n
                args.reserveCapacity(min(n, 64))
            }
            while remainingArgs > 0 {
                if skipping > 0 {
                    let take = min(skipping, buf.count - pos)
                    pos += take
                    skipping -= take
                    if skipping > 0 { return nil }
                    if tagWord >= 0 && tagIDs < 2 { giveBackTag() }
                    args.append([])
                    remainingArgs -= 1
                    continue
                }
                if bulkLen < 0 {
                    guard pos < buf.count else { return nil }
                    guard buf[pos] == UInt8(ascii: "$") else { throw .expectedBulk(got: buf[pos]) }
                    guard let n = try headerNumber(error: .invalidBulkLength) else { return nil }
                    guard n >= 0, n <= limits.maxBulkBytes else { throw .invalidBulkLength }
                    if n > limits.maxArgumentBytes {
                        if oversized == nil { oversized = OversizedArgument(index: args.count + leadingWords, length: n) }
                        skipping = n + 2
                        continue
                    }
                    bulkLen = n
                }
                guard buf.count - pos >= bulkLen + 2 else {
                    buf.reserveCapacity(pos + bulkLen + 2)
                    return nil
                }
                guard buf[pos + bulkLen] == 13, buf[pos + bulkLen + 1] == 10 else { throw .missingCRLF }
                if args.isEmpty, takeWrapperWord(from: pos, to: pos + bulkLen) {
                    pos += bulkLen + 2
                    bulkLen = -1
                    remainingArgs -= 1
                    continue
                }
                if args.isEmpty, let name = Self.commonName(buf, at: pos, count: bulkLen) {
                    args.append(name)
                } else {
                    let (from, n) = (pos, bulkLen)
                    // From raw memory: converting a slice checks whether it may share storage.
                    args.append(buf.withUnsafeBufferPointer { Array(UnsafeBufferPointer(rebasing: $0[from..<(from + n)])) })
                }
                argBytes += bulkLen
                pos += bulkLen + 2
                bulkLen = -1
                remainingArgs -= 1
            }
            let tag = tagWord >= 0 && tagIDs == 2 ? RESPTag(word: tagWord, first: tagFirst, second: tagSecond) : nil
            let cmd = RESPCommand(args: args, oversized: oversized, marked: marked, tag: tag)
            args = []
            argBytes = 0
            oversized = nil
            remainingArgs = -1
            marked = false
            tagWord = -1
            tagIDs = 0
            return cmd
        }
    }

    /// Takes a finished request's argument list back to hold the next request's: its arguments
    /// are released, its storage kept (an allocation and a free fewer per request, about 250
    /// instructions). A list still shared elsewhere (a queued transaction) costs a copy instead.
    public mutating func recycle(_ used: inout [[UInt8]]) {
        guard args.isEmpty, args.capacity == 0, used.capacity <= 64 else { return }
        // Popped, not `removeAll(keepingCapacity:)` (a generic range replacement).
        while !used.isEmpty { used.removeLast() }
        swap(&args, &used)
    }

    /// The most frequent command names as clients spell them, shared: a request's name is
    /// then not allocated, copied and freed (about 250 instructions a command).
    private static let commonNames: [[UInt8]] = ["GET", "get", "SET", "set", "INCR", "incr", "DEL", "del", "MGET", "mget",
                                                 "HGET", "hget", "HSET", "hset", "EXPIRE", "expire", "PING", "ping"].map { Array($0.utf8) }

    /// The shared copy of `b[at..<at + count]` if it is one of `commonNames`, byte for byte.
    private static func commonName(_ b: [UInt8], at: Int, count: Int) -> [UInt8]? {
        guard count >= 3 && count <= 6 else { return nil }
        return b.withUnsafeBufferPointer { p -> [UInt8]? in
            guard let base = p.baseAddress else { return nil }
            for name in commonNames where name.count == count {
                var k = 0
                while k < count && name[k] == base[at + k] { k += 1 }
                if k == count { return name }
            }
            return nil
        }
    }

    /// Words of the current request taken off so far.
    private var leadingWords: Int { (marked ? 1 : 0) + (tagWord >= 0 ? 1 + tagIDs : 0) }

    /// Whether the argument at `buf[from..<to]`, with no argument kept before it, is a marker,
    /// a tag word or one of its ids (`RESPWrappers`); taken off if so. `remainingArgs` still
    /// counts it: a marker needs a command after it, a tag its two ids and a command.
    private mutating func takeWrapperWord(from: Int, to: Int) -> Bool {
        if tagWord >= 0 {
            guard tagIDs < 2 else { return false }
            guard let id = buf.withUnsafeBufferPointer({ RESPWrappers.decimalID($0, from: from, to: to) }) else {
                giveBackTag()
                return false
            }
            if tagIDs == 0 { tagFirst = id } else { tagSecond = id }
            tagIDs += 1
            return true
        }
        guard to - from >= shortestWord && to - from <= longestWord else { return false }
        if !marked, remainingArgs >= 2, RESPWrappers.index(of: markerWords, in: buf, from: from, to: to) != nil {
            marked = true
            return true
        }
        if remainingArgs >= 4, let i = RESPWrappers.index(of: tagWords, in: buf, from: from, to: to) {
            tagWord = i
            tagIDs = 0
            return true
        }
        return false
    }

    /// A tag whose ids did not follow: its word and the id read become arguments again.
    private mutating func giveBackTag() {
        args.append(tagWords[tagWord])
        if tagIDs > 0 { args.append(Array(String(tagFirst).utf8)) }
        tagWord = -1
        tagIDs = 0
    }

    /// Parses `<type>NUMBER\r\n` at `pos`; nil if the line is not complete yet.
    private mutating func headerNumber(error: RESPProtocolError) throws(RESPProtocolError) -> Int? {
        let start = pos
        switch buf.withUnsafeBufferPointer({ Self.scanHeader($0, at: start) }) {
        case .incomplete: return nil
        case .malformed: throw error
        case .number(let n, let next):
            pos = next
            return n
        }
    }

    private enum HeaderScan {
        case incomplete
        case malformed
        case number(Int, next: Int)
    }

    /// The header line at `at` over raw bytes: the line ends at the first CR (at most 24 bytes
    /// in), and is judged only once its LF is there too, so a split never changes the outcome.
    private static func scanHeader(_ b: UnsafeBufferPointer<UInt8>, at: Int) -> HeaderScan {
        guard let p = b.baseAddress else { return .incomplete }
        let end = b.count
        var i = at + 1
        while i < end && p[i] != 13 {
            i += 1
            if i - at > 24 { return .malformed }
        }
        guard i + 1 < end else { return .incomplete }
        guard p[i + 1] == 10, let n = parseInt(b, from: at + 1, to: i) else { return .malformed }
        return .number(n, next: i + 2)
    }

    private mutating func inlineLine() throws(RESPProtocolError) -> ArraySlice<UInt8>? {
        guard let nl = buf[pos...].firstIndex(of: 10) else {
            if buf.count - pos > limits.maxInlineBytes { throw .inlineTooLong }
            return nil
        }
        if nl - pos > limits.maxInlineBytes { throw .inlineTooLong }
        var end = nl
        if end > pos && buf[end - 1] == 13 { end -= 1 }
        let line = buf[pos..<end]
        pos = nl + 1
        return line
    }

    static func parseInt(_ b: [UInt8], from: Int, to: Int) -> Int? {
        guard from >= 0, to <= b.count else { return nil }
        return b.withUnsafeBufferPointer { parseInt($0, from: from, to: to) }
    }

    /// A signed decimal in `b[from..<to]` (inside `b`); nil if it is not one or overflows.
    static func parseInt(_ b: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Int? {
        guard from < to, let p = b.baseAddress else { return nil }
        var i = from
        var negative = false
        if p[i] == UInt8(ascii: "-") { negative = true; i += 1; guard i < to else { return nil } }
        var v = 0
        while i < to {
            let d = Int(p[i]) - 48
            guard d >= 0 && d <= 9 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(d)
            guard !o1 && !o2 else { return nil }
            v = a
            i += 1
        }
        return negative ? -v : v
    }
}
