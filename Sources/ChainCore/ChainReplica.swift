/// One node's replica of one chain, as a pure state machine: inputs are `on…` calls, outputs are
/// actions for the driver to carry out (apply to the store, send to a peer, answer a client). No
/// sockets, clocks or disks inside, so a simulation can drive it deterministically.
///
/// Sequence numbers: the head numbers the chain's writes 1, 2, 3…; every member applies them
/// strictly in order. Three positions matter at each member:
/// - `applied`: the last update handed to the local store;
/// - `persisted`: the last update the local store has made durable (reported by the driver);
/// - `downstreamAck`: the last update the successor acknowledged, meaning every member after this
///   one has persisted it.
/// A member acknowledges upstream (and the head answers clients) up to `committed`: what it has
/// persisted itself and, unless it is the tail, what its successor acknowledged. The tail is the
/// commit point: its `committed` is its `persisted`.
public struct ChainReplica: Sendable {
    public enum Action: Sendable, Equatable {
        /// Apply the update to the local store (in this order, in the same batch as the chain's
        /// applied sequence and the update's idempotency record).
        case apply(Update)
        /// Send updates to the successor.
        case forward(to: NodeID, epoch: Epoch, Update)
        /// Send a cumulative acknowledgement to the predecessor.
        case ack(to: NodeID, epoch: Epoch, seq: UInt64)
        /// The write of client request `token` (update `seq`) committed: answer the client.
        case committed(token: UInt64, seq: UInt64)
        /// The write of client request `token` will not commit here (this node lost the head
        /// role); the client must retry (with the same tag) at the new head.
        case abandoned(token: UInt64)
        /// Tail: tell the joiner how far this tail had committed when it started waiting for the
        /// joiner's acknowledgements; the joiner may report being in sync only once it holds that.
        case syncPoint(to: NodeID, epoch: Epoch, seq: UInt64)
    }

    public enum Rejection: Error, Equatable, Sendable {
        /// Writes go to the head; this member is not it.
        case notHead
    }

    public let chain: ChainID
    public let me: NodeID
    public private(set) var epoch: Epoch
    public private(set) var members: [NodeID] { didSet { myIndex = members.firstIndex(of: me) } }
    /// Where `me` stands in `members` (nil: not a member). Kept because every update asks for
    /// the role, successor and predecessor, and finding it compares node names.
    private var myIndex: Int?
    /// A node catching up behind the tail: the tail forwards it every update (keeping them
    /// unacknowledged until it acknowledges) but does not wait for it to commit.
    public private(set) var joiner: NodeID?
    public private(set) var applied: UInt64
    public private(set) var persisted: UInt64
    public private(set) var downstreamAck: UInt64 = 0
    /// Last `committed` value reported upstream or to clients.
    public private(set) var reported: UInt64
    /// Updates applied here and not yet acknowledged by the successor, kept to resend when the
    /// successor changes.
    public private(set) var unacked: [Update] = []
    /// Head: client requests waiting for their update to commit, in sequence order.
    private var waiting: [(seq: UInt64, token: UInt64)] = []
    /// Updates dropped because they did not follow `applied` (a gap); the driver exposes this.
    public private(set) var gapsSeen = 0
    /// Tail: the joiner has acknowledged once, so it holds the snapshot and follows the live
    /// stream; from then on this tail commits only what the joiner also holds, and `syncPoint`
    /// is how far it had committed before. Without this, a promoted joiner could lack updates the
    /// old tail had already acknowledged upstream — which nobody would resend to it if the old
    /// tail then left or crashed.
    public private(set) var syncPoint: UInt64?

    /// `applied` is the chain's sequence as recovered from the store (everything in the store
    /// is persisted).
    public init(chain: ChainID, me: NodeID, epoch: Epoch, members: [NodeID], joiner: NodeID? = nil, applied: UInt64) {
        self.chain = chain
        self.me = me
        self.epoch = epoch
        self.members = members
        self.myIndex = members.firstIndex(of: me)
        self.joiner = joiner
        self.applied = applied
        self.persisted = applied
        self.reported = applied
    }

