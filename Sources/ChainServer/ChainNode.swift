import Foundation
import ChainCore
import ChainWire
import EventLoop
import RESP
import Storage

/// The cluster side of a storage node, on the event loop: it holds the configuration and lease
/// from the master, one `ChainReplica` per chain this node belongs to, and carries out their
/// actions — applying updates to the store, batching frames to peers, answering clients when
/// their writes commit. It also decides, per request, whether to serve it here or forward it.
final class ChainNode {
    unowned let server: Server
    let me: NodeID
    let settings: ClusterSettings
    private(set) var config: Configuration?
    var replicas: [ChainID: ChainReplica] = [:]
    /// Monotonic ms until which the master's lease is valid.
    private(set) var leaseUntilMs: UInt64 = 0
    var peers: PeerLinks!
    var forwarder: Forwarder!
    var masterLink: MasterLink!
    /// Head: replies waiting for their update to commit, by token.
    private var waitingReplies: [UInt64: (slot: UInt64, reply: [UInt8])] = [:]
    private var nextToken: UInt64 = 1
    /// Per chain: (data view sequence, chain sequence) of applied updates not yet persisted.
    var persistTrack: [ChainID: [(UInt64, UInt64)]] = [:]
    /// Frames from a newer epoch than ours wait here until the master tells us about it.
    private var early: [(NodeID, PeerFrame)] = []
    /// Frames produced this turn, coalesced per peer and chain, sent at the end of the turn.
    private var outUpdates: [NodeID: [ChainID: [Update]]] = [:]
    private var outAcks: [NodeID: [ChainID: UInt64]] = [:]
    private var flushQueued = false
    /// Joins in progress here (joiner side), by chain.
    var joins: [ChainID: JoinProgress] = [:]
    /// Snapshot streams running from here (tail side), by chain.
    var streams: [ChainID: SnapshotStream] = [:]
    /// Tail side: a joiner asked for the chain's data; the snapshot waits until everything this
    /// node applied before is persisted (so the snapshot covers what was not forwarded live).
    var snapshotWaits: [ChainID: (joiner: NodeID, needs: UInt64, transfer: UInt64)] = [:]
    var nextTransfer: UInt64 = 0
    /// A promoted tail waits before serving reads until the old tail has certainly stopped:
    /// its barrier arrived (and this node applied as far as it had committed), or one lease has
    /// passed since this node learned of the promotion — any lease the old tail renewed after the
    /// promotion was published came with the new configuration.
    var barriers: [ChainID: Barrier] = [:]

    struct Barrier {
        var oldTail: NodeID
        var seq: UInt64?
        var deadlineMs: UInt64
    }
    /// Shared by every snapshot stream this node sends (`--transfer-rate-mb`).
    lazy var throttle = TransferThrottle(bytesPerSecond: settings.transferRate)
    /// The lease length the master announced (for the barrier's fallback).
    var leaseMs: UInt64 = 2000
    /// Chains that applied updates this turn, with where their history now ends: written once
    /// per turn (`beforeStoreFlush`), in the same batch as the updates.
    private var appliedThisTurn: [ChainID: LogPosition] = [:]
    /// Per chain this node is in: its most recent updates, for a returning node (`CatchUp`).
    var backlogs: [ChainID: UpdateBacklog] = [:]
    /// Since when the link to each needed peer has been down (monotonic ms).
    var linkDownSince: [NodeID: UInt64] = [:]
    /// The peers needed at the previous report (`unreachablePeers`).
    var neededPeers: Set<NodeID> = []
    /// Chains this node left whose data it keeps, because they lack members and the master will
    /// likely have it join them again — then only the missing suffix needs to come. Dropped as
    /// soon as the chain is whole without this node.
    var dormant: Set<ChainID> = []

    init(server: Server, me: NodeID, settings: ClusterSettings) {
        self.server = server
        self.me = me
        self.settings = settings
    }

    var epoch: Epoch { config?.epoch ?? 0 }
    var leaseValid: Bool { monotonicMillis() < leaseUntilMs }

    // MARK: master

