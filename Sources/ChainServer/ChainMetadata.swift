import ChainCore
import ChainWire

/// The per-chain metadata a node keeps in its store, written in the same batch as the data of
/// the update it describes, so a crash never separates them.
enum ChainMetadata {
    /// The last configuration the node installed (JSON).
    static let configKey = KeyLayout.metaKey("node/config")

    /// Where a chain's history ends here: the last applied update's sequence and epoch
    /// (`encodePosition`).
    static func appliedKey(_ chain: ChainID) -> [UInt8] {
        chain >= 0 && chain < appliedKeys.count ? appliedKeys[chain] : makeAppliedKey(chain)
    }

    /// Every turn writes the applied key of each chain it touched: built once, not per turn.
    private static let appliedKeys: [[UInt8]] = (0..<1024).map(makeAppliedKey)

    private static func makeAppliedKey(_ chain: ChainID) -> [UInt8] { KeyLayout.metaKey("chain/\(chain)/applied") }

    static func encodePosition(_ p: LogPosition) -> [UInt8] {
        var b = [UInt8]()
        b.reserveCapacity(16)
        appendSeq(p.seq, to: &b)
        appendSeq(p.epoch, to: &b)
        return b
    }

    /// (Eight bytes: a sequence written before epochs were recorded; its epoch is unknown.)
    static func decodePosition(_ b: [UInt8]?) -> LogPosition {
        guard let b, b.count == 8 || b.count == 16 else { return .empty }
        return LogPosition(seq: decodeSeq(Array(b[0..<8])), epoch: b.count == 16 ? decodeSeq(Array(b[8..<16])) : 0)
    }

    /// Where a tagged request's result is recorded on one chain: a ring of `requestWindow` slots
    /// per client (slot = request mod window), each holding the request id and the reply. A new
    /// request overwrites the slot of the one `requestWindow` before it, so records stay bounded
    /// without deletions. A smart client numbers its requests 1, 2, 3… and retries only recent
    /// ones, so a retry finds its first result.
    static func requestKey(_ chain: ChainID, _ tag: RequestTag) -> [UInt8] {
        KeyLayout.recordKey(chain: chain, ring: Int(tag.request % requestWindow), client: tag.client)
    }

    static let requestWindow: UInt64 = 4096

    /// A record: the request id, the update's sequence in the chain, the reply.
    static func encodeRecord(_ request: UInt64, seq: UInt64, _ reply: [UInt8]) -> [UInt8] {
        // One allocation: this runs for every tagged update on every replica.
        var b = [UInt8]()
        b.reserveCapacity(16 + reply.count)
        appendSeq(request, to: &b)
        appendSeq(seq, to: &b)
        b.append(contentsOf: reply)
        return b
    }

    /// The request a record is of (nil if it is not one).
    static func recordedRequest(_ b: [UInt8]) -> UInt64? {
        b.count >= 16 ? decodeSeq(Array(b[0..<8])) : nil
    }

    /// The update and reply recorded for exactly `request`, nil if the slot holds another request.
    static func decodeRecord(_ b: [UInt8]?, request: UInt64) -> (seq: UInt64, reply: [UInt8])? {
        guard let b, b.count >= 16, decodeSeq(Array(b[0..<8])) == request else { return nil }
        return (decodeSeq(Array(b[8..<16])), Array(b[16...]))
    }

    static func encodeSeq(_ v: UInt64) -> [UInt8] {
        var b = [UInt8]()
        b.reserveCapacity(8)
        appendSeq(v, to: &b)
        return b
    }

    /// Big-endian, as `ByteWriter.u64` writes it.
    static func appendSeq(_ v: UInt64, to b: inout [UInt8]) {
        withUnsafeBytes(of: v.bigEndian) { b.append(contentsOf: $0) }
    }

    static func decodeSeq(_ b: [UInt8]?) -> UInt64 {
        guard let b, b.count == 8 else { return 0 }
        var r = ByteReader(b[...])
        return (try? r.u64()) ?? 0
    }
}
