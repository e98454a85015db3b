import Foundation
import ChainCore
import ChainWire
import EventLoop
import RESP
import Storage

/// The cluster side of a storage node, on the event loop: it feeds the node's pure core
/// (`NodeCore`: configuration, lease, replicas, joins, routing) with what happens — frames,
/// configurations, lease replies, store completions, client requests, links up and down — and
/// carries out the core's effects: store writes, frames batched per peer per turn, replies.
/// It decides nothing about the protocol itself.
final class ChainNode {
    /// Held strongly, like a client session's: an `unowned` reference costs a checked retain
    /// and a release on every use (several per update). The server and its node live as long
    /// as the process, so the cycle is never meant to end.
    let server: Server
    let me: NodeID
    let settings: ClusterSettings
    private(set) var core: NodeCore
    var peers: PeerLinks!
    var forwarder: Forwarder!
    var masterLink: MasterLink!
    /// The core's effects not carried out yet (one buffer, reused every call).
    private var effects = NodeCore.Effects()
    /// `execute`'s emptied list, kept for its storage.
    private var spareEffects = NodeCore.Effects()
    private var executing = false
    /// Head: replies waiting for their update to commit, by token.
    private var waitingReplies = SequenceTable<(slot: UInt64, reply: [UInt8])>()
    private var nextToken: UInt64 = 1
    /// Per chain: (data view sequence, chain sequence) of applied updates not yet persisted.
    private var persistTrack = ChainIndexed<[(UInt64, UInt64)]>()
    /// (`persisted(upTo:)`'s list of chains that advanced, kept to reuse its storage.)
    private var advanced: [(chain: ChainID, count: Int, seq: UInt64)] = []
    /// Frames produced this turn, coalesced per peer and chain, sent at the end of the turn.
    /// One entry per peer that was sent frames last turn or this one (a handful, found by
    /// comparing names: hashing the peer's name for every update cost more).
    private var outbox: [PeerOutbox] = []
    private var flushQueued = false
    /// Made once (a closure per call is a context allocation every turn).
    private lazy var flushHandler: () -> Void = { [unowned self] in flushFrames() }
    /// Age of the oldest uncommitted update per chain, sampled every 100 ms (`/metrics`).
    private var lag = ReplicationLag()
    /// Snapshot streams running from here (tail side), by chain.
    var streams: [ChainID: SnapshotStream] = [:]
    /// Shared by every snapshot stream this node sends (`--transfer-rate-mb`).
    lazy var throttle = TransferThrottle(bytesPerSecond: settings.transferRate)
    /// Tails with a joiner: (data view sequence, chain sequence) of updates applied here whose
    /// commit is not known yet (`NodeCore.readableUpTo`).
    private var tailTrack: [ChainID: [(UInt64, UInt64)]] = [:]
    /// Chains that applied updates this turn, with where their history now ends: written once
    /// per turn (`beforeStoreFlush`), in the same batch as the updates.
    private var appliedThisTurn = ChainIndexed<LogPosition>()
    /// The chains set in `appliedThisTurn`, in the order they were first applied to.
    private var appliedChains: [ChainID] = []
    /// The key the request being handled was routed by, with its slot (`dataKey`).
    private var routedKey: (key: [UInt8], slot: Int)?
    /// Chain positions and request records, with the store's turn entries behind them.
    let turnLog: TurnLog
    /// Client writes waiting for their chain's reorder to finish.
    let frozenHolds = FrozenWriteHolds()
    /// Sessions whose read waits for this node, a new tail, to get its old tail's barrier.
    var barrierReads: [ClientSession] = []

    init(server: Server, me: NodeID, settings: ClusterSettings) {
        self.server = server
        self.me = me
        self.settings = settings
        self.core = NodeCore(me: me, backlogBytes: settings.catchUpBacklogBytes)
        self.turnLog = TurnLog(store: server.data.store)
        if let error = turnLog.loadError {
            server.logger.error("could not read the chain positions and request records from the store; starting without them", metadata: ["error": "\(error)"])
        }
        if turnLog.damagedEntries > 0 {
            server.logger.warning("skipped damaged turn entries in the store", metadata: ["count": "\(turnLog.damagedEntries)"])
        }
    }

    var config: Configuration? { core.config }
    var replicas: ReplicaTable { core.replicas }
    var epoch: Epoch { core.epoch }
    var leaseMs: UInt64 { core.leaseMs }
    var leaseUntilMs: UInt64 { core.leaseUntil }
    var leaseValid: Bool { core.leaseValid(at: monotonicMillis()) }
    var outage: NodeCore.Outage? { core.outage(at: monotonicMillis()) }
    var unready: NodeCore.Unready? { core.unready(at: monotonicMillis()) }