    func renewLease(untilMs: UInt64, leaseMs: Int) {
        if untilMs > leaseUntilMs { leaseUntilMs = untilMs }
        self.leaseMs = UInt64(leaseMs)
    }

    func install(_ new: Configuration) {
        guard new.epoch > epoch else { return }
        let old = config
        config = new
        server.logger.info("configuration installed", metadata: ["epoch": "\(new.epoch)", "chains": "\(new.chains.count)"])
        for c in new.chains {
            let member = c.members.contains(me)
            if replicas[c.id] != nil && !member && c.joining == me && joins[c.id]?.tail != c.tail {
                // This node left the chain and joins it again (perhaps having missed the epochs
                // in between), or the tail it copied from left: start over from the current tail
                // (below), offering the copy it holds — the tail decides whether sending what it
                // lacks is enough (`CatchUp`).
                perform(c.id, replicas[c.id]!.onConfiguration(epoch: new.epoch, members: c.members, joiner: c.joining))
                leave(c.id, keep: true)
            }
            if let before = replicas[c.id] {
                let wasTail = before.isTail
                let stepDownSeq = before.reported
                let wasJoining = before.role == .joining
                let oldTail = before.members.last
                perform(c.id, replicas[c.id]!.onConfiguration(epoch: new.epoch, members: c.members, joiner: c.joining))
                let r = replicas[c.id]!
                if wasTail && !r.isTail, let newTail = c.tail {
                    // Stepped down (this node has installed the epoch): tell the new tail how far
                    // this node had committed, so it may start serving.
                    peers.send([.barrier(epoch: new.epoch, chain: c.id, seq: stepDownSeq)], to: newTail)
                }
                if wasJoining && r.isTail, let oldTail {
                    barriers[c.id] = Barrier(oldTail: oldTail, seq: nil, deadlineMs: monotonicMillis() + leaseMs)
                }
            } else if member {
                dormant.remove(c.id)
                replicas[c.id] = ChainReplica(chain: c.id, me: me, epoch: new.epoch, members: c.members, joiner: c.joining, applied: storedPosition(c.id).seq)
            } else if c.joining == me, let tail = c.tail, joins[c.id]?.tail != tail {
                // New join, or the tail changed under a join in progress: (re)start from the tail.
                startJoin(chain: c.id, tail: tail, epoch: new.epoch)
            }
            if streams[c.id] != nil && (c.joining == nil || c.tail != me) { streams.removeValue(forKey: c.id)?.cancel() }
        }
        // Chains this node left: answer its waiting clients (they retry elsewhere) and forget
        // them; keep their data while they lack members (this node may be asked back).
        for id in Array(replicas.keys) {
            let c = new.chains.first { $0.id == id }
            guard !(c?.members.contains(me) ?? false) && c?.joining != me else { continue }
            perform(id, replicas[id]!.onConfiguration(epoch: new.epoch, members: c?.members ?? [], joiner: c?.joining))
            leave(id, keep: (c?.members.count ?? 0) < new.replication)
        }
        for id in Array(joins.keys) where new.chains.first(where: { $0.id == id })?.joining != me {
            let j = joins.removeValue(forKey: id)!
            if replicas[id] == nil {
                if j.wiped { dropChainData(id, config: new) } else { dormant.insert(id) }
            }
        }
        if old == nil {
            // First configuration since start: data of chains this node is no longer in is dormant.
            for c in new.chains where !c.members.contains(me) && c.joining != me && storedPosition(c.id).seq > 0 { dormant.insert(c.id) }
        }
        for id in dormant where !(new.chains.first { $0.id == id }.map { $0.members.count < new.replication && !$0.members.contains(me) } ?? false) {
            // Whole again without this node (or this node is back in it some other way).
            dormant.remove(id)
            if replicas[id] == nil && joins[id] == nil { dropChainData(id, config: new) }
        }
        peers.configure(new, previous: old)
        forwarder.configure(new)
        let pending = early
        early.removeAll()
        for (from, frame) in pending { receive(frame, from: from) }
        masterLink.update(knownEpoch: new.epoch)
        masterLink.installed(new)
        // Kept in the store (same turn batch as the data changes it caused) so that a master
        // that lost its state can recover the table from the nodes.
        if let json = try? JSONEncoder().encode(new) {
            server.data.put(ChainMetadata.configKey, Array(json), cached: false)
            server.markStoreDirty()
        }
    }

