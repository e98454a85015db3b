/// Everything a storage node decides about its chains, as one pure state machine: the replicas of
/// the chains it belongs to, the configuration and lease from the master, whether a request is
/// served here, forwarded or refused, the promoted tail's barrier, frames from a future epoch,
/// dormant copies of chains it left, and its joins. Inputs are method calls (time passed in);
/// outputs are `Effect`s appended to the caller's buffer, which the node's shell carries out
/// (store writes, frames, replies). No sockets, clocks or disks, so the simulation drives this
/// very code.
public struct NodeCore: Sendable {
    /// Chain-protocol messages between nodes (the peer link's frames without the handshake).
    public enum Message: Sendable, Equatable {
        case updates(epoch: Epoch, chain: ChainID, [Update])
        case ack(epoch: Epoch, chain: ChainID, seq: UInt64)
        /// A tail that stepped down tells the new tail how far it had committed; a tail tells its
        /// joiner its sync point (`ChainReplica.syncPoint`).
        case barrier(epoch: Epoch, chain: ChainID, seq: UInt64)
        /// A joiner asks the tail for the chain, offering the copy it holds.
        case syncRequest(epoch: Epoch, chain: ChainID, transfer: UInt64, have: LogPosition)
        /// The updates after `after` that a joiner lacks (in parts; `last` ends the transfer).
        case syncSuffix(epoch: Epoch, chain: ChainID, transfer: UInt64, after: UInt64, updates: [Update], last: Bool)
        /// A part of a snapshot: store entries of the chain (its data keys and request records).
        case syncChunk(epoch: Epoch, chain: ChainID, transfer: UInt64, snapshot: LogPosition, entries: [([UInt8], [UInt8])], last: Bool)

        public static func == (a: Message, b: Message) -> Bool {
            switch (a, b) {
            case let (.updates(e1, c1, u1), .updates(e2, c2, u2)): return e1 == e2 && c1 == c2 && u1 == u2
            case let (.ack(e1, c1, s1), .ack(e2, c2, s2)), let (.barrier(e1, c1, s1), .barrier(e2, c2, s2)):
                return e1 == e2 && c1 == c2 && s1 == s2
            case let (.syncRequest(e1, c1, t1, h1), .syncRequest(e2, c2, t2, h2)): return e1 == e2 && c1 == c2 && t1 == t2 && h1 == h2
            case let (.syncSuffix(e1, c1, t1, a1, u1, l1), .syncSuffix(e2, c2, t2, a2, u2, l2)):
                return e1 == e2 && c1 == c2 && t1 == t2 && a1 == a2 && u1 == u2 && l1 == l2
            case let (.syncChunk(e1, c1, t1, s1, x1, l1), .syncChunk(e2, c2, t2, s2, x2, l2)):
                return e1 == e2 && c1 == c2 && t1 == t2 && s1 == s2 && l1 == l2 && x1.elementsEqual(x2) { $0.0 == $1.0 && $0.1 == $1.1 }
            default: return false
            }
        }
    }

    public enum Counter: String, Sendable, Equatable {
        case joinsStarted, catchUpSnapshot, catchUpSuffix, transferForeignKey, writesCommitted
    }

    /// A core call's effects, for the shell to carry out in order.
    public typealias Effects = EffectList<Effect>

    public enum Effect: Sendable {
        /// Apply the update to the store, in the same batch as the chain's position and the
        /// update's request record.
        case apply(ChainID, Update)
        /// Send a chain message (updates and acknowledgements may be coalesced per turn).
        case send(to: NodeID, Message)
        /// Send one update of `chain` to `to` (its successor or joiner), with the turn's other
        /// updates for that peer and chain, in this node's epoch. (`send` with a one-update
        /// message would allocate an array per update.)
        case forward(to: NodeID, chain: ChainID, Update)
        /// Client request `token` committed: send its reply.
        case committed(token: UInt64)
        /// Client request `token` will not commit here (this node stopped being the head).
        case abandoned(token: UInt64, chain: ChainID)
        /// This node no longer holds a replica of the chain: forget what waits on its store writes.
        case left(ChainID)
        /// Delete the chain's data, request records and position.
        case dropData(ChainID)
        /// Store snapshot entries of a joined chain (already checked to be the chain's keys).
        case storeEntries(ChainID, [([UInt8], [UInt8])])
        /// Record where the chain's copy here ends (a finished join).
        case storePosition(ChainID, LogPosition)
        /// Stream a snapshot of the chain's data to its joiner.
        case startStream(chain: ChainID, joiner: NodeID, transfer: UInt64)
        case cancelStream(ChainID)
        /// Keep the configuration with the data (for a master that lost its state).
        case storeConfiguration(Configuration)
        /// A frame came from a newer epoch: ask the master now rather than at the next heartbeat.
        case askMaster
        case count(Counter)
        case log(String, [String: String])
    }