    /// Runs one input of the core and carries out its effects.
    private func run(_ input: (inout NodeCore, inout NodeCore.Effects) -> Void) {
        input(&core, &effects)
        execute()
    }

    private func execute() {
        // An effect's execution never feeds the core again synchronously today; should one, its
        // effects join `effects` and run in this loop's next round.
        guard !executing else { return }
        executing = true
        // Effects are moved out of the list (`EffectList.drain`) and their payloads out of the
        // effect (`carryOut` consumes it), not copied and destroyed: reading `effects[i]` copied
        // every effect (callgrind: 48.7k against 49.1k instructions a write at one chain, 65.5k
        // against 66.5k at 12). The list is taken whole — effects added meanwhile start a new
        // one, run next round — and its storage kept for the next call.
        while !effects.isEmpty {
            var list = NodeCore.Effects()
            swap(&list, &spareEffects)
            swap(&list, &effects)
            list.drain { carryOut($0) }
            spareEffects = list
        }
        executing = false
        if !tailTrack.isEmpty { trimTailTrack() }
        if !barrierReads.isEmpty { wakeBarrierReads() }
    }

    /// The last data view sequence that replies may depend on as far as commits go: just below
    /// the first update a tail holds that is not committed yet (nil: no such update).
    var readFloor: UInt64? {
        var floor: UInt64?
        for (chain, track) in tailTrack {
            guard let limit = core.readableUpTo(chain), let first = track.first(where: { $0.1 > limit }) else { continue }
            floor = min(floor ?? .max, first.0 - 1)
        }
        return floor
    }

    /// Forgets what has committed; replies held for it may go.
    private func trimTailTrack() {
        for chain in Array(tailTrack.keys) {
            guard let r = core.replicas[chain], r.isTail, r.joiner != nil else {
                tailTrack.removeValue(forKey: chain)
                continue
            }
            let done = tailTrack[chain]!.prefix { $0.1 <= r.committed }.count
            if done > 0 { tailTrack[chain, default: []].removeFirst(done) }
        }
        server.releaseHeldReplies()
    }

    // MARK: the master

    func renewLease(untilMs: UInt64, leaseMs: Int) { run { $0.renewLease(until: untilMs, leaseMs: leaseMs, now: monotonicMillis(), &$1) } }

    func install(_ new: Configuration) {
        guard new.epoch > epoch else { return }
        let old = core.config
        // A new node's positions come from the store the first time it learns the chains.
        if old == nil { core.recover(positions: Dictionary(uniqueKeysWithValues: new.chains.map { ($0.id, storedPosition($0.id)) })) }
        core.install(new, now: monotonicMillis(), &effects)
        // Links and forwarding learn the configuration before the effects go out.
        peers.configure(new, previous: old)
        // Outbox entries of peers with nothing queued go, buffers and all (a peer that is still
        // a neighbour gets a fresh one with its next frame).
        outbox.removeAll { $0.isEmpty }
        forwarder.configure(new)
        execute()
        masterLink.update(knownEpoch: new.epoch)
        masterLink.installed(new)
        wakeFrozenWrites()
        server.wakeReroutes()
    }

    // MARK: client requests

    /// Serves a data command here, or forwards it to the node that serves it. Returns a slot
    /// when the reply comes later.
    func handle(_ id: CommandID, _ args: [[UInt8]], tag: RequestTag?, retry: Bool, forwarded: Bool,
                session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        // (Most commands name one key, the first argument: no array of keys for them.)
        let keys = id.hasOneKey ? [] : id.keys(args)
        let key = id.hasOneKey ? args[1] : keys[0]
        let keySlot = HashSlot.of(key)
        // The configuration is read in place: binding it copied it for every request.
        guard let chain = core.chain(forSlot: keySlot) else { return refuse(.noConfiguration, into: &out) }
        routedKey = (key, keySlot)
        defer { routedKey = nil }
        for k in keys.dropFirst() where core.chain(forSlot: HashSlot.of(k)) != chain {
            server.metrics.error("crossslot")
            out.error("CROSSSLOT Keys in request don't belong to the same chain")
            return .answered
        }
        if forwarded, refusedBefore(chain, session: session, into: &out) { return .answered }
        var unplaced = CommandOutcome.answered
        guard let place = place(chain: chain, write: id.isWrite, forwarded: forwarded, session: session, outcome: &unplaced, into: &out) else {
            return unplaced
        }
        // A forwarded request was ordered by the node it came from.
        if !forwarded, !session.order.mayStart(chain: chain, at: place) { return .waiting }
        // (A forwarded write was held where the client sent it.)
        if id.isWrite, !forwarded, let held = holdIfFrozen(chain, session: session, into: &out) { return held }
        if place == me {
            if id.isWrite { return headWrite(id, args, tag: tag, retry: retry, chain: chain, session: session, track: !forwarded, into: &out) }
            server.metrics.readsServed.increment()
            do {
                try StringCommands(data: server.direct, maxValueBytes: server.config.maxValueBytes).run(id, args, &out)
            } catch {
                out.error(error.reply)
            }
            return .answered
        }
        guard let addr = core.config?.node(place)?.client else { return refuse(.notServedHere(chain: chain, by: place), into: &out) }
        let slot = server.reserveSlot(for: session, chain: chain, at: place)
        var fwd: [[UInt8]] = [Wrapper.forward]
        if let tag { fwd += [retry ? Wrapper.retry : Wrapper.request, Array(String(tag.client).utf8), Array(String(tag.request).utf8)] }
        forwarder.forward(fwd + args, to: place, address: addr, slot: slot, protocolVersion: session.protocolVersion)
        return .deferred(slot)
    }

