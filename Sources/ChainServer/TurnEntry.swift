import ChainCore
import ChainWire

/// One store entry per loop turn that changed a chain's history here (`TurnLog`): where every
/// chain held here ends, and what the turn did to the request records — in order, the records
/// it made and the chains whose data it dropped.
///
/// Layout (big-endian): version (1 byte), turn (8), position count (4), per position chain (4),
/// seq (8), epoch (8); then events to the end: `1` chain (4) client (8) request (8) seq (8)
/// reply (4-byte length + bytes), or `2` chain (4).
struct TurnEntry: Equatable {
    enum Event: Equatable {
        case record(chain: ChainID, client: UInt64, request: UInt64, seq: UInt64, reply: [UInt8])
        case drop(chain: ChainID)
    }

    static let version: UInt8 = 1
    static let recordKind: UInt8 = 1
    static let dropKind: UInt8 = 2

    var turn: UInt64
    var positions: [ChainID: LogPosition]
    var events: [Event]

    /// The entry, with `events` already encoded (the turn appends them as they happen).
    static func encode(turn: UInt64, positions: [ChainID: LogPosition], events: [UInt8]) -> [UInt8] {
        encode(turn: turn, positions: ChainIndexed(positions), events: events)
    }

    /// The same from positions by chain number. Written straight into stack memory and copied
    /// once: this runs once per turn with every chain's position, and appending field by field
    /// cost several thousand instructions a turn (`Array(unsafeUninitializedCapacity:)` goes
    /// through an unspecialized path of the standard library, about 500).
    static func encode(turn: UInt64, positions: ChainIndexed<LogPosition>, events: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        encode(turn: turn, positions: positions, events: events, into: &out)
        return out
    }

    /// The same into `out`, replacing what it held: a buffer kept from turn to turn is reused
    /// in place once the store batch that held it is gone (an allocation a turn fewer).
    static func encode(turn: UInt64, positions: ChainIndexed<LogPosition>, events: [UInt8], into out: inout [UInt8]) {
        let count = positions.count
        let size = 13 + count * 20 + events.count
        out.removeAll(keepingCapacity: true)
        withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { buffer in
            let base = buffer.baseAddress!
            func put<T: FixedWidthInteger>(_ v: T, at offset: Int) {
                (base + offset).storeBytes(of: v.bigEndian, as: T.self)
            }
            base.storeBytes(of: version, as: UInt8.self)
            put(turn, at: 1)
            put(UInt32(truncatingIfNeeded: count), at: 9)
            var at = 13
            positions.forEach { chain, p in
                put(UInt32(truncatingIfNeeded: chain), at: at)
                put(p.seq, at: at + 4)
                put(p.epoch, at: at + 12)
                at += 20
            }
            events.withUnsafeBytes { e in
                if let src = e.baseAddress { (base + at).copyMemory(from: src, byteCount: e.count) }
            }
            out.append(contentsOf: UnsafeRawBufferPointer(buffer))
        }
    }

    static func appendRecord(chain: ChainID, client: UInt64, request: UInt64, seq: UInt64, reply: [UInt8], to w: inout ByteWriter) {
        // The reply in the same step as the fields (one append a write and replica fewer; a
        // reply is a few bytes, a large one goes through heap memory instead of the stack).
        w.fields(maxBytes: 33 + reply.count) { f in
            f.u8(recordKind)
            f.u32(UInt32(truncatingIfNeeded: chain))
            f.u64(client)
            f.u64(request)
            f.u64(seq)
            f.u32(UInt32(reply.count))
            f.bytes(reply)
        }
    }

    static func appendDrop(chain: ChainID, to w: inout ByteWriter) {
        w.u8(dropKind)
        w.u32(UInt32(truncatingIfNeeded: chain))
    }

    /// The turn and positions only (nil if `bytes` is not a turn entry).
    static func decodeHeader(_ bytes: [UInt8]) -> (turn: UInt64, positions: [ChainID: LogPosition])? {
        var r = ByteReader(bytes[...])
        return try? header(&r)
    }

    private static func header(_ r: inout ByteReader) throws(WireError) -> (turn: UInt64, positions: [ChainID: LogPosition]) {
        guard try r.u8() == version else { throw .malformed("turn entry version") }
        let turn = try r.u64()
        let n = Int(try r.u32())
        guard n <= r.remaining / 20 else { throw .malformed("turn entry positions") }
        var positions: [ChainID: LogPosition] = [:]
        positions.reserveCapacity(n)
        for _ in 0..<n {
            let chain = ChainID(try r.u32())
            positions[chain] = LogPosition(seq: try r.u64(), epoch: try r.u64())
        }
        return (turn, positions)
    }

    /// The whole entry (nil if it is damaged: a store never holds one, but a start must not
    /// trust that).
    static func decode(_ bytes: [UInt8]) -> TurnEntry? {
        var r = ByteReader(bytes[...])
        do {
            let (turn, positions) = try header(&r)
            var events: [Event] = []
            while r.remaining > 0 {
                switch try r.u8() {
                case recordKind:
                    let chain = ChainID(try r.u32())
                    events.append(.record(chain: chain, client: try r.u64(), request: try r.u64(), seq: try r.u64(), reply: try r.blob()))
                case dropKind:
                    events.append(.drop(chain: ChainID(try r.u32())))
                default:
                    return nil
                }
            }
            return TurnEntry(turn: turn, positions: positions, events: events)
        } catch {
            return nil
        }
    }
}