    // MARK: client requests

    /// Serves a data command here, or forwards it to the node that serves it. Returns a slot
    /// when the reply comes later.
    func handle(_ id: CommandID, _ args: [[UInt8]], tag: RequestTag?, retry: Bool, forwarded: Bool,
                session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        guard let config else {
            server.metrics.error("no_config")
            out.error("CLUSTERDOWN chainstore: this node has no configuration from the master yet")
            return .answered
        }
        guard leaseValid else {
            server.metrics.error("no_lease")
            out.error("CLUSTERDOWN chainstore: node \(me) has no valid lease from the master; it serves nothing until it reaches the master again")
            return .answered
        }
        let keys = id.keys(args)
        let chain = config.chain(forKey: keys[0])
        for k in keys.dropFirst() where config.chain(forKey: k) != chain {
            server.metrics.error("crossslot")
            out.error("CROSSSLOT Keys in request don't belong to the same chain")
            return .answered
        }
        let replica = replicas[chain]
        let target = id.isWrite ? config.chains[chain].head : config.chains[chain].tail
        let servesHere = id.isWrite ? replica?.isHead == true : replica?.isTail == true && !awaitingBarrier(chain)
        // A forwarded request was ordered by the node it came from (and is served here or
        // refused, never sent on).
        if !forwarded, let place = servesHere ? me : target, !session.order.mayStart(chain: chain, at: place) {
            return .waiting
        }
        if id.isWrite, servesHere {
            return headWrite(id, args, tag: tag, retry: retry, chain: chain, session: session, track: !forwarded, into: &out)
        }
        if servesHere {
            server.metrics.readsServed.increment()
            do {
                try StringCommands(data: server.direct, maxValueBytes: server.config.maxValueBytes).run(id, args, &out)
            } catch {
                out.error("ERR store read failed: \(error)")
            }
            return .answered
        }
        guard !forwarded, let target, let addr = config.node(target)?.client else {
            // A forwarded request reached a node that no longer serves it: the configuration
            // changed on the way. The original client retries.
            server.metrics.error("tryagain")
            out.error("TRYAGAIN chainstore epoch \(config.epoch): chain \(chain) is served by \(target ?? "nobody") now; retry")
            return .answered
        }
        let slot = server.reserveSlot(for: session, chain: chain, at: target)
        var fwd: [[UInt8]] = [Wrapper.forward]
        if let tag { fwd += [retry ? Wrapper.retry : Wrapper.request, Array(String(tag.client).utf8), Array(String(tag.request).utf8)] }
        forwarder.forward(fwd + args, to: target, address: addr, slot: slot, protocolVersion: session.protocolVersion)
        return .deferred(slot)
    }

    private func headWrite(_ id: CommandID, _ args: [[UInt8]], tag: RequestTag?, retry: Bool, chain: ChainID,
                           session: ClientSession, track: Bool, into out: inout RESPWriter) -> CommandOutcome {
        if tag != nil { server.metrics.writesTagged.increment() }
        // Only a retry can have a recorded result (request ids are never reused), so first
        // attempts skip the lookup.
        if let tag, retry, let previous = recordedReply(chain: chain, tag: tag) {
            // Applied here before: answer with the first result once that update has committed
            // (this node may have applied it as a middle, before becoming head).
            server.metrics.retriesAnswered.increment()
            let token = nextToken
            nextToken += 1
            let slot = server.reserveSlot(for: session, chain: chain, at: track ? me : nil)
            waitingReplies[token] = (slot, previous.reply)
            do {
                perform(chain, try replicas[chain]!.onClientWait(seq: previous.seq, token: token))
            } catch {
                waitingReplies.removeValue(forKey: token)
                server.fillSlot(slot, bytes: Array("-TRYAGAIN chainstore: not the head of chain \(chain)\r\n".utf8))
            }
            return .deferred(slot)
        }
        if config?.chains[chain].frozen != nil {
            // The chain is draining for a reorder: no new update may start until it is published.
            server.metrics.error("frozen")
            out.error("TRYAGAIN chainstore epoch \(epoch): chain \(chain) pauses writes while its members are reordered; retry")
            return .answered
        }
        let recorder = RecordingKeyspace(server.data)
        var reply = RESPWriter(version: 2)
        do {
            try StringCommands(data: recorder, maxValueBytes: server.config.maxValueBytes).run(id, args, &reply)
        } catch {
            out.error("ERR store read failed: \(error)")
            return .answered
        }
        // Every write goes down the chain, even one that changed nothing or failed: its reply
        // depends on state that must be committed before the client may see it.
        let token = nextToken
        nextToken += 1
        let slot = server.reserveSlot(for: session, chain: chain, at: track ? me : nil)
        waitingReplies[token] = (slot, reply.bytes)
        do {
            let actions = try replicas[chain]!.onClientWrite(mutations: recorder.mutations, tag: tag, reply: reply.bytes, token: token)
            perform(chain, actions)
        } catch {
            waitingReplies.removeValue(forKey: token)
            server.fillSlot(slot, bytes: Array("-TRYAGAIN chainstore: not the head of chain \(chain)\r\n".utf8))
        }
        return .deferred(slot)
    }

