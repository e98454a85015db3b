import ChainCore
import ChainWire

/// The per-chain metadata a node keeps in its store, written in the same batch as the data of
/// the update it describes, so a crash never separates them.
enum ChainMetadata {
    /// The last applied sequence number of a chain.
    static func appliedKey(_ chain: ChainID) -> [UInt8] { KeyLayout.metaKey("chain/\(chain)/applied") }

    /// The recent results of one client on one chain (for idempotent retries).
    static func requestsKey(_ chain: ChainID, client: UInt64) -> [UInt8] { KeyLayout.metaKey("idem/\(chain)/\(client)") }

    /// Results kept per client and chain: a smart client keeps at most this many writes to one
    /// chain in flight, so a retry always finds its first result.
    static let requestWindow = 64

    static func encodeSeq(_ v: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 8)
        w.u64(v)
        return w.bytes
    }

    static func decodeSeq(_ b: [UInt8]?) -> UInt64 {
        guard let b, b.count == 8 else { return 0 }
        var r = ByteReader(b[...])
        return (try? r.u64()) ?? 0
    }

    /// `[(request, reply)]`, oldest first.
    static func decodeRequests(_ b: [UInt8]?) -> [(UInt64, [UInt8])] {
        guard let b else { return [] }
        var r = ByteReader(b[...])
        var out: [(UInt64, [UInt8])] = []
        guard let n = try? r.u32() else { return [] }
        for _ in 0..<n {
            guard let req = try? r.u64(), let reply = try? r.blob() else { return out }
            out.append((req, reply))
        }
        return out
    }

    static func encodeRequests(_ entries: [(UInt64, [UInt8])]) -> [UInt8] {
        var w = ByteWriter()
        w.u32(UInt32(entries.count))
        for (req, reply) in entries { w.u64(req); w.blob(reply) }
        return w.bytes
    }
}