    public var role: ChainRole {
        guard let i = myIndex else { return me == joiner ? .joining : .none }
        if members.count == 1 { return .single }
        if i == 0 { return .head }
        return i == members.count - 1 ? .tail : .middle
    }

    public var successor: NodeID? {
        guard let i = myIndex, i + 1 < members.count else { return nil }
        return members[i + 1]
    }

    public var predecessor: NodeID? {
        guard let i = myIndex else { return me == joiner ? members.last : nil }
        guard i > 0 else { return nil }
        return members[i - 1]
    }

    /// Where this member forwards updates: its successor, or the joiner behind the tail.
    public var downstream: NodeID? {
        guard myIndex != nil else { return nil }
        return successor ?? joiner
    }

    /// Head or single member (`role`, without working the whole role out twice: asked several
    /// times per update).
    public var isHead: Bool { myIndex == 0 }
    /// Tail or single member.
    public var isTail: Bool { myIndex.map { $0 == members.count - 1 } ?? false }

    /// The facts the node asks of a replica for every request and update.
    public struct Standing: Sendable, Equatable {
        public var isHead: Bool
        public var isTail: Bool
        public var hasJoiner: Bool
    }

    /// `mutating` only so that a caller can read it in place (`NodeCore.standing`): a plain
    /// read of a dictionary's value copies the whole replica, retaining every buffer it holds —
    /// a measurable share of a write's cost. It changes nothing.
    public mutating func standing() -> Standing { Standing(isHead: isHead, isTail: isTail, hasJoiner: joiner != nil) }

    /// What this member may acknowledge: persisted here and, below a successor, acknowledged;
    /// never past `commitCap`.
    public var committed: UInt64 {
        let c = successor == nil && syncPoint == nil ? persisted : min(persisted, downstreamAck)
        return commitCap.map { min(c, $0) } ?? c
    }

    /// Set while this member became the tail in place of one that left the chain alive and may
    /// still serve reads until it learns: nothing past what that tail had committed is
    /// acknowledged (a client would be told of a write the old tail's readers cannot see). The
    /// node lifts it once the old tail has stopped (`NodeCore.Barrier`).
    public private(set) var commitCap: UInt64?

    public mutating func capCommits(at seq: UInt64) { commitCap = seq }

    public mutating func liftCommitCap() -> [Action] {
        guard commitCap != nil else { return [] }
        commitCap = nil
        return advance()
    }

    /// Client requests waiting for commit (head).
    public var waitingCount: Int { waiting.count }

    // MARK: inputs

    /// A client write at the head: the head already executed the command against its view of the
    /// data and passes the resulting mutations and reply.
    public mutating func onClientWrite(mutations: Mutations, tag: RequestTag?, reply: [UInt8],
                                       token: UInt64) throws(Rejection) -> [Action] {
        var actions: [Action] = []
        actions.reserveCapacity(2)
        try onClientWrite(mutations: mutations, tag: tag, reply: reply, token: token, into: &actions)
        return actions
    }

    /// The same, appending its actions to `actions` (a node reuses one list for every write
    /// instead of allocating one per write). Nothing is appended when it throws.
    public mutating func onClientWrite(mutations: Mutations, tag: RequestTag?, reply: [UInt8],
                                       token: UInt64, into actions: inout [Action]) throws(Rejection) {
        guard isHead else { throw .notHead }
        let update = Update(seq: applied + 1, epoch: epoch, mutations: mutations, tag: tag, reply: reply)
        applied = update.seq
        waiting.append((update.seq, token))
        actions.append(.apply(update))
        // A chain of one with nobody behind commits on persistence alone.
        guard let d = downstream else { return }
        unacked.append(update)
        actions.append(.forward(to: d, epoch: epoch, update))
    }

