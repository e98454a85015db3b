/// What a node can truthfully say about itself: whether it serves anything at all (health) and
/// whether it holds every chain the configuration gives it, in sync (readiness). The shell adds
/// what only it knows (a failed store, the disk reserve) and answers `/healthz` and `/readyz`.
extension NodeCore {
    /// Why a node serves nothing.
    public enum Outage: Sendable, Equatable, CustomStringConvertible {
        /// No configuration from the master yet (not registered, or the master unreachable
        /// since start).
        case noConfiguration
        /// The master's lease ran out `expiredMs` ago; every request is refused (`CLUSTERDOWN`)
        /// until a heartbeat renews it.
        case noLease(expiredMs: UInt64)

        public var description: String {
            switch self {
            case .noConfiguration: return "no configuration from the master yet"
            case let .noLease(ms): return "no lease from the master (expired \(ms) ms ago); every request is refused until it is renewed"
            }
        }
    }

    /// Why a serving node is not (yet) a full member of the cluster.
    public enum Unready: Sendable, Equatable, CustomStringConvertible {
        case down(Outage)
        /// In no chain: a spare, waiting for `chainctl add` or a failure (or removed).
        case spare
        /// Chains this node is copying as a joiner, not yet members.
        case joining([ChainID])
        /// Chains whose tail this node became but whose old tail may still serve (the barrier).
        case awaitingBarrier([ChainID])

        public var description: String {
            switch self {
            case let .down(o): return o.description
            case .spare: return "spare: in no chain (chainctl add places it)"
            case let .joining(c): return "joining \(c.count) chain(s): \(c.map(String.init).joined(separator: ","))"
            case let .awaitingBarrier(c): return "new tail of \(c.count) chain(s) waiting for the old tail to stop: \(c.map(String.init).joined(separator: ","))"
            }
        }
    }

    /// Nil while the node serves what it holds (forwarding the rest).
    public func outage(at now: UInt64) -> Outage? {
        guard config != nil else { return .noConfiguration }
        if !leaseValid(at: now) { return .noLease(expiredMs: now - min(now, leaseUntil)) }
        return nil
    }

    /// Nil when the node serves, is a member of every chain the configuration places it in
    /// (no join or barrier pending) and holds at least one.
    public func unready(at now: UInt64) -> Unready? {
        if let o = outage(at: now) { return .down(o) }
        guard let config else { return .down(.noConfiguration) }
        let joining = config.chains.filter { $0.joining == me || (joins[$0.id] != nil && $0.members.contains(me)) }.map(\.id)
        if !joining.isEmpty { return .joining(joining) }
        let mine = config.chains.filter { $0.members.contains(me) }
        if mine.isEmpty { return .spare }
        let waiting = mine.map(\.id).filter { awaitingBarrier($0, now: now) }
        if !waiting.isEmpty { return .awaitingBarrier(waiting) }
        return nil
    }

    /// Logs the moment the lease runs out (once per lapse); the shell calls it on its timer.
    /// Its return is logged by `renewLease`.
    public mutating func watchLease(now: UInt64, _ effects: inout Effects) {
        guard leaseHeld, !leaseValid(at: now) else { return }
        leaseHeld = false
        effects.append(.log("lease expired: this node refuses every request until the master renews it",
                            ["expired_ms_ago": "\(now - leaseUntil)"]))
    }
}