    /// What becomes of a client request.
    public enum Route: Sendable, Equatable {
        case serve
        case forward(to: NodeID)
        /// This node serves it shortly: a new tail waits for its old tail's barrier (a lease at
        /// most). Hold the request and ask again.
        case wait
        case refuse(Refusal)
    }

    public enum Refusal: Sendable, Equatable {
        case noConfiguration
        case noLease
        /// A forwarded request reached a node that does not serve it (or nobody serves it).
        case notServedHere(chain: ChainID, by: NodeID?)
    }

    /// A promoted tail waits before serving reads until the old tail has certainly stopped: its
    /// barrier arrived (and this node applied as far as it had committed), or one lease has passed
    /// since this node learned of the promotion — any lease the old tail renewed after the
    /// promotion was published came with the new configuration.
    public struct Barrier: Sendable, Equatable {
        public var oldTail: NodeID
        public var seq: UInt64?
        public var deadline: UInt64
        /// This node lost the tail role again before the old tail had stopped: the barrier it
        /// owes its own successor as tail goes only once this one is met, or the successor
        /// would serve while the first old tail still might.
        public var relay: Relay?
    }

    public struct Relay: Sendable, Equatable {
        public var to: NodeID
        public var epoch: Epoch
        public var seq: UInt64
    }

    /// Protections the simulation switches off one at a time, to show it catches their absence.
    public enum Safeguard: Sendable, Hashable {
        /// A promoted tail waits for the old tail's barrier (or a lease) before serving reads.
        case barrier
        /// Nothing is served without an unexpired lease.
        case leaseCheck
        /// Unacknowledged updates go again to a new successor, a link that came back, a stall.
        case resend
    }

    /// Tests only: safeguards switched off (`Safeguard`).
    var disabled: Set<Safeguard> = []
    /// The replica's actions of a client write, a frame or a store write go through this list,
    /// kept between calls (empty between them): a list made per call was an allocation per
    /// write, chain and turn (callgrind).
    var actionList: [ChainReplica.Action] = []

    /// Runs `step` on the replica at `i` with the kept action list (taken out meanwhile, so a
    /// nested call would make its own), then carries the actions it appended out. Always
    /// inlined: called through its closure it cost 0.5k instructions a write (callgrind).
    @inline(__always)
    mutating func stepReplica<E: Error>(_ chain: ChainID, at i: ReplicaTable.Index, _ effects: inout Effects,
                                        _ step: (inout ChainReplica, inout [ChainReplica.Action]) throws(E) -> Void) throws(E) {
        var actions: [ChainReplica.Action] = []
        swap(&actions, &actionList)
        defer { actionList = actions }
        try step(&replicas.values[i], &actions)
        perform(chain, emptying: &actions, &effects)
    }

