/// Joining chains: the joiner's side (offer the copy it holds, receive a suffix or a snapshot,
/// install it) and the tail's side (decide which of the two to send).
extension NodeCore {
    /// One join in progress, joiner side.
    public struct Join: Sendable {
        public enum Phase: Sendable, Equatable {
            /// The request waits for the link to the tail.
            case waitingForLink
            /// The request went out; nothing came back yet.
            case requested
            /// Parts of a snapshot (`snapshot` set) or of the suffix arrived.
            case receiving
            /// The copy is in: this node is a replica that follows the live stream.
            case installed
            public var isInstalled: Bool { self == .installed }
        }

        public var epoch: Epoch
        public var tail: NodeID
        /// Names this attempt; parts of an earlier, abandoned attempt are ignored.
        public var transfer: UInt64
        /// Where the copy this node kept ends (`.empty`: it kept none).
        public var have: LogPosition
        /// This node's copy of the chain was deleted (no copy kept, or a snapshot began to replace it).
        public var wiped: Bool
        public var phase: Phase = .waitingForLink
        /// Live updates from the tail, held until the snapshot or suffix is complete.
        public var buffered: [Update] = []
        /// The suffix received so far (when the tail sends only what this node lacks).
        public var suffix: [Update] = []
        /// Where the snapshot (or the kept copy) ends, once known.
        public var snapshot: LogPosition?
        public var bytes = 0
        /// How far the tail had committed when it began counting this joiner (its `syncPoint`):
        /// the join is in sync once that much is persisted here.
        public var syncSeq: UInt64?

        /// In sync: may be promoted to tail.
        public func synced(persisted: UInt64) -> Bool {
            guard phase.isInstalled, let syncSeq else { return false }
            return persisted >= max(syncSeq, snapshot?.seq ?? 0)
        }
    }

    /// Joiner: ask the tail for the chain, offering the copy this node holds (if any); without
    /// one, throw away whatever it held for the chain. (The stored position is written in the
    /// same batch as the data it describes, and reset with it, so whatever copy is there — kept
    /// after leaving, or found after a restart — is described exactly; the tail decides whether
    /// it is a prefix of the chain.)
    mutating func startJoin(chain: ChainID, tail: NodeID, epoch: Epoch, _ effects: inout Effects) {
        dormant.remove(chain)
        let have = joins[chain]?.wiped == true ? .empty : position(chain)
        if have == .empty { dropData(chain, &effects) }
        if replicas.removeValue(forKey: chain) != nil { effects.append(.left(chain)) }
        dropBarrier(chain)
        nextTransfer += 1
        joins[chain] = Join(epoch: epoch, tail: tail, transfer: nextTransfer, have: have, wiped: have == .empty)
        effects.append(.count(.joinsStarted))
        effects.append(.log("joining chain", ["chain": "\(chain)", "tail": tail, "epoch": "\(epoch)", "have": "\(have.seq)@\(have.epoch)"]))
        requestCopy(chain, linkReady: linksUp.contains(tail), &effects)
    }

    mutating func restartJoin(_ chain: ChainID, _ effects: inout Effects) {
        guard let j = joins[chain] else { return }
        startJoin(chain: chain, tail: j.tail, epoch: j.epoch, &effects)
    }

    /// Sends the join's request once the link to the tail is up (`linkUp` calls it again).
    mutating func requestCopy(_ chain: ChainID, linkReady: Bool, _ effects: inout Effects) {
        guard var j = joins[chain], j.phase == .waitingForLink, linkReady else { return }
        j.phase = .requested
        joins[chain] = j
        effects.append(.send(to: j.tail, .syncRequest(epoch: j.epoch, chain: chain, transfer: j.transfer, have: j.have)))
    }

    /// Tail: a joiner asked for the chain's data. When its copy is a prefix of this tail's
    /// history and the backlog still holds what follows, only that is sent; otherwise a snapshot,
    /// once everything this node applied is persisted.
    mutating func syncRequested(chain: ChainID, by joiner: NodeID, transfer: UInt64, have: LogPosition, _ effects: inout Effects) {
        guard let r = replicas[chain], r.isTail, r.joiner == joiner else { return }
        if streams.removeValue(forKey: chain) != nil { effects.append(.cancelStream(chain)) }
        snapshotWaits.removeValue(forKey: chain)
        // A joiner that started over (a lost link, a restart) needs the sync point again; the
        // tail sends it only with the first acknowledgement it counts.
        if let seq = r.syncPoint { effects.append(.send(to: joiner, .barrier(epoch: epoch, chain: chain, seq: seq))) }
        let backlog = backlogs[chain] ?? UpdateBacklog(capacityBytes: 0)
        let mine = backlog.last.flatMap { $0.seq == r.applied ? $0 : nil } ?? position(chain)
        if case let .suffix(after) = CatchUp.plan(have: have, tail: mine, backlog: backlog) {
            sendSuffix(chain: chain, to: joiner, transfer: transfer, after: after, Array(backlog.updates(after: after)), &effects)
            return
        }
        if r.persisted >= r.applied {
            startStream(chain, joiner: joiner, transfer: transfer, &effects)
        } else {
            snapshotWaits[chain] = (joiner, r.applied, transfer)
        }
    }