    private func recordedReply(chain: ChainID, tag: RequestTag) -> (seq: UInt64, reply: [UInt8])? {
        ChainMetadata.decodeRecord(try? server.data.get(ChainMetadata.requestKey(chain, tag), cached: false), request: tag.request)
    }

    // MARK: replica actions

    func perform(_ chain: ChainID, _ actions: [ChainReplica.Action]) {
        for a in actions {
            switch a {
            case let .apply(u): apply(chain, u)
            case let .forward(to, _, u): outUpdates[to, default: [:]][chain, default: []].append(u); queueFlush()
            case let .ack(to, _, seq): outAcks[to, default: [:]][chain] = seq; queueFlush()
            case let .committed(token, _):
                guard let w = waitingReplies.removeValue(forKey: token) else { continue }
                server.metrics.writesCommitted.increment()
                server.fillSlot(w.slot, bytes: w.reply)
            case let .syncPoint(to, e, seq):
                peers.send([.barrier(epoch: e, chain: chain, seq: seq)], to: to)
            case let .abandoned(token):
                guard let w = waitingReplies.removeValue(forKey: token) else { continue }
                server.fillSlot(w.slot, bytes: Array("-TRYAGAIN chainstore: this node stopped being the head of chain \(chain) before the write committed; retry it with the same tag\r\n".utf8))
            }
        }
    }

    /// Applies an update to the store together with the chain's sequence and the client's
    /// recorded result (one batch: the DataView turn batch).
    private func apply(_ chain: ChainID, _ u: Update) {
        let data = server.data
        for m in u.mutations {
            switch m {
            case let .put(k, v): data.put(KeyLayout.dataKey(k), v)
            case let .delete(k): data.delete(KeyLayout.dataKey(k))
            }
        }
        appliedThisTurn[chain] = LogPosition(seq: u.seq, epoch: u.epoch)
        if settings.catchUpBacklogBytes > 0 {
            backlogs[chain, default: UpdateBacklog(capacityBytes: settings.catchUpBacklogBytes / max(1, config?.chains.count ?? 1))].append(u)
        }
        if let tag = u.tag {
            data.put(ChainMetadata.requestKey(chain, tag), ChainMetadata.encodeRecord(tag.request, seq: u.seq, u.reply), cached: false)
        }
        persistTrack[chain, default: []].append((data.currentSeq, u.seq))
        server.markStoreDirty()
    }

    /// Called by the server right before the turn's batch goes to the store writer.
    func beforeStoreFlush() {
        guard !appliedThisTurn.isEmpty else { return }
        for (chain, position) in appliedThisTurn {
            server.data.put(ChainMetadata.appliedKey(chain), ChainMetadata.encodePosition(position), cached: false)
        }
        appliedThisTurn.removeAll(keepingCapacity: true)
    }

