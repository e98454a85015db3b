/// Bounds that keep one connection from using unbounded memory. Hitting a hard bound is a protocol
/// error (the connection closes); a bulk argument longer than `maxArgumentBytes` but within
/// `maxBulkBytes` is skipped without being buffered and reported on the command instead, so the
/// server can answer with an error and keep the connection.
public struct RESPLimits: Sendable, Equatable {
    /// Longest bulk length accepted at all (Redis: proto-max-bulk-len, 512 MiB).
    public var maxBulkBytes: Int
    /// Longest argument that is buffered; longer ones are discarded as they arrive.
    public var maxArgumentBytes: Int
    /// Most elements in one request array.
    public var maxArrayLength: Int
    /// Longest inline command line.
    public var maxInlineBytes: Int
    /// Deepest nesting of aggregate replies (client-side parsing).
    public var maxDepth: Int

    public init(maxBulkBytes: Int = 512 << 20, maxArgumentBytes: Int = 16 << 20,
                maxArrayLength: Int = 1 << 20, maxInlineBytes: Int = 64 << 10, maxDepth: Int = 64) {
        self.maxBulkBytes = maxBulkBytes
        self.maxArgumentBytes = maxArgumentBytes
        self.maxArrayLength = maxArrayLength
        self.maxInlineBytes = maxInlineBytes
        self.maxDepth = maxDepth
    }
}

/// A malformed byte stream. The message is what the server sends after `-ERR Protocol error: `.
public enum RESPProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidMultibulkLength
    case invalidBulkLength
    case expectedBulk(got: UInt8)
    case unbalancedQuotes
    case inlineTooLong
    case invalidInteger
    case unknownType(UInt8)
    case tooDeep
    case missingCRLF

    public var description: String {
        switch self {
        case .invalidMultibulkLength: return "invalid multibulk length"
        case .invalidBulkLength: return "invalid bulk length"
        case let .expectedBulk(got): return "expected '$', got '\(Self.printable(got))'"
        case .unbalancedQuotes: return "unbalanced quotes in request"
        case .inlineTooLong: return "too big inline request"
        case .invalidInteger: return "invalid integer"
        case let .unknownType(b): return "unknown reply type '\(Self.printable(b))'"
        case .tooDeep: return "nesting too deep"
        case .missingCRLF: return "expected CRLF after bulk data"
        }
    }

    static func printable(_ b: UInt8) -> String {
        (0x20..<0x7f).contains(b) ? String(UnicodeScalar(b)) : "\\x" + String(b, radix: 16)
    }
}
