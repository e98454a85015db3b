/// Client requests: whether this node serves one, and its writes as the head.
extension NodeCore {
    /// Where a request for `chain` goes. A node serves writes as the chain's head and reads as
    /// its tail, only with a configuration and an unexpired lease, and a promoted tail only once
    /// the old tail has certainly stopped (`Barrier`). A request another node forwarded is served
    /// here or refused, never sent on.
    public mutating func route(chain: ChainID, write: Bool, forwarded: Bool, now: UInt64) -> Route {
        // (Asked for every request: it reads the configuration and the replica in place rather
        // than copying them.)
        // (`config != nil` copied the configuration: three retains and releases a request.)
        guard config?.epoch != nil else { return .refuse(.noConfiguration) }
        guard leaseValid(at: now) || disabled.contains(.leaseCheck) else { return .refuse(.noLease) }
        let standing = standing(chain)
        if write ? standing?.isHead == true : standing?.isTail == true && (disabled.contains(.barrier) || !awaitingBarrier(chain, now: now)) {
            return .serve
        }
        let target = write ? config!.chains[chain].head : config!.chains[chain].tail
        // A client's read waits out the barrier here; a forwarded one goes back to the node it
        // came from, which tries again (`reroute`) without holding up the other requests
        // forwarded on the same connection.
        if !write, !forwarded, target == me, standing?.isTail == true { return .wait }
        guard !forwarded, let target, target != me else { return .refuse(.notServedHere(chain: chain, by: target)) }
        return .forward(to: target)
    }

    /// How far reads of `chain` served here may see: nil when everything persisted is committed
    /// (the tail's usual case). A tail counting its joiner commits only what the joiner also
    /// holds (`ChainReplica.syncPoint`), so it holds persisted updates that are not committed
    /// yet; a read that saw one could be contradicted by the joiner once it is promoted (or by
    /// this tail's successor after a crash), so the shell holds such a read's reply until the
    /// chain has committed this far. (Found by NodeSimulationTests with dropped frames: the
    /// promoted joiner served a value older than one a read had already returned.)
    public func readableUpTo(_ chain: ChainID) -> UInt64? {
        guard let r = replicas[chain], r.isTail, r.syncPoint != nil else { return nil }
        return r.committed
    }

    /// The chain of `slot` under the installed configuration (nil without one), read in place.
    public func chain(forSlot slot: Int) -> ChainID? {
        guard let count = config?.chains.count else { return nil }
        return Configuration.chain(forSlot: slot, chainCount: count)
    }

    /// The replica's role facts, read in place (nil when this node has no replica of `chain`).
    public mutating func standing(_ chain: ChainID) -> ChainReplica.Standing? {
        guard let i = replicas.index(forKey: chain) else { return nil }
        return replicas.values[i].standing()
    }

    /// Whether the chain pauses new writes while its members are reordered.
    public func writesFrozen(_ chain: ChainID) -> Bool { config?.chains[chain].frozen != nil }

    /// What becomes of a client's write to `chain` (`waitingSince`: when it started waiting,
    /// nil on its first try). A reorder freezes a chain for a heartbeat or two, so the write
    /// waits — clients that do not retry `TRYAGAIN` (plain redis-py, redis-cli) see a short
    /// delay, not an error — and is refused once it has waited a lease. A cluster stopped for
    /// maintenance refuses it at once: it stays frozen until an operator starts it.
    public func frozenWrite(_ chain: ChainID, waitingSince: UInt64?, now: UInt64) -> FrozenWrite {
        // (Asked before every client write: no copy of the configuration on the way.)
        guard chain < config?.chains.count ?? 0, writesFrozen(chain) else { return .open }
        if config?.stopped == true { return .refuse(.clusterStopped) }
        guard let since = waitingSince else { return .wait }
        return now >= since && now - since >= leaseMs ? .refuse(.stillReordering) : .wait
    }

    public enum FrozenWrite: Sendable, Equatable {
        /// The chain takes writes.
        case open
        /// Hold the write and ask again (after the next configuration, or a timer).
        case wait
        case refuse(FrozenRefusal)
    }

    public enum FrozenRefusal: Sendable, Equatable {
        case clusterStopped
        case stillReordering
    }

    /// A client write at the head: the shell executed the command against its view of the data
    /// and passes the mutations and the reply; `token` names the request for `committed`.
    public mutating func clientWrite(chain: ChainID, mutations: Mutations, tag: RequestTag?, reply: [UInt8], token: UInt64,
                                     _ effects: inout Effects) throws(ChainReplica.Rejection) {
        guard let i = replicas.index(forKey: chain) else { throw .notHead }
        try stepReplica(chain, at: i, &effects) { r, actions throws(ChainReplica.Rejection) in
            try r.onClientWrite(mutations: mutations, tag: tag, reply: reply, token: token, into: &actions)
        }
    }

    /// A retried write this node applied before (as update `seq`): answer once it commits.
    public mutating func clientWait(chain: ChainID, seq: UInt64, token: UInt64, _ effects: inout Effects) throws(ChainReplica.Rejection) {
        guard let i = replicas.index(forKey: chain) else { throw .notHead }
        perform(chain, try replicas.values[i].onClientWait(seq: seq, token: token), &effects)
    }

    /// A new tail serves reads only once the old tail's barrier arrived and everything the old
    /// tail had committed is here, or a lease after it learned of the change.
    func awaitingBarrier(_ chain: ChainID, now: UInt64) -> Bool {
        guard let b = barriers[chain] else { return false }
        return !barrierMet(b, chain, now: now)
    }

    /// The old tail has certainly stopped: its barrier came and this node applied as far as it
    /// had committed (a node no longer in the chain needs only the barrier), or a lease passed.
    func barrierMet(_ b: Barrier, _ chain: ChainID, now: UInt64) -> Bool {
        if let seq = b.seq, (replicas[chain].map { $0.applied >= seq } ?? true) { return true }
        return now >= b.deadline
    }

    /// Barriers that are met: the replica may acknowledge again (`ChainReplica.commitCap`), the
    /// barrier this node owes a later tail goes (`Barrier.relay`). The shell calls it every
    /// 100 ms; barriers and updates arriving call it too.
    public mutating func settleBarriers(now: UInt64, _ effects: inout Effects) {
        for chain in barriers.keys.sorted() {
            guard let b = barriers[chain], barrierMet(b, chain, now: now) else { continue }
            barriers.removeValue(forKey: chain)
            if let i = replicas.index(forKey: chain) { perform(chain, replicas.values[i].liftCommitCap(), &effects) }
            if let relay = b.relay { effects.append(.send(to: relay.to, .barrier(epoch: relay.epoch, chain: chain, seq: relay.seq))) }
        }
    }
}
