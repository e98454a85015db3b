import ChainCore

/// Little helpers to write and read the binary peer frames: big-endian integers and
/// length-prefixed byte strings.
public struct ByteWriter: Sendable {
    public var bytes: [UInt8] = []

    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    // Big-endian, appended in one step (a byte at a time costs a capacity check per byte).
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    public mutating func blob(_ b: [UInt8]) { u32(UInt32(b.count)); bytes.append(contentsOf: b) }
    public mutating func blob(_ b: ArraySlice<UInt8>) { u32(UInt32(b.count)); bytes.append(contentsOf: b) }
    public mutating func string(_ s: String) { blob(Array(s.utf8)) }

    /// Appends several fixed-size fields in one step: `fill` writes them (at most `maxBytes`)
    /// into stack memory, which is then appended at once. Each field appended on its own costs
    /// a capacity check and a generic copy (about 100 instructions, callgrind); the update and
    /// turn-entry encoders write five or six of them per update.
    @inlinable
    public mutating func fields(maxBytes: Int, _ fill: (inout FieldWriter) -> Void) {
        withUnsafeTemporaryAllocation(byteCount: maxBytes, alignment: 8) { raw in
            var f = FieldWriter(raw)
            fill(&f)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[..<f.count]))
        }
    }
}

/// Writes big-endian fields into memory `ByteWriter.fields` provides.
public struct FieldWriter {
    @usableFromInline let raw: UnsafeMutableRawBufferPointer
    @usableFromInline var count = 0

    @inlinable init(_ raw: UnsafeMutableRawBufferPointer) { self.raw = raw }

    @inlinable public mutating func u8(_ v: UInt8) {
        raw[count] = v
        count += 1
    }

    @inlinable public mutating func u32(_ v: UInt32) {
        raw.storeBytes(of: v.bigEndian, toByteOffset: count, as: UInt32.self)
        count += 4
    }

    @inlinable public mutating func u64(_ v: UInt64) {
        raw.storeBytes(of: v.bigEndian, toByteOffset: count, as: UInt64.self)
        count += 8
    }

    /// Copies `b` as it is (its length written before it by the caller, if needed).
    @inlinable public mutating func bytes(_ b: [UInt8]) {
        let n = b.count
        if n > 0 {
            b.withUnsafeBytes { (raw.baseAddress! + count).copyMemory(from: $0.baseAddress!, byteCount: n) }
        }
        count += n
    }

    @inlinable public mutating func bytes(_ b: UnsafeRawBufferPointer) {
        let n = b.count
        if n > 0 { (raw.baseAddress! + count).copyMemory(from: b.baseAddress!, byteCount: n) }
        count += n
    }

}

public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated
    case tooLarge(Int)
    case badVersion(UInt8)
    case unknownType(UInt8)
    case malformed(String)

    public var description: String {
        switch self {
        case .truncated: return "truncated frame"
        case let .tooLarge(n): return "frame of \(n) bytes exceeds the limit"
        case let .badVersion(v): return "unsupported frame version \(v)"
        case let .unknownType(t): return "unknown frame type \(t)"
        case let .malformed(m): return "malformed frame: \(m)"
        }
    }
}

public struct ByteReader {
    private let bytes: ArraySlice<UInt8>
    private var pos: Int

    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.pos = bytes.startIndex
    }

    public var remaining: Int { bytes.endIndex - pos }

    public mutating func u8() throws(WireError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated }
        defer { pos += 1 }
        return bytes[pos]
    }

    // Loaded in one step (byte by byte, each with its bounds check, cost about 50 instructions
    // per field; a decoded update has five or six).
    public mutating func u32() throws(WireError) -> UInt32 {
        guard remaining >= 4 else { throw .truncated }
        let offset = pos - bytes.startIndex
        pos += 4
        return UInt32(bigEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) })
    }

    public mutating func u64() throws(WireError) -> UInt64 {
        guard remaining >= 8 else { throw .truncated }
        let offset = pos - bytes.startIndex
        pos += 8
        return UInt64(bigEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) })
    }

    public mutating func blob(max: Int = 1 << 30) throws(WireError) -> [UInt8] {
        let n = Int(try u32())
        guard n <= max else { throw .tooLarge(n) }
        guard remaining >= n else { throw .truncated }
        defer { pos += n }
        // (Not `[UInt8](unsafeUninitializedCapacity:)`: that allocates through a standard-library
        // path that looks the array's generic metadata up on every call, about 650 instructions.
        // Not `Array(bytes[range])` either: converting a slice checks whether it may share its
        // base's storage, a dynamic cast and a retain more than a copy from raw memory.)
        let from = pos - bytes.startIndex
        return bytes.withUnsafeBufferPointer { Array(UnsafeBufferPointer(rebasing: $0[from..<(from + n)])) }
    }

    /// A blob holding an update's recorded reply. Nearly every one is `+OK\r\n`: that one is
    /// shared rather than allocated for each update on every replica.
    /// Two blobs that follow each other (a put's key and value), copied into one array together
    /// with the length between them: one allocation for both, each returned as part of it.
    public mutating func blobPair() throws(WireError) -> KeyValue {
        let first = Int(try u32())
        guard remaining >= first else { throw .truncated }
        let start = pos - bytes.startIndex
        pos += first
        let second = Int(try u32())
        guard remaining >= second else { throw .truncated }
        pos += second
        let end = pos - bytes.startIndex
        // (From raw memory, as `blob`.)
        let both = bytes.withUnsafeBufferPointer { Array(UnsafeBufferPointer(rebasing: $0[start..<end])) }
        return KeyValue(storage: both, keyCount: first, valueStart: first + 4)
    }

    public mutating func reply() throws(WireError) -> [UInt8] {
        let offset = pos - bytes.startIndex
        let isOK = remaining >= 9 && bytes.withUnsafeBytes { raw in
            raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self) == UInt32(5).bigEndian
                && raw[offset + 4] == 43 && raw[offset + 5] == 79 && raw[offset + 6] == 75 && raw[offset + 7] == 13 && raw[offset + 8] == 10
        }
        guard isOK else { return try blob() }
        pos += 9
        return Self.ok
    }

    private static let ok: [UInt8] = Array("+OK\r\n".utf8)

    public mutating func string(max: Int = 4096) throws(WireError) -> String {
        String(decoding: try blob(max: max), as: UTF8.self)
    }
}