    public let me: NodeID
    public internal(set) var config: Configuration?
    /// This node's replica of each chain it is a member of.
    ///
    /// Hot paths reach a replica as `replicas.values[replicas.index(forKey: chain)]`, in place:
    /// the keyed subscript's getter copies a replica out, and its setter copies it back in after
    /// the change — each a retain and release of every buffer a replica holds (callgrind counted
    /// two to three such copies per write and node).
    public internal(set) var replicas = ReplicaTable()
    /// Until when (ms, the shell's monotonic clock) the master's lease is valid.
    public private(set) var leaseUntil: UInt64 = 0
    /// Whether the lease was valid when last renewed or watched (`watchLease`), for the log
    /// lines on its loss and return.
    public internal(set) var leaseHeld = false
    /// The lease length the master announced (for the barrier's fallback).
    public private(set) var leaseMs: UInt64 = 2000
    public internal(set) var barriers: [ChainID: Barrier] = [:]
    /// Where this node's copy of each chain ends, as recorded with its data.
    public internal(set) var positions: ChainIndexed<LogPosition>
    /// Chains this node left whose data it keeps, because they lack members and the master will
    /// likely have it join them again — then only the missing suffix needs to come. Dropped as
    /// soon as the chain is whole without this node.
    public internal(set) var dormant: Set<ChainID> = []
    /// Joins in progress here (joiner side).
    public internal(set) var joins: [ChainID: Join] = [:]
    /// Tail side: snapshots being streamed from here, and those waiting for this node to persist
    /// what it applied before the request (so the snapshot covers what was not forwarded live).
    public internal(set) var streams: [ChainID: (joiner: NodeID, transfer: UInt64)] = [:]
    public internal(set) var snapshotWaits: [ChainID: (joiner: NodeID, needs: UInt64, transfer: UInt64)] = [:]
    /// Per chain this node is in: its most recent updates, for a returning node (`CatchUp`).
    public internal(set) var backlogs = ChainIndexed<UpdateBacklog>()
    let backlogBytes: Int
    var nextTransfer: UInt64 = 0
    /// Frames from a newer epoch than this node's wait here until the master tells it about it.
    var early: [(NodeID, Message)] = []
    /// Since when the link to each needed peer has been down, and the peers needed at the
    /// previous report (`unreachablePeers`).
    var linkDownSince: [NodeID: UInt64] = [:]
    var neededPeers: Set<NodeID> = []
    /// Peers whose link is up (authenticated), as the shell reported.
    public internal(set) var linksUp: Set<NodeID> = []

    /// `positions`: where the store's copy of each chain ends; `backlogBytes`: memory for the
    /// catch-up backlogs, shared by the chains.
    public init(me: NodeID, positions: [ChainID: LogPosition] = [:], backlogBytes: Int = 0) {
        self.me = me
        self.positions = ChainIndexed(positions)
        self.backlogBytes = backlogBytes
    }

    public var epoch: Epoch { config?.epoch ?? 0 }

    public func leaseValid(at now: UInt64) -> Bool { now < leaseUntil }

    public func position(_ chain: ChainID) -> LogPosition { positions[chain] ?? .empty }

    /// Where the store's copies of chains end, for chains this core knows nothing of yet (the
    /// shell reads them when the first configuration names the chains).
    public mutating func recover(positions found: [ChainID: LogPosition]) {
        for (chain, p) in found where positions[chain] == nil { positions[chain] = p }
    }

    // MARK: the master

    /// A lease reply: valid until `until`. Logs the first lease and each return after a lapse.
    public mutating func renewLease(until: UInt64, leaseMs: Int, now: UInt64, _ effects: inout Effects) {
        if !leaseHeld && until > now {
            leaseHeld = true
            if leaseUntil == 0 {
                effects.append(.log("lease granted by the master", ["lease_ms": "\(leaseMs)"]))
            } else {
                effects.append(.log("lease renewed after a lapse: serving again", ["lapsed_ms": "\(now - min(now, leaseUntil))"]))
            }
        }
        if until > leaseUntil { leaseUntil = until }
        self.leaseMs = UInt64(leaseMs)
    }

    // MARK: replica actions

    /// Carries a replica's actions over into effects, keeping the backlog and positions.
    mutating func perform(_ chain: ChainID, _ actions: consuming [ChainReplica.Action], resending: Bool = false, _ effects: inout Effects) {
        var list = actions
        perform(chain, emptying: &list, resending: resending, &effects)
    }