    mutating func startStream(_ chain: ChainID, joiner: NodeID, transfer: UInt64, _ effects: inout Effects) {
        guard replicas[chain]?.joiner == joiner else { return }
        streams[chain] = (joiner, transfer)
        effects.append(.startStream(chain: chain, joiner: joiner, transfer: transfer))
    }

    /// Tail: the updates a joiner lacks, in parts of about a snapshot chunk each. (Updates this
    /// tail applies from now on reach the joiner live, after these on the same link.)
    private func sendSuffix(chain: ChainID, to joiner: NodeID, transfer: UInt64, after: UInt64, _ updates: [Update], _ effects: inout Effects) {
        var part: [Update] = []
        var bytes = 0
        for u in updates {
            part.append(u)
            bytes += u.byteEstimate
            if bytes >= Self.transferPartBytes {
                effects.append(.send(to: joiner, .syncSuffix(epoch: epoch, chain: chain, transfer: transfer, after: after, updates: part, last: false)))
                part = []
                bytes = 0
            }
        }
        effects.append(.send(to: joiner, .syncSuffix(epoch: epoch, chain: chain, transfer: transfer, after: after, updates: part, last: true)))
        effects.append(.log("sending a joiner only what it lacks", ["chain": "\(chain)", "joiner": joiner, "after": "\(after)", "updates": "\(updates.count)"]))
    }

    /// About how many bytes one part of a state transfer carries.
    public static let transferPartBytes = 256 << 10

    /// Joiner: a part of the snapshot arrived (the first one replaces what this node held).
    mutating func chunkReceived(chain: ChainID, from tail: NodeID, transfer: UInt64, snapshot: LogPosition,
                                entries: [([UInt8], [UInt8])], last: Bool, _ effects: inout Effects) {
        guard var j = joins[chain], j.tail == tail, !j.phase.isInstalled, transfer == j.transfer, let config else { return }
        if j.snapshot == nil { j.snapshot = snapshot }
        guard j.snapshot == snapshot else { return }
        j.phase = .receiving
        if !j.wiped {
            dropData(chain, &effects)
            j.wiped = true
        }
        let slots = config.slots(of: chain)
        let records = KeyLayout.recordPrefix(chain: chain)
        var accepted: [([UInt8], [UInt8])] = []
        accepted.reserveCapacity(entries.count)
        for (k, v) in entries {
            // Only this chain's keys: its values, hash fields and request records.
            guard KeyLayout.isSlotKey(k, in: slots) || k.starts(with: records) else {
                effects.append(.count(.transferForeignKey))
                continue
            }
            accepted.append((k, v))
            j.bytes += k.count + v.count
        }
        joins[chain] = j
        if !accepted.isEmpty { effects.append(.storeEntries(chain, accepted)) }
        if last {
            effects.append(.count(.catchUpSnapshot))
            effects.append(.log("chain snapshot received", ["chain": "\(chain)", "bytes": "\(j.bytes)", "seq": "\(snapshot.seq)"]))
            finishJoin(chain, from: tail, at: snapshot, then: [], &effects)
        }
    }

    /// Joiner: part of the suffix this node lacked arrived; with the last part, the copy it kept
    /// plus these updates is the chain.
    mutating func suffixReceived(chain: ChainID, from tail: NodeID, transfer: UInt64, after: UInt64, updates: [Update], last: Bool,
                                 _ effects: inout Effects) {
        guard var j = joins[chain], j.tail == tail, !j.phase.isInstalled, transfer == j.transfer, !j.wiped, after == j.have.seq else { return }
        j.phase = .receiving
        j.suffix += updates
        j.bytes += updates.reduce(0) { $0 + $1.byteEstimate }
        joins[chain] = j
        guard last else { return }
        effects.append(.count(.catchUpSuffix))
        effects.append(.log("chain caught up with the missing suffix", ["chain": "\(chain)", "after": "\(after)", "updates": "\(j.suffix.count)"]))
        finishJoin(chain, from: tail, at: j.have, then: j.suffix, &effects)
    }

    /// Joiner: the copy is in up to `position`: become a replica there, then apply `updates` and
    /// the live updates that came meanwhile (the replica skips those it already holds).
    private mutating func finishJoin(_ chain: ChainID, from tail: NodeID, at position: LogPosition, then updates: [Update],
                                     _ effects: inout Effects) {
        guard var j = joins[chain], let config else { return }
        j.phase = .installed
        j.snapshot = position
        let c = config.chains[chain]
        var r = ChainReplica(chain: chain, me: me, epoch: config.epoch, members: c.members, joiner: c.joining, applied: position.seq)
        let buffered = j.buffered
        j.buffered = []
        j.suffix = []
        joins[chain] = j
        backlogs.removeValue(forKey: chain)
        positions[chain] = position
        effects.append(.storePosition(chain, position))
        let actions = r.onUpdates(from: tail, epoch: config.epoch, updates + buffered) + r.announce()
        replicas[chain] = r
        perform(chain, actions, &effects)
    }
}