    /// The store persisted everything up to data view sequence `seq`.
    func persisted(upTo seq: UInt64) {
        // Found first, trimmed after: mutating the dictionary while iterating it would copy it.
        var advanced: [(chain: ChainID, count: Int, seq: UInt64)] = []
        for (chain, track) in persistTrack where !track.isEmpty {
            var n = 0
            var chainSeq: UInt64 = 0
            while n < track.count && track[n].0 <= seq { chainSeq = track[n].1; n += 1 }
            if n > 0 { advanced.append((chain, n, chainSeq)) }
        }
        for a in advanced {
            persistTrack[a.chain]!.removeFirst(a.count)
            if replicas[a.chain] != nil { perform(a.chain, replicas[a.chain]!.onPersisted(upTo: a.seq)) }
        }
        for (chain, w) in snapshotWaits where (replicas[chain]?.persisted ?? 0) >= w.needs {
            snapshotWaits.removeValue(forKey: chain)
            startStream(chain: chain, joiner: w.joiner, transfer: w.transfer)
        }
    }

    /// Forgets the replica of a chain this node left; its data stays (dormant) with `keep`.
    private func leave(_ chain: ChainID, keep: Bool) {
        replicas.removeValue(forKey: chain)
        persistTrack.removeValue(forKey: chain)
        backlogs.removeValue(forKey: chain)
        if keep { dormant.insert(chain) } else if let config { dropChainData(chain, config: config) }
    }

    /// Where this node's copy of a chain ends, as recorded with its data (pending writes included).
    func storedPosition(_ chain: ChainID) -> LogPosition {
        ChainMetadata.decodePosition(try? server.data.get(ChainMetadata.appliedKey(chain), cached: false))
    }

    // MARK: peers

    func receive(_ frame: PeerFrame, from peer: NodeID) {
        switch frame {
        case let .updates(e, chain, updates):
            if e > epoch { early.append((peer, frame)); masterLink.wakeWatch(); return }
            if joins[chain] != nil, replicas[chain] == nil {
                // Chain updates are the chain's history whatever the epoch they travelled in.
                if peer == joins[chain]!.tail { joins[chain]!.buffered += updates }
                return
            }
            guard replicas[chain] != nil else { return }
            perform(chain, replicas[chain]!.onUpdates(from: peer, epoch: e, updates))
        case let .syncRequest(e, chain, transfer, have):
            if e > epoch { early.append((peer, frame)); masterLink.wakeWatch(); return }
            syncRequested(chain: chain, by: peer, transfer: transfer, have: have)
        case let .syncChunk(_, chain, transfer, snap, entries, last):
            // Epochs move on for other chains during a transfer; the transfer id is what counts.
            chunkReceived(chain: chain, from: peer, transfer: transfer, snapshot: snap, entries: entries, last: last)
        case let .syncSuffix(_, chain, transfer, after, updates, last):
            suffixReceived(chain: chain, from: peer, transfer: transfer, after: after, updates: updates, last: last)
        case let .barrier(e, chain, seq):
            if e > epoch { early.append((peer, frame)); masterLink.wakeWatch(); return }
            if barriers[chain]?.oldTail == peer { barriers[chain]!.seq = seq }
            // From the tail to its joiner: the sync point (see `ChainReplica.syncPoint`).
            if joins[chain]?.tail == peer && joins[chain]!.syncSeq == nil { joins[chain]!.syncSeq = seq }
        case let .ack(e, chain, seq):
            if e > epoch { early.append((peer, frame)); masterLink.wakeWatch(); return }
            guard replicas[chain] != nil else { return }
            perform(chain, replicas[chain]!.onAck(from: peer, epoch: e, seq: seq))
        default:
            break
        }
    }

    /// Sends again what a chain has waited on for a whole check interval (`onStallCheck`).
    func checkStalls() {
        for chain in Array(replicas.keys) { perform(chain, replicas[chain]!.onStallCheck()) }
    }