    /// Carries `actions` over and leaves the list empty, its storage kept. Each action is moved
    /// out of its slot (a payload-free stand-in takes its place) and consumed, not copied and
    /// destroyed: two copies of an update's references per write and replica otherwise
    /// (callgrind).
    mutating func perform(_ chain: ChainID, emptying actions: inout [ChainReplica.Action], resending: Bool = false, _ effects: inout Effects) {
        actions.withUnsafeMutableBufferPointer { slots in
            guard let base = slots.baseAddress else { return }
            for i in 0..<slots.count {
                let action = (base + i).move()
                (base + i).initialize(to: .abandoned(token: 0))
                perform(chain, action, resending: resending, &effects)
            }
        }
        // Popped (stand-ins only): `removeAll(keepingCapacity:)` is a generic range replacement.
        actions.popAll()
    }

    private mutating func perform(_ chain: ChainID, _ action: consuming ChainReplica.Action, resending: Bool, _ effects: inout Effects) {
        switch consume action {
        case let .apply(u):
            positions[chain] = LogPosition(seq: u.seq, epoch: u.epoch)
            if backlogBytes > 0 {
                backlogs.update(chain, orMake: UpdateBacklog(capacityBytes: backlogBytes / max(1, config?.chains.count ?? 1))) { $0.append(u) }
            }
            effects.append(.apply(chain, u))
        case .forward where resending && disabled.contains(.resend): return
        case let .forward(to, _, u): effects.append(.forward(to: to, chain: chain, u))
        case let .ack(to, e, seq): effects.append(.send(to: to, .ack(epoch: e, chain: chain, seq: seq)))
        case let .syncPoint(to, e, seq): effects.append(.send(to: to, .barrier(epoch: e, chain: chain, seq: seq)))
        case let .committed(token, _):
            effects.append(.count(.writesCommitted))
            effects.append(.committed(token: token))
        case let .abandoned(token): effects.append(.abandoned(token: token, chain: chain))
        }
    }

    /// The store persisted the chain's updates up to `seq`.
    public mutating func persisted(chain: ChainID, upTo seq: UInt64, _ effects: inout Effects) {
        guard let i = replicas.index(forKey: chain) else { return }
        stepReplica(chain, at: i, &effects) { r, actions in r.onPersisted(upTo: seq, into: &actions) }
        // (Almost always empty: skip the lookup's hashing, once per chain and store write.)
        if !snapshotWaits.isEmpty, let w = snapshotWaits[chain], replicas.values[i].persisted >= w.needs {
            snapshotWaits.removeValue(forKey: chain)
            startStream(chain, joiner: w.joiner, transfer: w.transfer, &effects)
        }
    }

    /// Sends again what a chain has waited on for a whole check interval (`onStallCheck`).
    public mutating func checkStalls(_ effects: inout Effects) {
        for chain in replicas.keys.sorted() {
            let i = replicas.index(forKey: chain)!
            perform(chain, replicas.values[i].onStallCheck(), resending: true, &effects)
        }
    }

    /// Joiners with their copy but no sync point acknowledge again: their first acknowledgement
    /// may have reached the tail in another epoch and been dropped.
    public mutating func announceJoins(_ effects: inout Effects) {
        for chain in joins.keys.sorted() where joins[chain]!.phase.isInstalled && joins[chain]!.syncSeq == nil && replicas[chain] != nil {
            perform(chain, replicas[chain]!.announce(), &effects)
        }
    }

    /// Forgets the replica of a chain this node left; its data stays (dormant) with `keep`.
    mutating func leave(_ chain: ChainID, keep: Bool, _ effects: inout Effects) {
        replicas.removeValue(forKey: chain)
        dropBarrier(chain)
        backlogs.removeValue(forKey: chain)
        effects.append(.left(chain))
        if keep { dormant.insert(chain) } else { dropData(chain, &effects) }
    }

    /// A node that no longer holds the chain's replica waits for no old tail: a barrier left
    /// over would take the sync point of a later join from that node for its step-down (found
    /// by ClusterTests: a restarted tail's stale barrier swallowed its join). A relay it still
    /// owed is dropped; that tail falls back to its lease deadline.
    mutating func dropBarrier(_ chain: ChainID) {
        barriers.removeValue(forKey: chain)
    }

    mutating func dropData(_ chain: ChainID, _ effects: inout Effects) {
        positions[chain] = .empty
        effects.append(.dropData(chain))
    }
}