    /// Empties `chain` as one update at its head (`FLUSHALL`); elsewhere forwarded there.
    func clearChain(_ chain: ChainID, session: ClientSession, forwarded: Bool, into out: inout RESPWriter) -> CommandOutcome {
        guard let config = core.config, config.chains.indices.contains(chain) else {
            out.error("ERR no chain \(chain) in the current configuration")
            return .answered
        }
        switch core.route(chain: chain, write: true, forwarded: forwarded, now: monotonicMillis()) {
        case let .refuse(why): return refuse(why, into: &out)
        case .wait:
            waitForBarrier(session)
            return .waiting
        case let .forward(target):
            guard let addr = config.node(target)?.client else { return refuse(.notServedHere(chain: chain, by: target), into: &out) }
            let slot = server.reserveSlot(for: session)
            forwarder.forward([Wrapper.forward, Wrapper.clearChain, Array(String(chain).utf8)], to: target, address: addr, slot: slot,
                              protocolVersion: session.protocolVersion)
            return .deferred(slot)
        case .serve:
            if core.writesFrozen(chain) {
                out.error("TRYAGAIN chainstore epoch \(epoch): chain \(chain) pauses writes while its members are reordered; retry")
                return .answered
            }
            let ok = Array("+OK\r\n".utf8)
            return awaitCommit(chain: chain, session: session, track: !forwarded, reply: ok) { core, token, effects throws(ChainReplica.Rejection) in
                try core.clientWrite(chain: chain, mutations: [.clearChain], tag: nil, reply: ok, token: token, &effects)
            }
        }
    }

    /// A forwarded request for `chain` behind one this connection had refused (`ForwardingSession`):
    /// refused too, after writing the refusal.
    private func refusedBefore(_ chain: ChainID, session: ClientSession, into out: inout RESPWriter) -> Bool {
        guard let f = session.forwarding, f.mustRefuse(chain) else { return false }
        server.metrics.error("tryagain")
        out.error(ForwardRefusal.refusedBefore.text(epoch: epoch, chain: chain))
        return true
    }