    /// Updates from the predecessor. Old duplicates are skipped; a gap stops processing (the rest
    /// cannot be applied out of order). A frame is taken in sequence order whatever its order on
    /// the wire: the sender batches a loop turn's updates per chain, so a resend of everything
    /// unacknowledged (a configuration change or a link coming back in that turn) can follow
    /// newer updates queued earlier in the same frame.
    public mutating func onUpdates(from sender: NodeID, epoch frameEpoch: Epoch, _ updates: [Update]) -> [Action] {
        var actions: [Action] = []
        onUpdates(from: sender, epoch: frameEpoch, updates, into: &actions)
        return actions
    }

    /// The same, appending to `actions` (a node passes one list it keeps: a list made per frame
    /// was an allocation per chain and turn, several a write with interleaved chains).
    public mutating func onUpdates(from sender: NodeID, epoch frameEpoch: Epoch, _ updates: [Update], into actions: inout [Action]) {
        guard frameEpoch == epoch, sender == predecessor else { return }
        let d = downstream
        actions.reserveCapacity(actions.count + (d == nil ? updates.count : 2 * updates.count))
        let inOrder = zip(updates, updates.dropFirst()).allSatisfy { $0.seq <= $1.seq }
        for u in inOrder ? updates : updates.sorted(by: { $0.seq < $1.seq }) {
            if u.seq <= applied { continue }
            guard u.seq == applied + 1 else { gapsSeen += 1; break }
            applied = u.seq
            actions.append(.apply(u))
            if let d {
                unacked.append(u)
                actions.append(.forward(to: d, epoch: epoch, u))
            }
        }
    }

    /// A cumulative acknowledgement from the successor.
    public mutating func onAck(from sender: NodeID, epoch frameEpoch: Epoch, seq: UInt64) -> [Action] {
        var actions: [Action] = []
        onAck(from: sender, epoch: frameEpoch, seq: seq, into: &actions)
        return actions
    }

    /// The same, appending to `actions`.
    public mutating func onAck(from sender: NodeID, epoch frameEpoch: Epoch, seq: UInt64, into actions: inout [Action]) {
        // Acks from a joiner only trim `unacked`; they do not count for commit (`committed`
        // ignores `downstreamAck` when there is no successor).
        guard frameEpoch == epoch, sender == downstream else { return }
        if successor == nil, let j = joiner, sender == j, syncPoint == nil {
            // (Even an acknowledgement of 0: the joiner of an empty chain needs its sync point.)
            syncPoint = reported
            actions.append(.syncPoint(to: j, epoch: epoch, seq: reported))
        }
        guard seq > downstreamAck else { return }
        downstreamAck = min(seq, applied)
        if let cut = unacked.firstIndex(where: { $0.seq > downstreamAck }) {
            unacked.removeFirst(cut)
        } else {
            // Its storage kept (up to 256 updates; a chain of a thousand keeps at most ~16 KB):
            // most acknowledgements empty the list, which the next turn's updates would
            // otherwise regrow from nothing (five or six reallocations a turn).
            if unacked.capacity <= 256 { unacked.popAll() } else { unacked = [] }
        }
        advance(into: &actions)
    }

    /// The local store made every update up to `seq` durable.
    public mutating func onPersisted(upTo seq: UInt64) -> [Action] {
        var actions: [Action] = []
        onPersisted(upTo: seq, into: &actions)
        return actions
    }

    /// The same, appending to `actions`.
    public mutating func onPersisted(upTo seq: UInt64, into actions: inout [Action]) {
        guard seq > persisted else { return }
        persisted = min(seq, applied)
        advance(into: &actions)
    }

    /// A client retried a write that this member already applied (as update `seq`): answer it
    /// once that update commits — at once if it has.
    public mutating func onClientWait(seq: UInt64, token: UInt64) throws(Rejection) -> [Action] {
        guard isHead else { throw .notHead }
        if seq <= reported { return [.committed(token: token, seq: seq)] }
        let i = waiting.firstIndex { $0.seq > seq } ?? waiting.count
        waiting.insert((seq, token), at: i)
        return []
    }

