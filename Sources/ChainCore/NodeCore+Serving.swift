/// Client requests: whether this node serves one, and its writes as the head.
extension NodeCore {
    /// Where a request for `chain` goes. A node serves writes as the chain's head and reads as
    /// its tail, only with a configuration and an unexpired lease, and a promoted tail only once
    /// the old tail has certainly stopped (`Barrier`). A request another node forwarded is served
    /// here or refused, never sent on.
    public mutating func route(chain: ChainID, write: Bool, forwarded: Bool, now: UInt64) -> Route {
        guard let config else { return .refuse(.noConfiguration) }
        guard leaseValid(at: now) || disabled.contains(.leaseCheck) else { return .refuse(.noLease) }
        let c = config.chains[chain]
        if write ? replicas[chain]?.isHead == true : replicas[chain]?.isTail == true && (disabled.contains(.barrier) || !awaitingBarrier(chain, now: now)) {
            return .serve
        }
        let target = write ? c.head : c.tail
        guard !forwarded, let target, target != me else { return .refuse(.notServedHere(chain: chain, by: target)) }
        return .forward(to: target)
    }

    /// Whether the chain pauses new writes while its members are reordered.
    public func writesFrozen(_ chain: ChainID) -> Bool { config?.chains[chain].frozen != nil }

    /// A client write at the head: the shell executed the command against its view of the data
    /// and passes the mutations and the reply; `token` names the request for `committed`.
    public mutating func clientWrite(chain: ChainID, mutations: [Mutation], tag: RequestTag?, reply: [UInt8], token: UInt64,
                                     _ effects: inout [Effect]) throws(ChainReplica.Rejection) {
        guard replicas[chain] != nil else { throw .notHead }
        perform(chain, try replicas[chain]!.onClientWrite(mutations: mutations, tag: tag, reply: reply, token: token), &effects)
    }

    /// A retried write this node applied before (as update `seq`): answer once it commits.
    public mutating func clientWait(chain: ChainID, seq: UInt64, token: UInt64, _ effects: inout [Effect]) throws(ChainReplica.Rejection) {
        guard replicas[chain] != nil else { throw .notHead }
        perform(chain, try replicas[chain]!.onClientWait(seq: seq, token: token), &effects)
    }

    /// A promoted tail serves reads only after the old tail's barrier arrived and everything the
    /// old tail had committed is here, or a lease after it learned of the promotion.
    mutating func awaitingBarrier(_ chain: ChainID, now: UInt64) -> Bool {
        guard let b = barriers[chain] else { return false }
        let barrierMet = b.seq.map { (replicas[chain]?.applied ?? 0) >= $0 } ?? false
        guard barrierMet || now >= b.deadline else { return true }
        barriers.removeValue(forKey: chain)
        joins.removeValue(forKey: chain)
        return false
    }
}