    private func refuse(_ why: NodeCore.Refusal, into out: inout RESPWriter) -> CommandOutcome {
        switch why {
        case .noConfiguration:
            server.metrics.error("no_config")
            out.error("CLUSTERDOWN chainstore: this node has no configuration from the master yet")
        case .noLease:
            server.metrics.error("no_lease")
            out.error("CLUSTERDOWN chainstore: node \(me) has no valid lease from the master; it serves nothing until it reaches the master again")
        case let .notServedHere(chain, by):
            // A forwarded request reached a node that no longer serves it: the configuration
            // changed on the way. The original client retries.
            server.metrics.error("tryagain")
            out.error(ForwardRefusal.notServedHere(by: by).text(epoch: epoch, chain: chain))
        }
        return .answered
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
            return awaitCommit(chain: chain, session: session, track: track, reply: previous.reply) { core, token, effects throws(ChainReplica.Rejection) in
                try core.clientWait(chain: chain, seq: previous.seq, token: token, &effects)
            }
        }
        if core.writesFrozen(chain) {
            // Only a forwarded write gets here (a client's own waits in `holdIfFrozen`): the
            // chain froze after the node it came from sent it on.
            server.metrics.error("frozen")
            session.forwarding?.refusedRequest(for: chain)
            out.error(ForwardRefusal.frozen.text(epoch: epoch, chain: chain))
            return .answered
        }
        let mutations: Mutations
        let bytes: [UInt8]
        if let put = StringCommands.plainSet(id, args, mayHoldHashes: server.data.mayHoldHashes) {
            mutations = Mutations(put)
            bytes = RESPWriter.okReply
        } else {
            let recorder = RecordingKeyspace(server.data)
            var reply = RESPWriter(version: 2)
            do {
                try StringCommands(data: recorder, maxValueBytes: server.config.maxValueBytes).run(id, args, &reply)
            } catch {
                out.error(error.reply)
                return .answered
            }
            mutations = recorder.mutations
            bytes = reply.bytes
        }
        // Every write goes down the chain, even one that changed nothing or failed: its reply
        // depends on state that must be committed before the client may see it.
        if mutations.contains(where: Self.setsExpiry) { server.expirySweeper.wake(chain) }
        return awaitCommit(chain: chain, session: session, track: track, reply: bytes) { core, token, effects throws(ChainReplica.Rejection) in
            try core.clientWrite(chain: chain, mutations: mutations, tag: tag, reply: bytes, token: token, &effects)
        }
    }

    private static func setsExpiry(_ m: Mutation) -> Bool {
        switch m {
        case let .put(_, value): return (value.first ?? 0) & 1 == 1
        case let .putPair(kv): return (kv.value.first ?? 0) & 1 == 1
        default: return false
        }
    }

    /// Reserves the reply's slot and hands the write to the core; the slot is filled with `reply`
    /// when the core says the write committed.
    private func awaitCommit(chain: ChainID, session: ClientSession, track: Bool, reply: [UInt8],
                             _ submit: (inout NodeCore, UInt64, inout NodeCore.Effects) throws(ChainReplica.Rejection) -> Void) -> CommandOutcome {
        let token = nextToken
        nextToken += 1
        let slot = server.reserveSlot(for: session, chain: chain, at: track ? me : nil)
        waitingReplies.insert((slot, reply), at: token)
        do {
            try submit(&core, token, &effects)
        } catch {
            effects.removeAll()
            waitingReplies.removeValue(forKey: token)
            server.fillSlot(slot, bytes: Array("-TRYAGAIN chainstore: not the head of chain \(chain)\r\n".utf8))
        }
        execute()
        return .deferred(slot)
    }

    /// The node a request for `chain` runs at (this one or another); nil when none may serve it
    /// now, with `outcome` set: refused (the refusal written to `out`), or waiting for a barrier.
    private func place(chain: ChainID, write: Bool, forwarded: Bool, session: ClientSession, outcome: inout CommandOutcome,
                       into out: inout RESPWriter) -> NodeID? {
        switch core.route(chain: chain, write: write, forwarded: forwarded, now: monotonicMillis()) {
        case let .refuse(why):
            if forwarded, case .notServedHere = why { session.forwarding?.refusedRequest(for: chain) }
            outcome = refuse(why, into: &out)
            return nil
        case .wait:
            waitForBarrier(session)
            outcome = .waiting
            return nil
        case .serve: return me
        case let .forward(target): return target
        }
    }

    /// The chain all of `keys` belong to, or nil (after writing `-CROSSSLOT`) if they span chains.
    private func chain(of keys: [[UInt8]], _ config: Configuration, into out: inout RESPWriter) -> ChainID? {
        let chain = config.chain(forKey: keys[0])
        for k in keys.dropFirst() where config.chain(forKey: k) != chain {
            server.metrics.error("crossslot")
            out.error("CROSSSLOT Keys in request don't belong to the same chain")
            return nil
        }
        return chain
    }

    /// `EXEC`: runs the transaction if this node is the head of its keys' chain, or forwards it
    /// there (`CS.EXEC`).
    func handleTransaction(_ request: TransactionRequest, session: ClientSession, forwarded: Bool,
                           into out: inout RESPWriter) -> CommandOutcome {
        guard let config = core.config else { return refuse(.noConfiguration, into: &out) }
        let keys = request.keys
        guard !keys.isEmpty else {
            out.error("ERR a transaction needs at least one key")
            return .answered
        }
        guard let chain = chain(of: keys, config, into: &out) else { return .answered }
        if forwarded, refusedBefore(chain, session: session, into: &out) { return .answered }
        var unplaced = CommandOutcome.answered
        guard let place = place(chain: chain, write: true, forwarded: forwarded, session: session, outcome: &unplaced, into: &out) else {
            return unplaced
        }
        if !forwarded, !session.order.mayStart(chain: chain, at: place) { return .waiting }
        if !forwarded, let held = holdIfFrozen(chain, session: session, into: &out) { return held }
        guard place == me else {
            guard let addr = core.config?.node(place)?.client else { return refuse(.notServedHere(chain: chain, by: place), into: &out) }
            let slot = server.reserveSlot(for: session, chain: chain, at: place)
            forwarder.forward([Wrapper.forward] + request.encoded, to: place, address: addr, slot: slot, protocolVersion: session.protocolVersion)
            return .deferred(slot)
        }
        if core.writesFrozen(chain) {
            server.metrics.error("frozen")
            session.forwarding?.refusedRequest(for: chain)
            out.error(ForwardRefusal.frozen.text(epoch: epoch, chain: chain))
            return .answered
        }
        let aborted = request.broken
            || request.token.map { server.watchTable.mustAbort(chain: chain, keys: request.watched, since: $0, epoch: epoch) } ?? false
        let recorder = RecordingKeyspace(server.data)
        var reply = RESPWriter(version: 2)
        Server.runTransaction(request, on: recorder, aborted: aborted, maxValueBytes: server.config.maxValueBytes, into: &reply)
        if recorder.mutations.contains(where: Self.setsExpiry) { server.expirySweeper.wake(chain) }
        // One update for the whole transaction: every replica applies all of it or none.
        let bytes = reply.bytes
        return awaitCommit(chain: chain, session: session, track: !forwarded, reply: bytes) { core, token, effects throws(ChainReplica.Rejection) in
            try core.clientWrite(chain: chain, mutations: recorder.mutations, tag: nil, reply: bytes, token: token, &effects)
        }
    }

    /// `WATCH key…`: a token from the head of the keys' chain (this node, or over `CS.WATCH`).
    func watch(_ keys: [[UInt8]], session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        guard let config = core.config else { return refuse(.noConfiguration, into: &out) }
        guard let chain = chain(of: keys, config, into: &out) else { return .answered }
        var unplaced = CommandOutcome.answered
        guard let place = place(chain: chain, write: true, forwarded: false, session: session, outcome: &unplaced, into: &out) else {
            return unplaced
        }
        if !session.order.mayStart(chain: chain, at: place) { return .waiting }
        if place == me {
            session.watch.add(keys, server.watchTable.token(epoch: epoch, committed: core.replicas[chain]?.committed ?? 0))
            out.ok()
            return .answered
        }
        guard let addr = core.config?.node(place)?.client else { return refuse(.notServedHere(chain: chain, by: place), into: &out) }
        let clientSlot = server.reserveSlot(for: session, chain: chain, at: place)
        let sub = server.reserveInternalSlot { [unowned self, weak session] reply in
            // `+incarnation:epoch:counter`, or an error passed on to the client.
            if reply.first == UInt8(ascii: "+"), reply.count > 3,
               let token = WatchTable.Token(text: String(decoding: reply[1..<(reply.count - 2)], as: UTF8.self)) {
                session?.watch.add(keys, token)
                server.fillSlot(clientSlot, bytes: Array("+OK\r\n".utf8))
            } else {
                server.fillSlot(clientSlot, bytes: reply)
            }
        }
        forwarder.forward([Wrapper.forward, Wrapper.watch] + keys, to: place, address: addr, slot: sub, protocolVersion: 2)
        return .deferred(clientSlot)
    }

    /// `CS.WATCH key…` arriving at what should be the keys' head.
    func watchToken(_ keys: [[UInt8]], into out: inout RESPWriter) {
        guard let config = core.config else { _ = refuse(.noConfiguration, into: &out); return }
        guard let chain = chain(of: keys, config, into: &out) else { return }
        guard core.route(chain: chain, write: true, forwarded: true, now: monotonicMillis()) == .serve else {
            out.error("TRYAGAIN chainstore epoch \(epoch): this node is not the head of chain \(chain); WATCH again")
            return
        }
        out.simple(server.watchTable.token(epoch: epoch, committed: core.replicas[chain]?.committed ?? 0).text)
    }

    /// Chains this node heads now, with their slots: their expired keys are its to delete.
    var headedChains: [(chain: ChainID, slots: Range<Int>)] {
        guard let config = core.config else { return [] }
        return core.replicas.values.filter(\.isHead).map { ($0.chain, config.slots(of: $0.chain)) }.sorted { $0.chain < $1.chain }
    }

    /// A write the node makes itself (the expiry sweep's deletes): `build` records mutations
    /// against the chain's current data as the head sees it at `now`, and they commit down the
    /// chain like a client's update. `done` learns whether they committed (true also when there
    /// was nothing to write), false when this node is not the chain's serving head or the write
    /// was abandoned.
    func internalWrite(chain: ChainID, now: UInt64, _ build: (RecordingKeyspace) throws(CommandError) -> Void,
                       done: @escaping (Bool) -> Void) {
        guard core.route(chain: chain, write: true, forwarded: true, now: monotonicMillis()) == .serve, !core.writesFrozen(chain) else {
            return done(false)
        }
        let recorder = RecordingKeyspace(server.data, nowMs: now)
        do { try build(recorder) } catch { return done(false) }
        guard !recorder.mutations.isEmpty else { return done(true) }
        let ok = Array("+OK\r\n".utf8)
        let token = nextToken
        nextToken += 1
        let slot = server.reserveInternalSlot { reply in done(reply == ok) }
        waitingReplies.insert((slot, ok), at: token)
        do {
            try core.clientWrite(chain: chain, mutations: recorder.mutations, tag: nil, reply: ok, token: token, &effects)
        } catch {
            effects.removeAll()
            waitingReplies.removeValue(forKey: token)
            server.fillSlot(slot, bytes: Array("-TRYAGAIN\r\n".utf8))
        }
        execute()
    }

    private func recordedReply(chain: ChainID, tag: RequestTag) -> (seq: UInt64, reply: [UInt8])? {
        if let r = turnLog.recorded(chain: chain, tag: tag) { return (r.seq, r.reply) }
        // A record made before turn entries existed, under its own key.
        return ChainMetadata.decodeRecord(try? server.data.get(ChainMetadata.requestKey(chain, tag)), request: tag.request)
    }

    /// Whether this node serves reads of `chain` now (a chain scan asks).
    func servesReads(_ chain: ChainID) -> Bool {
        core.route(chain: chain, write: false, forwarded: true, now: monotonicMillis()) == .serve
    }

    // MARK: the core's effects

    private func carryOut(_ effect: consuming NodeCore.Effect) {
        switch consume effect {
        case let .apply(chain, u): apply(chain, u)
        case let .forward(to, chain, update):
            outbox[outboxIndex(to)].add(update, chain: chain)
            queueFlush()
        case let .send(to, .updates(_, chain, updates)):
            outbox[outboxIndex(to)].add(contentsOf: updates, chain: chain)
            queueFlush()
        case let .send(to, .ack(_, chain, seq)):
            outbox[outboxIndex(to)].ack(seq, chain: chain)
            queueFlush()
        case let .send(to, message):
            peers.send([PeerFrame(message)], to: to)
        case let .committed(token):
            guard let w = waitingReplies.removeValue(forKey: token) else { return }
            server.fillSlot(w.slot, bytes: w.reply)
        case let .abandoned(token, chain):
            guard let w = waitingReplies.removeValue(forKey: token) else { return }
            server.fillSlot(w.slot, bytes: Array("-TRYAGAIN chainstore: this node stopped being the head of chain \(chain) before the write committed; retry it with the same tag\r\n".utf8))
        case let .left(chain):
            persistTrack.removeValue(forKey: chain)
            lag.forget(chain)
        case let .dropData(chain): dropChainData(chain)
        case let .storeEntries(_, entries):
            for (k, v) in entries {
                // A request record copied from the tail joins this node's records.
                if k.first == KeyLayout.recordTag {
                    if let (chain, client) = KeyLayout.recordKeyParts(k), let request = ChainMetadata.recordedRequest(v),
                       let r = ChainMetadata.decodeRecord(v, request: request) {
                        turnLog.record(chain: chain, tag: RequestTag(client: client, request: request), seq: r.seq, reply: r.reply)
                    }
                    continue
                }
                server.data.put(k, v)
            }
            server.markStoreDirty()
        case let .storePosition(chain, position):
            turnLog.setPosition(chain, position)
            server.markStoreDirty()
        case let .startStream(chain, joiner, transfer): startStream(chain: chain, joiner: joiner, transfer: transfer)
        case let .cancelStream(chain): streams.removeValue(forKey: chain)?.cancel()
        case let .storeConfiguration(config):
            // Kept in the store (same turn batch as the data changes it caused) so that a master
            // that lost its state can recover the table from the nodes.
            if let json = try? JSONEncoder().encode(config) {
                server.data.put(ChainMetadata.configKey, Array(json))
                server.markStoreDirty()
            }
        case .askMaster: masterLink.wakeWatch()
        case let .count(counter): count(counter)
        case let .log(message, metadata): server.logger.notice("\(message)", metadata: metadata.mapValues { "\($0)" })
        }
    }

    private func count(_ counter: NodeCore.Counter) {
        switch counter {
        case .writesCommitted: server.metrics.writesCommitted.increment()
        case .joinsStarted: server.metrics.joinsStarted.increment()
        case .catchUpSnapshot: server.metrics.catchUpSnapshot.increment()
        case .catchUpSuffix: server.metrics.catchUpSuffix.increment()
        case .transferForeignKey: server.metrics.error("transfer_foreign_key")
        }
    }

    /// Applies an update to the store together with the client's recorded result (one batch:
    /// the DataView turn batch); the chain's position follows once per turn.
    private func apply(_ chain: ChainID, _ u: Update) {
        let data = server.data
        let replica = core.standing(chain)
        // The head reads its keys (read-modify-write commands), the tail serves them: what they
        // cache (a key is cached by its first read) is kept current. A middle member does
        // neither, and drops what it may have cached in an earlier role.
        let cacheUse: DataView.CacheUse = replica.map { $0.isHead || $0.isTail } ?? true ? .refresh : .invalidate
        for m in u.mutations {
            switch m {
            case let .put(k, v): data.putValue(k, v, slot: routedSlot(k), cache: cacheUse)
            case let .putPair(kv): data.putValue(kv, slot: routedSlot(kv.key), cache: cacheUse)
            case let .delete(k): data.deleteValue(k, slot: routedSlot(k), cache: cacheUse)
            case .clearChain: clearChainKeys(chain)
            case let .putField(k, f, v): data.put(KeyLayout.fieldKey(k, f), v)
            case let .deleteField(k, f): data.delete(KeyLayout.fieldKey(k, f))
            }
        }
        // The head judges WATCH: it notes what its updates change.
        if server.watchTable.active, replica?.isHead ?? false {
            for m in u.mutations {
                switch m {
                case let .putPair(kv): server.watchTable.noteWrite(chain: chain, key: Array(kv.key), seq: u.seq)
                case let .put(k, _), let .delete(k), let .putField(k, _, _), let .deleteField(k, _):
                    server.watchTable.noteWrite(chain: chain, key: k, seq: u.seq)
                case .clearChain: server.watchTable.noteCleared(chain: chain, seq: u.seq)
                }
            }
        }
        if appliedThisTurn[chain] == nil { appliedChains.append(chain) }
        appliedThisTurn[chain] = LogPosition(seq: u.seq, epoch: u.epoch)
        if let tag = u.tag { turnLog.record(chain: chain, tag: tag, seq: u.seq, reply: u.reply) }
        if let r = replica, r.isTail, r.hasJoiner { tailTrack[chain, default: []].append((data.currentSeq, u.seq)) }
        server.markStoreDirty()
    }

    /// The slot of a user key if known here: the head routed the request by this very key a
    /// moment ago (`handle`), so its slot is reused rather than computed twice.
    private func routedSlot(_ key: [UInt8]) -> Int? { routedSlot(key[...]) }

    private func routedSlot(_ key: ArraySlice<UInt8>) -> Int? {
        guard let r = routedKey, r.key.withUnsafeBufferPointer({ a in key.withUnsafeBufferPointer { a.baseAddress == $0.baseAddress && a.count == $0.count } }) else { return nil }
        return r.slot
    }

    /// Deletes every user key of the chain (its request records and position stay: they describe
    /// the history, which goes on).
    private func clearChainKeys(_ chain: ChainID) {
        guard let config = core.config else { return }
        deleteSlots(config.slots(of: chain))
    }

    /// Deletes the values and hash fields of `slots`.
    private func deleteSlots(_ slots: Range<Int>) {
        for tag in KeyLayout.slotTags {
            server.data.deleteRange(from: KeyLayout.slotPrefix(slots.lowerBound, tag: tag), to: KeyLayout.slotPrefix(slots.upperBound, tag: tag))
        }
    }

    /// Deletes the chain's slot range, its request records and its position.
    private func dropChainData(_ chain: ChainID) {
        guard let config = core.config else { return }
        deleteSlots(config.slots(of: chain))
        // Records of earlier versions, under their own keys.
        server.data.deleteRange(from: KeyLayout.recordPrefix(chain: chain), to: KeyLayout.recordPrefix(chain: chain + 1))
        turnLog.drop(chain)
        appliedThisTurn.removeValue(forKey: chain)
        server.markStoreDirty()
    }

    /// Called by the server right before the turn's batch goes to the store writer.
    func beforeStoreFlush() {
        if !appliedChains.isEmpty {
            for chain in appliedChains {
                guard let position = appliedThisTurn.removeValue(forKey: chain) else { continue }
                turnLog.setPosition(chain, position)
                // The turn's updates of the chain persist together, with this batch. (A replica
                // that left this turn waits for nothing.)
                if core.standing(chain) != nil { persistTrack.update(chain, orMake: []) { $0.append((server.data.currentSeq, position.seq)) } }
            }
            appliedChains.popAll()
        }
        if let entry = turnLog.takeEntry() { server.data.putUnread(entry.key, entry.value) }
    }

    /// The store persisted everything up to data view sequence `seq`.
    func persisted(upTo seq: UInt64) {
        // Found first, trimmed after (a track read out is shared until then).
        advanced.popAll()
        for chain in persistTrack.indices {
            guard let track = persistTrack[chain], !track.isEmpty else { continue }
            var n = 0
            var chainSeq: UInt64 = 0
            while n < track.count && track[n].0 <= seq { chainSeq = track[n].1; n += 1 }
            if n > 0 { advanced.append((chain, n, chainSeq)) }
        }
        for a in advanced {
            // (Changed in place: a copy out and back would copy the track's storage.)
            // (Most often the whole track went: popped, not shifted by a generic range replacement.)
            persistTrack.update(a.chain, orMake: []) { track in
                if a.count == track.count {
                    track.popAll()
                } else {
                    track.removeFirst(a.count)
                }
            }
            core.persisted(chain: a.chain, upTo: a.seq, &effects)
        }
        execute()
    }

    /// Where this node's copy of a chain ends, as recorded with its data (pending writes included).
    func storedPosition(_ chain: ChainID) -> LogPosition { turnLog.position(chain) }

    // MARK: peers

    func receive(_ frame: PeerFrame, from peer: NodeID) {
        // The two frames of every write are made into their message in place: the optional
        // message `chainMessage` returns was destroyed through the runtime's generic enum
        // witnesses (callgrind: about 0.6k instructions a write at 12 chains). Other frames
        // are rare and go through it.
        switch frame {
        case let .updates(e, c, us):
            core.receive(.updates(epoch: e, chain: c, us), from: peer, now: monotonicMillis(), &effects)
        case let .ack(e, c, seq):
            core.receive(.ack(epoch: e, chain: c, seq: seq), from: peer, now: monotonicMillis(), &effects)
        case let .turn(e, sections):
            server.metrics.peerTurnFrames.increment()
            let now = monotonicMillis()
            for section in sections {
                switch section {
                case let .updates(c, us): core.receive(.updates(epoch: e, chain: c, us), from: peer, now: now, &effects)
                case let .ack(c, seq): core.receive(.ack(epoch: e, chain: c, seq: seq), from: peer, now: now, &effects)
                }
            }
        default:
            guard let message = frame.chainMessage else { return }
            core.receive(message, from: peer, now: monotonicMillis(), &effects)
        }
        execute()
    }

    func linkUp(_ peer: NodeID) { run { $0.linkUp(peer, &$1) } }

    func linkDown(_ peer: NodeID) { core.linkDown(peer) }

    /// Every 500 ms: sends again what a chain has waited on for a whole interval.
    func checkStalls() { run { $0.checkStalls(&$1) } }

    /// Every 100 ms: joiners with their copy but no sync point acknowledge again; barriers owed
    /// to a later tail go once this node's own wait is over; a lease that ran out is logged.
    func announceJoins() {
        let now = monotonicMillis()
        run {
            $0.watchLease(now: now, &$1)
            $0.announceJoins(&$1)
            $0.settleBarriers(now: now, &$1)
        }
        for r in core.replicas.values { lag.observe(chain: r.chain, applied: r.applied, committed: r.committed, now: now) }
    }

    /// Per chain held here, for `/metrics`: role, positions and the replication lag.
    var chainGauges: [ServerMetrics.ChainRow] {
        let now = monotonicMillis()
        return core.replicas.values.sorted { $0.chain < $1.chain }.map {
            .init(chain: $0.chain, role: $0.role, applied: $0.applied, committed: $0.committed,
                  unacked: $0.unacked.count, lagMs: lag.lagMs($0.chain, now: now))
        }
    }

    func unreachablePeers() -> [(peer: NodeID, downMs: Int)] { core.unreachablePeers(now: monotonicMillis()) }

    var progress: [MasterAPI.ChainProgress] { core.progress }

    private func queueFlush() {
        guard !flushQueued else { return }
        flushQueued = true
        server.loop.atEndOfTurn(flushHandler)
    }

    /// Sends the turn's frames: all frames for one peer go out in one write.
    private func flushFrames() {
        flushQueued = false
        let e = epoch
        // Entries stay from turn to turn, emptied in place, with their chains' buffers (those
        // of peers no longer linked go when a configuration is installed: `configure`).
        for i in outbox.indices where !outbox[i].isEmpty {
            peers.send(to: outbox[i].peer) { w, turnFrames in outbox[i].encodeFrames(epoch: e, turnFrames: turnFrames, into: &w) }
        }
    }

    /// The outbox entry of `peer`, added if it has none.
    private func outboxIndex(_ peer: NodeID) -> Int {
        if let i = outbox.firstIndex(where: { $0.peer == peer }) { return i }
        outbox.append(PeerOutbox(peer: peer))
        return outbox.count - 1
    }
}

/// Monotonic milliseconds (leases only; the protocol logic itself never reads a clock).
func monotonicMillis() -> UInt64 { monotonicNanos() / 1_000_000 }