    /// A new configuration for this chain. Handles the role changes the chain protocol allows:
    /// the successor gets every unacknowledged update again (it skips what it has; frames sent in
    /// the old epoch may have been dropped, so this happens even when the successor stayed); a
    /// member that became the tail commits what it holds; a member that lost the head role
    /// abandons its waiting clients; the predecessor hears where this member stands.
    public mutating func onConfiguration(epoch newEpoch: Epoch, members newMembers: [NodeID], joiner newJoiner: NodeID? = nil) -> [Action] {
        guard newEpoch > epoch else { return [] }
        let oldDownstream = downstream
        let wasHead = isHead
        epoch = newEpoch
        members = newMembers
        joiner = newJoiner
        var actions: [Action] = []
        if wasHead && !isHead {
            actions += waiting.map { .abandoned(token: $0.token) }
            waiting.removeAll()
        }
        if let d = downstream {
            actions += unacked.map { .forward(to: d, epoch: epoch, $0) }
        } else {
            unacked.removeAll()
        }
        // A different downstream node must acknowledge afresh: an acknowledgement from the old
        // one says nothing about what the new one holds (found by JoinSimulationTests, seed 15:
        // a stale ack let a write commit that the promoted joiner did not have). A promoted
        // joiner is the same node and keeps its acknowledgements.
        if downstream != oldDownstream { downstreamAck = 0 }
        if successor != nil || joiner == nil || downstream != oldDownstream { syncPoint = nil }
        return actions + advance(reannounce: true)
    }

    public static let maxResend = 1000

    /// The oldest unacknowledged update at the last `onStallCheck`, and the acknowledgement then.
    private var stallMark: (oldest: UInt64, ack: UInt64)?

    /// Called by the driver at a fixed interval (much longer than a round trip). Updates and
    /// acknowledgements are otherwise sent again only when the link reopens or the configuration
    /// changes; a frame lost without either (dropped by a receiver that could not place it) would
    /// leave the chain waiting. So: when the oldest update waiting for the successor was already
    /// waiting at the last check and no acknowledgement came since, everything unacknowledged goes
    /// again (the successor skips what it has); and a member repeats its acknowledgement upstream
    /// (cumulative: the predecessor ignores one that is not new). A joiner is left alone: its
    /// catch-up restarts by itself.
    public mutating func onStallCheck() -> [Action] {
        var actions: [Action] = []
        if let s = successor, let oldest = unacked.first?.seq {
            if let mark = stallMark, mark.oldest == oldest, mark.ack == downstreamAck {
                // At most a bounded prefix: a successor that is merely slow (paused, say) must
                // not get the whole backlog again every interval; once it acknowledges these,
                // the next check finds the rest if they were lost too.
                actions += unacked.prefix(Self.maxResend).map { .forward(to: s, epoch: epoch, $0) }
            }
            stallMark = (oldest, downstreamAck)
        } else {
            stallMark = nil
        }
        if members.contains(me), let p = predecessor, reported > 0 {
            actions.append(.ack(to: p, epoch: epoch, seq: reported))
        }
        return actions
    }

    /// Tells the predecessor where this replica stands (a joiner calls it once its snapshot is
    /// installed, so that the tail starts counting it).
    public mutating func announce() -> [Action] { advance(reannounce: true) }

    private mutating func advance(reannounce: Bool = false) -> [Action] {
        var actions: [Action] = []
        advance(reannounce: reannounce, into: &actions)
        return actions
    }

    private mutating func advance(reannounce: Bool = false, into actions: inout [Action]) {
        let c = committed
        guard c > reported || (reannounce && predecessor != nil) else { return }
        if c > reported { reported = c }
        if let p = predecessor {
            actions.append(.ack(to: p, epoch: epoch, seq: reported))
        }
        if isHead {
            var n = 0
            while n < waiting.count && waiting[n].seq <= reported { n += 1 }
            if n > 0 {
                actions.reserveCapacity(actions.count + n)
                for w in waiting[0..<n] { actions.append(.committed(token: w.token, seq: w.seq)) }
                if n == waiting.count { waiting.popAll() } else { waiting.removeFirst(n) }
            }
        }
    }
}
