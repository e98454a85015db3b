/// How long the oldest update a replica applied has waited for the tail to commit it: the
/// replication lag in time, per chain. Sampled, not per update: the shell reports each chain's
/// applied and committed positions every tick (time passed in), and the lag is the age of the
/// oldest sample whose sequence is not committed yet — so its resolution is the tick.
public struct ReplicationLag: Sendable {
    struct Sample: Sendable {
        var seq: UInt64
        var at: UInt64
    }

    /// Samples kept per chain; when full, newer ones are skipped (the oldest, which decides the
    /// lag, stays), so a stuck chain keeps reporting its true age.
    static let capacity = 1024
    private var samples: [ChainID: [Sample]] = [:]

    public init() {}

    /// A tick: the chain's replica applied up to `applied`, and knows commits up to `committed`.
    public mutating func observe(chain: ChainID, applied: UInt64, committed: UInt64, now: UInt64) {
        var s = samples[chain] ?? []
        if let i = s.firstIndex(where: { $0.seq > committed }) { s.removeFirst(i) } else { s.removeAll(keepingCapacity: true) }
        if applied > committed, applied > (s.last?.seq ?? 0), s.count < Self.capacity { s.append(Sample(seq: applied, at: now)) }
        samples[chain] = s
    }

    /// The chain is no longer held here.
    public mutating func forget(_ chain: ChainID) { samples.removeValue(forKey: chain) }

    /// Milliseconds the oldest uncommitted update has waited (0 when everything is committed).
    public func lagMs(_ chain: ChainID, now: UInt64) -> UInt64 {
        guard let first = samples[chain]?.first else { return 0 }
        return now - min(now, first.at)
    }
}