    /// A link to `peer` (re)opened: frames in flight may have been lost, so resend what it may
    /// be missing — unacknowledged updates if it is our successor, our acknowledgement if it is
    /// our predecessor.
    func linkUp(_ peer: NodeID) {
        // A transfer waiting for this link asks now; one interrupted by a broken link starts over.
        for (chain, j) in joins where j.tail == peer && !j.complete {
            if j.requested { startJoin(chain: chain, tail: peer, epoch: j.epoch) } else { requestSnapshot(chain) }
        }
        for (chain, r) in replicas {
            if r.successor == peer {
                for u in r.unacked { outUpdates[peer, default: [:]][chain, default: []].append(u) }
            }
            if r.predecessor == peer && r.reported > 0 { outAcks[peer, default: [:]][chain] = r.reported }
            if r.joiner == peer, let seq = r.syncPoint { peers.send([.barrier(epoch: epoch, chain: chain, seq: seq)], to: peer) }
        }
        queueFlush()
    }

    private func queueFlush() {
        guard !flushQueued else { return }
        flushQueued = true
        server.loop.atEndOfTurn { [unowned self] in flushFrames() }
    }

    /// Sends the turn's frames: all frames for one peer go out in one write.
    private func flushFrames() {
        flushQueued = false
        let e = epoch
        var frames: [NodeID: [PeerFrame]] = [:]
        for (peer, chains) in outUpdates {
            for (chain, updates) in chains { frames[peer, default: []].append(.updates(epoch: e, chain: chain, updates)) }
        }
        for (peer, chains) in outAcks {
            for (chain, seq) in chains { frames[peer, default: []].append(.ack(epoch: e, chain: chain, seq: seq)) }
        }
        for (peer, fs) in frames { peers.send(fs, to: peer) }
        outUpdates.removeAll(keepingCapacity: true)
        outAcks.removeAll(keepingCapacity: true)
    }

    // MARK: reporting

    /// Peers this node exchanges chain frames with (neighbours, its joiner, the tails it joins
    /// from) whose link has been down for three quarters of a lease, with for how long (a blip
    /// of a few hundred ms can keep a TCP link down for a while: retransmission backoff, the
    /// redial): the master takes one
    /// of two live nodes that cannot reach each other out of their chains (it checks that the
    /// peer is alive, so a dead peer is not mistaken for a cut). A shorter blip is not reported.
    func unreachablePeers() -> [(peer: NodeID, downMs: Int)] {
        var needed: Set<NodeID> = []
        for r in replicas.values {
            for p in [r.predecessor, r.successor, r.isTail ? r.joiner : nil] { if let p { needed.insert(p) } }
        }
        for j in joins.values where !j.complete { needed.insert(j.tail) }
        let now = monotonicMillis()
        for p in Array(linkDownSince.keys) where !needed.contains(p) || peers.isReady(p) { linkDownSince.removeValue(forKey: p) }
        var out: [(peer: NodeID, downMs: Int)] = []
        for p in needed.sorted() where !peers.isReady(p) {
            // A peer needed only since now gets a lease to be dialled first (a busy host at
            // start-up, a join): only a link that was up, or had its chance, counts as cut.
            let since = linkDownSince[p] ?? (neededPeers.contains(p) ? now : now + leaseMs)
            linkDownSince[p] = since
            if now >= since && now - since >= leaseMs * 3 / 4 { out.append((p, Int(now - since))) }
        }
        neededPeers = needed
        return out
    }

    var progress: [MasterAPI.ChainProgress] {
        var out = replicas.values.sorted { $0.chain < $1.chain }.map { r in
            let join = joins[r.chain]
            return MasterAPI.ChainProgress(
                id: r.chain, role: r.role.rawValue, applied: r.applied, committed: r.committed,
                linked: [r.predecessor, r.successor].compactMap { $0 }.allSatisfy(peers.isReady),
                synced: join.map { $0.synced(persisted: r.persisted) },
                transferred_bytes: join?.bytes)
        }
        for (chain, j) in joins where replicas[chain] == nil {
            out.append(MasterAPI.ChainProgress(id: chain, role: "joining", applied: 0, committed: 0,
                                               linked: peers.isReady(j.tail), synced: false, transferred_bytes: j.bytes))
        }
        return out
    }
}

/// Monotonic milliseconds (leases only; the protocol logic itself never reads a clock).
func monotonicMillis() -> UInt64 { monotonicNanos() / 1_000_000 }
