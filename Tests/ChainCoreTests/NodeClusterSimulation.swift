@testable import ChainCore
import LinCheck

/// A whole cluster in one seeded simulation, driving the real cores: every node is a `NodeCore`
/// (replicas, joins, lease, routing, barriers), the master is a `MasterPolicy` (heartbeats,
/// leases, failure detection, splices, joins of spare nodes, promotions). What is simulated is
/// only what the shells do: a store per node (applied at once, persisted after a random delay; a
/// read's reply waits until what it saw is persisted, as a session's held replies do), FIFO links
/// with random delays that can be cut, the master's saves, a clock, and clients.
///
/// Clients read and write a few keys through the nodes the published configuration names
/// (writes to the head, reads to the tail), retry refusals, and retry writes that time out with
/// the same tag. Every operation goes into a history that the linearizability checker judges.
/// Faults: nodes crash (and may restart with what they persisted), pause past their lease, lose
/// their link to the master or to a peer (for a while or for good), lose frames silently; an
/// operator drains and adds nodes. Invariants: the history is linearizable, no node serves a
/// chain's reads from an older configuration than one in which another node already served them
/// (two tails at once), and the live members of each chain end with the same data.
struct NodeClusterSim {
    struct Settings {
        var nodes = 5
        var initialNodes = 3
        var replication = 3
        var chains = 4
        var clients = 6
        var opsPerClient = 30
        var keys = 5
        var crashes = 1
        var pauses = 1
        var linkCuts = 1
        /// Cuts that outlast several leases: both ends report the peer and the master splices one.
        var permanentCuts = 0
        var masterCuts = 1
        /// Crashed nodes that come back with what their store had persisted.
        var restarts = 0
        /// Updates and acknowledgements lost while their link stays up (a receiver that could not
        /// place them).
        var silentDropPercent = 0
        /// Operator actions: drain one node, add one spare.
        var drains = 0
        var adds = 0
        var leaseMs: UInt64 = 300
        var heartbeatMs: UInt64 = 50
        var disabled: Set<NodeCore.Safeguard> = []
    }

    enum Reply { case written, read([UInt8]?), refused }

    /// What a client sends: a read of `key`, or a write of `write` (tagged) to it.
    struct Request {
        /// The operation's index in the history (replies name it: a late reply to an earlier
        /// operation must not complete the current one).
        var op: Int
        var key: [UInt8]
        var write: [UInt8]?
        var tag: RequestTag
    }

    enum Event {
        /// With both ends' incarnations: a frame in flight when either end restarted was lost with
        /// its connection.
        case deliver(from: NodeID, to: NodeID, NodeCore.Message, incarnations: [Int])
        case persist(NodeID, upTo: UInt64, incarnation: Int)
        case heartbeat(NodeID, incarnation: Int)
        case atMaster(NodeID, sentAt: UInt64, incarnation: Int)
        case masterReply(NodeID, sentAt: UInt64, MasterPolicy.Reply, incarnation: Int)
        case masterTick
        case saved(Int)
        case request(NodeID, client: Int, attempt: Int, Request)
        case reply(client: Int, op: Int, attempt: Int, Reply)
        case clientNext(Int)
        case clientTimeout(Int, attempt: Int)
        case crash(NodeID)
        case restart(NodeID)
        case drain(NodeID)
        case add(NodeID)
        case pause(NodeID, for: UInt64)
        case cut(NodeID, NodeID, for: UInt64)
        case heal(NodeID, NodeID)
        case cutMaster(NodeID, for: UInt64)
        case stallCheck(NodeID, incarnation: Int)
        case endTurn(NodeID)
    }

    struct Node {
        var core: NodeCore
        var alive = true
        var pausedUntil: UInt64 = 0
        var registered = false
        var masterCutUntil: UInt64 = 0
        /// The store: keys in the store's layout (data keys, request records), as applied.
        var kv: [[UInt8]: [UInt8]] = [:]
        /// Where each chain's copy in `kv` ends (recorded with the data, as the real store does).
        var storePositions: [ChainID: LogPosition] = [:]
        var ops: UInt64 = 0
        var persistedOps: UInt64 = 0
        var persistBusyUntil: UInt64 = 0
        /// Per chain: (store op, chain sequence) not persisted yet.
        var track: [ChainID: [(UInt64, UInt64)]] = [:]
        /// Tails with a joiner: (store op, chain sequence) whose commit is not known yet (as
        /// `ChainNode` keeps them: a read may not see them until they commit).
        var tailTrack: [ChainID: [(UInt64, UInt64)]] = [:]
        /// What survives a crash: the store as of `persistedOps`, and the changes after it.
        var durable: [[UInt8]: [UInt8]] = [:]
        var durablePositions: [ChainID: LogPosition] = [:]
        var durableConfig: Configuration?
        var unpersisted: [(ops: UInt64, changes: [[UInt8]: [UInt8]?], positions: [ChainID: LogPosition], config: Configuration?)] = []
        var incarnation = 0
        /// Reads waiting until what they saw is persisted.
        var heldReads: [(ops: UInt64, client: Int, op: Int, attempt: Int, value: [UInt8]?)] = []
        var tokens: [UInt64: (client: Int, op: Int, attempt: Int)] = [:]
    }

    struct Client {
        var remaining: Int
        var key: [UInt8] = []
        var write: [UInt8]?
        var tag = RequestTag(client: 0, request: 0)
        var attempt = 0
        /// Index of the operation in `history` while one is in flight.
        var op: Int?
        var order: UInt64 = 0
        /// The configuration this client routes by: refreshed from the master after a refusal or
        /// a timeout, as the smart client does, so it may be stale (and reach a deposed tail).
        var view: Configuration?
    }

    let settings: Settings
    var rng: SimRandom
    var now: UInt64 = 0
    var queue = EventQueue<Event>()
    var links = SimLinks()
    /// Updates a node's turn produced, sent as one frame per peer and chain when the turn ends,
    /// stamped with the node's epoch then (as `ChainNode.flushFrames` does).
    var outbox = TurnOutbox()
    /// Debugging: sees every effect and delivered message of one chain.
    var trace: ((String) -> Void)?
    var traceChain: ChainID = -1
    var nodes: [NodeID: Node] = [:]
    let ids: [NodeID]
    var master: MasterPolicy
    var saves: [Int] = []
    var waitingForSave: [(version: Int, node: NodeID, sentAt: UInt64, reply: MasterPolicy.Reply, incarnation: Int)] = []
    var cuts: [Set<NodeID>: UInt64] = [:]
    var clients: [Client]
    var history: [HistoryOp] = []
    var failures: [String] = []
    var nextToken: UInt64 = 1
    var reads = 0, writes = 0, joins = 0, restarts = 0, suffixCatchUps = 0, snapshotCatchUps = 0
    /// Per chain: the newest epoch in which a node served a read, and which node.
    var servedReads: [ChainID: (epoch: Epoch, node: NodeID)] = [:]

    init(seed: UInt64, _ settings: Settings) {
        self.settings = settings
        rng = SimRandom(seed: seed)
        ids = (1...settings.nodes).map { "n\($0)" }
        master = MasterPolicy(state: MasterState(replication: settings.replication, chains: settings.chains, initialNodes: settings.initialNodes),
                              settings: .init(leaseMs: Int(settings.leaseMs), heartbeatMs: Int(settings.heartbeatMs)), now: 0, leading: true)
        clients = (0..<settings.clients).map { _ in Client(remaining: settings.opsPerClient) }
        for id in ids {
            var core = NodeCore(me: id, backlogBytes: 1 << 20)
            core.disabled = settings.disabled
            var effects = NodeCore.Effects()
            for peer in ids where peer != id { core.linkUp(peer, &effects) }
            nodes[id] = Node(core: core)
        }
    }

    // MARK: running

    mutating func run() -> [String] {
        for id in ids { queue.push(UInt64(rng.below(20)), .heartbeat(id, incarnation: 0)) }
        queue.push(1, .masterTick)
        for c in clients.indices { queue.push(UInt64(200 + rng.below(50)), .clientNext(c)) }
        let span = UInt64(settings.opsPerClient) * 40
        for _ in 0..<settings.crashes { queue.push(300 + UInt64(rng.below(Int(span))), .crash(ids[rng.below(ids.count)])) }
        for _ in 0..<settings.restarts {
            let id = ids[rng.below(ids.count)]
            let at = 300 + UInt64(rng.below(Int(span)))
            queue.push(at, .crash(id))
            // Back before or after the master noticed (a quick restart, or a returning node).
            queue.push(at + UInt64(20 + rng.below(Int(3 * settings.leaseMs))), .restart(id))
        }
        for _ in 0..<settings.permanentCuts {
            let a = ids[rng.below(ids.count)], b = ids[rng.below(ids.count)]
            if a != b { queue.push(300 + UInt64(rng.below(Int(span))), .cut(a, b, for: 20 * settings.leaseMs)) }
        }
        for _ in 0..<settings.drains { queue.push(300 + UInt64(rng.below(Int(span))), .drain(ids[rng.below(ids.count)])) }
        for _ in 0..<settings.adds { queue.push(300 + UInt64(rng.below(Int(span))), .add(ids[rng.below(ids.count)])) }
        for _ in 0..<settings.pauses {
            queue.push(300 + UInt64(rng.below(Int(span))), .pause(ids[rng.below(ids.count)], for: UInt64(50 + rng.below(Int(3 * settings.leaseMs)))))
        }
        for _ in 0..<settings.linkCuts {
            let a = ids[rng.below(ids.count)], b = ids[rng.below(ids.count)]
            if a != b { queue.push(300 + UInt64(rng.below(Int(span))), .cut(a, b, for: UInt64(20 + rng.below(Int(2 * settings.leaseMs))))) }
        }
        for _ in 0..<settings.masterCuts {
            queue.push(300 + UInt64(rng.below(Int(span))), .cutMaster(ids[rng.below(ids.count)], for: UInt64(50 + rng.below(Int(3 * settings.leaseMs)))))
        }
        for id in ids { queue.push(UInt64(100 + rng.below(100)), .stallCheck(id, incarnation: 0)) }
        var steps = 0
        while let (t, e) = queue.pop() {
            now = t
            steps += 1
            if steps > 2_000_000 { failures.append("did not settle"); break }
            handle(e)
            let (ending, goingOn) = outbox.endings(&rng)
            for id in ending { endTurn(id) }
            for (id, after) in goingOn { queue.push(now + after, .endTurn(id)) }
            if clientsDone && now > 2 * span + 5000 { break }
        }
        if !clientsDone { failures.append("clients did not finish (stuck at \(now) ms)") }
        checkConvergence()
        switch LinearizabilityChecker.check(history, initial: nil) {
        case .linearizable: break
        case let .violation(key, ops, reason):
            failures.append("not linearizable on \(String(decoding: key, as: UTF8.self)): \(reason)\n" + ops.map { "  \($0)" }.joined(separator: "\n"))
        case .unknown: break
        }
        return failures
    }

    var clientsDone: Bool { clients.allSatisfy { $0.remaining == 0 && $0.op == nil } }

    /// Whether events for `node` wait (it is paused): they are handled when it resumes.
    mutating func deferred(_ node: NodeID, _ e: Event) -> Bool {
        guard let n = nodes[node], n.alive else { return true }
        if n.pausedUntil > now {
            queue.push(n.pausedUntil, e)
            return true
        }
        return false
    }

    mutating func handle(_ e: Event) {
        switch e {
        case let .deliver(from, to, message, incarnations):
            guard cuts[[from, to]] == nil, incarnations == [nodes[from]!.incarnation, nodes[to]!.incarnation], !deferred(to, e) else { return }
            if let trace { trace("\(now) \(to) receives from \(from): \(message)".prefix(400).description) }
            drive(to) { core, now, fx in core.receive(message, from: from, now: now, &fx) }
        case let .persist(id, upTo, incarnation):
            guard incarnation == nodes[id]!.incarnation, !deferred(id, e) else { return }
            persisted(id, upTo: upTo)
        case let .heartbeat(id, incarnation):
            guard incarnation == nodes[id]!.incarnation, !deferred(id, e) else { return }
            queue.push(now + settings.heartbeatMs, .heartbeat(id, incarnation: incarnation))
            guard nodes[id]!.masterCutUntil <= now else { return }
            queue.push(now + 1 + UInt64(rng.below(8)), .atMaster(id, sentAt: now, incarnation: nodes[id]!.incarnation))
        case let .atMaster(id, sentAt, incarnation):
            atMaster(id, sentAt: sentAt, incarnation: incarnation)
        case let .masterReply(id, sentAt, reply, incarnation):
            guard incarnation == nodes[id]!.incarnation, nodes[id]!.masterCutUntil <= now, !deferred(id, e) else { return }
            masterReplied(id, sentAt: sentAt, reply)
        case .masterTick:
            apply(master.onTick(now: now))
            queue.push(now + settings.heartbeatMs / 2, .masterTick)
        case let .saved(version):
            apply(master.onSaved(version))
            let ready = waitingForSave.filter { $0.version <= version }
            waitingForSave.removeAll { $0.version <= version }
            for r in ready {
                if case .lease = r.reply, let newer = master.pendingSaveVersion {
                    waitingForSave.append((newer, r.node, r.sentAt, r.reply, r.incarnation))
                } else {
                    queue.push(now + 1 + UInt64(rng.below(8)), .masterReply(r.node, sentAt: r.sentAt, r.reply, incarnation: r.incarnation))
                }
            }
        case let .request(id, c, attempt, request):
            guard !deferred(id, e) else { return }
            serve(id, client: c, attempt: attempt, request)
        case let .reply(c, op, attempt, reply):
            guard clients[c].op == op else { return }
            clientReply(c, attempt: attempt, reply)
        case let .clientNext(c):
            clientNext(c)
        case let .clientTimeout(c, attempt):
            guard clients[c].op != nil, clients[c].attempt == attempt else { return }
            if clients[c].write == nil {
                // A read that got no answer: it is left without an outcome; read again.
                clients[c].op = nil
                clients[c].remaining += 1
                clientNext(c)
            } else {
                sendAttempt(c)
            }
        case let .crash(id):
            guard nodes[id]!.alive, othersKeepEveryChain(id) else { return }
            nodes[id]!.alive = false
            outbox.drop(id)
            for peer in ids where peer != id { drive(peer) { core, _, _ in core.linkDown(id) } }
        case let .restart(id):
            guard !nodes[id]!.alive else { return }
            restart(id)
        case let .drain(id):
            apply(master.onDrain(id, now: now).1)
        case let .add(id):
            apply(master.onAdd(id, now: now).1)
        case let .pause(id, d):
            guard nodes[id]!.alive, nodes[id]!.pausedUntil <= now, othersKeepEveryChain(id) else { return }
            nodes[id]!.pausedUntil = now + d
        case let .cut(a, b, d):
            guard cuts[[a, b]] == nil else { return }
            cuts[[a, b]] = now + d
            drive(a) { core, _, _ in core.linkDown(b) }
            drive(b) { core, _, _ in core.linkDown(a) }
            queue.push(now + d, .heal(a, b))
        case let .heal(a, b):
            cuts.removeValue(forKey: [a, b])
            if nodes[a]!.alive && nodes[b]!.alive {
                drive(a) { core, _, fx in core.linkUp(b, &fx) }
                drive(b) { core, _, fx in core.linkUp(a, &fx) }
            }
        case let .cutMaster(id, d):
            guard othersKeepEveryChain(id) else { return }
            nodes[id]!.masterCutUntil = max(nodes[id]!.masterCutUntil, now + d)
        case let .endTurn(id):
            endTurn(id)
        case let .stallCheck(id, incarnation):
            guard incarnation == nodes[id]!.incarnation, !deferred(id, e) else { return }
            drive(id) { core, now, fx in
                core.watchLease(now: now, &fx)
                core.checkStalls(&fx)
                core.announceJoins(&fx)
                core.settleBarriers(now: now, &fx)
            }
            if !clientsDone { queue.push(now + 100, .stallCheck(id, incarnation: incarnation)) }
        }
    }

    /// The invariants hold while every chain keeps a member: a node may fail (crash, pause, lose
    /// the master) only while every chain has another member that is up, running and in touch
    /// with the master — one that is failing itself may be spliced out next, and the master
    /// never splices the last member, however dead.
    func othersKeepEveryChain(_ id: NodeID) -> Bool {
        guard let c = master.publishedConfig else { return false }
        return c.chains.allSatisfy { ch in
            ch.members.contains { $0 != id && nodes[$0]!.alive && nodes[$0]!.pausedUntil <= now && nodes[$0]!.masterCutUntil <= now }
        }
    }

    // MARK: nodes (the shell's part)

    /// Runs one input of a node's core and carries out its effects.
    mutating func drive(_ id: NodeID, _ input: (inout NodeCore, UInt64, inout NodeCore.Effects) -> Void) {
        guard nodes[id]!.alive else { return }
        var effects = NodeCore.Effects()
        input(&nodes[id]!.core, now, &effects)
        carryOut(id, effects)
        if !nodes[id]!.tailTrack.isEmpty { flushHeld(id) }
    }

    mutating func carryOut(_ id: NodeID, _ effects: NodeCore.Effects) {
        for e in effects {
            if let trace { trace("\(now) \(id) effect \(e)".prefix(400).description) }
            switch e {
            case let .apply(chain, u):
                var changes: [[UInt8]: [UInt8]?] = [:]
                for m in u.mutations {
                    switch m {
                    case let .put(k, v): changes[KeyLayout.dataKey(k)] = .some(v)
                    case let .delete(k): changes[KeyLayout.dataKey(k)] = .some(nil)
                    case .putPair, .clearChain, .putField, .deleteField: preconditionFailure("the simulation's clients only put and delete strings")
                    }
                }
                if let tag = u.tag { changes[Self.recordKey(chain, tag)] = .some(Self.encode(u.seq)) }
                storeOp(id, changes, positions: [chain: LogPosition(seq: u.seq, epoch: u.epoch)])
                nodes[id]!.track[chain, default: []].append((nodes[id]!.ops, u.seq))
                if let r = nodes[id]!.core.replicas[chain], r.isTail, r.joiner != nil {
                    nodes[id]!.tailTrack[chain, default: []].append((nodes[id]!.ops, u.seq))
                }
            case let .forward(to, chain, update):
                outbox.queue(from: id, to: to, chain: chain, [update])
            case let .send(to, .updates(_, chain, updates)):
                outbox.queue(from: id, to: to, chain: chain, updates)
            case let .send(to, message):
                send(id, to, message)
            case let .committed(token):
                guard let owner = nodes[id]!.tokens.removeValue(forKey: token) else { continue }
                queue.push(now + 1 + UInt64(rng.below(5)), .reply(client: owner.client, op: owner.op, attempt: owner.attempt, .written))
            case let .abandoned(token, _):
                guard let owner = nodes[id]!.tokens.removeValue(forKey: token) else { continue }
                queue.push(now + 1 + UInt64(rng.below(5)), .reply(client: owner.client, op: owner.op, attempt: owner.attempt, .refused))
            case let .left(chain):
                nodes[id]!.track.removeValue(forKey: chain)
            case let .dropData(chain):
                let slots = nodes[id]!.core.config!.slots(of: chain)
                let records = KeyLayout.recordPrefix(chain: chain)
                let doomed = Set(nodes[id]!.kv.keys).union(nodes[id]!.durable.keys).filter { Self.isData($0, in: slots) || $0.starts(with: records) }
                storeOp(id, Dictionary(uniqueKeysWithValues: doomed.map { ($0, [UInt8]?.none) }), positions: [chain: .empty])
            case let .storeEntries(_, entries):
                storeOp(id, Dictionary(entries.map { ($0.0, [UInt8]?.some($0.1)) }, uniquingKeysWith: { $1 }))
            case let .storePosition(chain, position):
                storeOp(id, [:], positions: [chain: position])
            case let .storeConfiguration(config):
                storeOp(id, [:], config: config)
            case let .startStream(chain, joiner, transfer):
                // A snapshot of the store as it is now, with the position recorded in it (as
                // the real stream reads both from one RocksDB snapshot). The core has already
                // taken in what follows this effect, so its own position may be ahead.
                let n = nodes[id]!
                let slots = n.core.config!.slots(of: chain)
                let records = KeyLayout.recordPrefix(chain: chain)
                let entries = n.kv.filter { k, _ in Self.isData(k, in: slots) || k.starts(with: records) }
                    .sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { ($0.key, $0.value) }
                joins += 1
                carryOut(id, [.send(to: joiner, .syncChunk(epoch: n.core.epoch, chain: chain, transfer: transfer,
                                                           snapshot: n.storePositions[chain] ?? .empty, entries: entries, last: true))])
            case .askMaster:
                queue.push(now + 1, .atMaster(id, sentAt: now, incarnation: nodes[id]!.incarnation))
            case .count(.catchUpSuffix): suffixCatchUps += 1
            case .count(.catchUpSnapshot): snapshotCatchUps += 1
            case .cancelStream, .count, .log:
                break
            }
        }
    }

    mutating func send(_ id: NodeID, _ to: NodeID, _ message: NodeCore.Message) {
        guard cuts[[id, to]] == nil, nodes[to]!.alive else { return }
        // (Updates and acknowledgements: what a receiver discards when it cannot place them.
        // The link itself is TCP and loses nothing while it stays up.)
        switch message {
        case .updates, .ack:
            if settings.silentDropPercent > 0 && rng.below(100) < settings.silentDropPercent { return }
        default: break
        }
        queue.push(links.arrival(from: id, to: to, now: now, maxDelay: 15, rng: &rng),
                   .deliver(from: id, to: to, message, incarnations: [nodes[id]!.incarnation, nodes[to]!.incarnation]))
    }

    /// A node's loop turn ends: its queued updates go out, one frame per peer and chain.
    mutating func endTurn(_ id: NodeID) {
        let frames = outbox.take(id)
        guard nodes[id]!.alive else { return }
        for f in frames { send(id, f.to, .updates(epoch: nodes[id]!.core.epoch, chain: f.chain, f.updates)) }
    }

    static func isData(_ k: [UInt8], in slots: Range<Int>) -> Bool {
        k.count >= KeyLayout.dataPrefixLength && k[0] == KeyLayout.dataTag && slots.contains(Int(k[1]) << 8 | Int(k[2]))
    }

    static func recordKey(_ chain: ChainID, _ tag: RequestTag) -> [UInt8] {
        KeyLayout.recordPrefix(chain: chain) + encode(tag.client) + encode(tag.request)
    }

    static func encode(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * $0)) } }

    static func decode(_ b: [UInt8]) -> UInt64 { b.reduce(0) { $0 << 8 | UInt64($1) } }

    /// One store write: applied to the store's view at once, persisted after a random delay, in
    /// order.
    mutating func storeOp(_ id: NodeID, _ changes: [[UInt8]: [UInt8]?], positions: [ChainID: LogPosition] = [:], config: Configuration? = nil) {
        for (k, v) in changes { nodes[id]!.kv[k] = v }
        nodes[id]!.storePositions.merge(positions) { $1 }
        nodes[id]!.ops += 1
        nodes[id]!.unpersisted.append((nodes[id]!.ops, changes, positions, config))
        let done = max(now, nodes[id]!.persistBusyUntil) + UInt64(1 + rng.below(10))
        nodes[id]!.persistBusyUntil = done
        queue.push(done, .persist(id, upTo: nodes[id]!.ops, incarnation: nodes[id]!.incarnation))
    }

    mutating func persisted(_ id: NodeID, upTo ops: UInt64) {
        guard ops > nodes[id]!.persistedOps else { return }
        nodes[id]!.persistedOps = ops
        let done = nodes[id]!.unpersisted.prefix { $0.ops <= ops }
        nodes[id]!.unpersisted.removeFirst(done.count)
        for op in done {
            for (k, v) in op.changes { nodes[id]!.durable[k] = v }
            nodes[id]!.durablePositions.merge(op.positions) { $1 }
            if let c = op.config { nodes[id]!.durableConfig = c }
        }
        var advanced: [(ChainID, UInt64)] = []
        for chain in nodes[id]!.track.keys.sorted() {
            let track = nodes[id]!.track[chain]!
            let n = track.prefix { $0.0 <= ops }.count
            if n > 0 {
                advanced.append((chain, track[n - 1].1))
                nodes[id]!.track[chain]!.removeFirst(n)
            }
        }
        for (chain, seq) in advanced { drive(id) { core, _, fx in core.persisted(chain: chain, upTo: seq, &fx) } }
        flushHeld(id)
    }

    /// A crashed node starts again with what its store had persisted: a new process with a new
    /// core, which registers with the configuration it had kept (the master decides whether it
    /// rejoins its chains with only the missing suffix or a snapshot).
    mutating func restart(_ id: NodeID) {
        var n = nodes[id]!
        var core = NodeCore(me: id, positions: n.durablePositions, backlogBytes: 1 << 20)
        core.disabled = settings.disabled
        var effects = NodeCore.Effects()
        for peer in ids where peer != id && nodes[peer]!.alive && cuts[[id, peer]] == nil { core.linkUp(peer, &effects) }
        n.core = core
        n.alive = true
        n.registered = false
        n.incarnation += 1
        n.kv = n.durable
        n.storePositions = n.durablePositions
        n.ops = n.persistedOps
        n.unpersisted = []
        n.track = [:]
        n.heldReads = []
        n.tokens = [:]
        n.pausedUntil = 0
        nodes[id] = n
        for peer in ids where peer != id && nodes[peer]!.alive && cuts[[id, peer]] == nil { drive(peer) { core, _, fx in core.linkUp(id, &fx) } }
        queue.push(now + 1, .heartbeat(id, incarnation: n.incarnation))
        queue.push(now + 100, .stallCheck(id, incarnation: n.incarnation))
        restarts += 1
    }

    /// A client request reaches node `id`.
    mutating func serve(_ id: NodeID, client c: Int, attempt: Int, _ cl: Request) {
        var core = nodes[id]!.core
        guard let config = core.config else { return refuse(c, cl.op, attempt) }
        let chain = config.chain(forKey: cl.key)
        let isWrite = cl.write != nil
        guard core.route(chain: chain, write: isWrite, forwarded: true, now: now) == .serve else {
            nodes[id]!.core = core
            return refuse(c, cl.op, attempt)
        }
        nodes[id]!.core = core
        if let trace { trace("\(now) \(id) serves \(isWrite ? "write" : "read") of \(String(decoding: cl.key, as: UTF8.self)) chain \(chain) epoch \(nodes[id]!.core.epoch) role \(nodes[id]!.core.replicas[chain]?.role.rawValue ?? "-") value \(nodes[id]!.kv[KeyLayout.dataKey(cl.key)].map { String(decoding: $0, as: UTF8.self) } ?? "nil") barrier \(nodes[id]!.core.barriers[chain].map { "\($0)" } ?? "-")") }
        if !isWrite {
            reads += 1
            // No two tails at once: once a node served the chain in some epoch, no other node
            // serves it from an older configuration.
            let e = nodes[id]!.core.epoch
            if let last = servedReads[chain], last.node != id, last.epoch > e {
                failures.append("two tails: \(id) served chain \(chain) in epoch \(e) after \(last.node) served it in epoch \(last.epoch)")
            }
            if e >= servedReads[chain]?.epoch ?? 0 { servedReads[chain] = (e, id) }
            let value = nodes[id]!.kv[KeyLayout.dataKey(cl.key)]
            nodes[id]!.heldReads.append((nodes[id]!.ops, c, cl.op, attempt, value))
            flushHeld(id)
            return
        }
        // A write to a frozen chain waits (the node holds it) or is refused; either way the
        // client asks again later, which is what the retry models.
        guard core.frozenWrite(chain, waitingSince: nil, now: now) == .open else { return refuse(c, cl.op, attempt) }
        let token = nextToken
        nextToken += 1
        nodes[id]!.tokens[token] = (c, cl.op, attempt)
        let recorded = attempt > 1 ? nodes[id]!.kv[Self.recordKey(chain, cl.tag)].map(Self.decode) : nil
        var effects = NodeCore.Effects()
        do {
            if let seq = recorded {
                try nodes[id]!.core.clientWait(chain: chain, seq: seq, token: token, &effects)
            } else {
                writes += 1
                try nodes[id]!.core.clientWrite(chain: chain, mutations: [.put(key: cl.key, value: cl.write!)], tag: cl.tag,
                                                reply: [], token: token, &effects)
            }
        } catch {
            nodes[id]!.tokens.removeValue(forKey: token)
            return refuse(c, cl.op, attempt)
        }
        carryOut(id, effects)
    }

    /// As `ChainNode.readFloor`: the last store op replies may depend on as far as commits go.
    mutating func readFloor(_ id: NodeID) -> UInt64? {
        var floor: UInt64?
        for chain in nodes[id]!.tailTrack.keys.sorted() {
            guard let r = nodes[id]!.core.replicas[chain], r.isTail, r.joiner != nil else {
                nodes[id]!.tailTrack.removeValue(forKey: chain)
                continue
            }
            nodes[id]!.tailTrack[chain]!.removeAll { $0.1 <= r.committed }
            guard let limit = nodes[id]!.core.readableUpTo(chain), let first = nodes[id]!.tailTrack[chain]!.first(where: { $0.1 > limit }) else { continue }
            floor = min(floor ?? .max, first.0 - 1)
        }
        return floor
    }

    /// Held reads whose data is persisted (and committed, at a tail with a joiner) are answered.
    mutating func flushHeld(_ id: NodeID) {
        let ops = min(nodes[id]!.persistedOps, readFloor(id) ?? .max)
        let ready = nodes[id]!.heldReads.filter { $0.ops <= ops }
        nodes[id]!.heldReads.removeAll { $0.ops <= ops }
        for r in ready { queue.push(now + 1 + UInt64(rng.below(5)), .reply(client: r.client, op: r.op, attempt: r.attempt, .read(r.value))) }
    }

    mutating func refuse(_ c: Int, _ op: Int, _ attempt: Int) {
        queue.push(now + 1 + UInt64(rng.below(5)), .reply(client: c, op: op, attempt: attempt, .refused))
    }

    // MARK: the master (the shell's part)

    mutating func atMaster(_ id: NodeID, sentAt: UInt64, incarnation: Int) {
        let n = nodes[id]!
        guard n.alive, n.incarnation == incarnation, n.masterCutUntil <= now else { return }
        let response: MasterPolicy.Response
        let effects: [MasterPolicy.Effect]
        if !n.registered {
            (response, effects) = master.onRegister(NodeInfo(id: id, client: "c-\(id)", peer: "p-\(id)", http: "h-\(id)"),
                                                    lastConfig: n.core.config ?? n.durableConfig, boot: "\(id)-\(n.incarnation)", now: now)
        } else {
            var core = n.core
            let down = core.unreachablePeers(now: now)
            nodes[id]!.core = core
            (response, effects) = master.onHeartbeat(MasterAPI.Heartbeat(id: id, epoch: n.core.epoch, chains: n.core.progress,
                                                                         unreachable: down.map(\.peer), unreachableForMs: down.map(\.downMs)), now: now)
        }
        apply(effects)
        if let v = response.afterSave {
            waitingForSave.append((v, id, sentAt, response.reply, incarnation))
        } else {
            queue.push(now + 1 + UInt64(rng.below(8)), .masterReply(id, sentAt: sentAt, response.reply, incarnation: incarnation))
        }
    }

    mutating func masterReplied(_ id: NodeID, sentAt: UInt64, _ reply: MasterPolicy.Reply) {
        switch reply {
        case .lease:
            nodes[id]!.registered = true
            let lease = master.leaseReply(knownEpoch: nodes[id]!.core.epoch)
            drive(id) { core, now, fx in core.renewLease(until: sentAt + UInt64(lease.lease_ms), leaseMs: lease.lease_ms, now: now, &fx) }
            if let c = lease.config { drive(id) { core, now, fx in core.install(c, now: now, &fx) } }
        case .refused(404, _):
            nodes[id]!.registered = false
        default:
            break
        }
    }

    mutating func apply(_ effects: [MasterPolicy.Effect]) {
        for e in effects {
            if case .published = e, let trace, let c = master.publishedConfig {
                trace("\(now) master published \(c.epoch): " + c.chains.map { "\($0.id)=\($0.members)+\($0.joining ?? "-")\($0.frozen.map { " frozen \($0)" } ?? "")\($0.stepsDown.map { " steps down \($0)" } ?? "")" }.joined(separator: " "))
            }
            if case let .persist(version) = e {
                queue.push(now + 1 + UInt64(rng.below(10)), .saved(version))
            }
        }
    }

    // MARK: clients

    mutating func clientNext(_ c: Int) {
        guard clients[c].remaining > 0, clients[c].op == nil else { return }
        clients[c].remaining -= 1
        clients[c].order += 1
        clients[c].key = Array("k\(rng.below(settings.keys))".utf8)
        let isWrite = rng.below(2) == 0
        clients[c].write = isWrite ? Array("c\(c)-\(clients[c].order)".utf8) : nil
        clients[c].tag = RequestTag(client: UInt64(c), request: clients[c].order)
        clients[c].attempt = 0
        clients[c].op = history.count
        history.append(HistoryOp(client: c, key: clients[c].key, kind: isWrite ? .write(clients[c].write) : .read(nil),
                                 invoked: now, completed: nil, sequence: clients[c].order))
        sendAttempt(c)
    }

    mutating func sendAttempt(_ c: Int) {
        clients[c].attempt += 1
        let attempt = clients[c].attempt
        if attempt > 200 {
            failures.append("client \(c) gave up on \(history[clients[c].op!])")
            clients[c].op = nil
            clients[c].remaining = 0
            return
        }
        queue.push(now + 250, .clientTimeout(c, attempt: attempt))
        // The smart client routes by the configuration it last fetched from the master.
        if attempt > 1 || clients[c].view == nil || rng.below(20) == 0 { clients[c].view = master.publishedConfig }
        guard let config = clients[c].view else { return }
        let chain = config.chain(forKey: clients[c].key)
        guard let target = clients[c].write != nil ? config.chains[chain].head : config.chains[chain].tail else { return }
        let request = Request(op: clients[c].op!, key: clients[c].key, write: clients[c].write, tag: clients[c].tag)
        queue.push(now + 1 + UInt64(rng.below(5)), .request(target, client: c, attempt: attempt, request))
    }

    mutating func clientReply(_ c: Int, attempt: Int, _ reply: Reply) {
        guard let op = clients[c].op else { return }
        switch reply {
        case .refused:
            guard attempt == clients[c].attempt else { return }
            queue.push(now + 5 + UInt64(rng.below(20)), .clientTimeout(c, attempt: attempt))
        case .written:
            // Any attempt's commit is the write's (retries carry the same tag).
            history[op].completed = now
            clients[c].op = nil
            queue.push(now + UInt64(rng.below(10)), .clientNext(c))
        case let .read(value):
            guard attempt == clients[c].attempt else { return }
            history[op].kind = .read(value)
            history[op].completed = now
            clients[c].op = nil
            queue.push(now + UInt64(rng.below(10)), .clientNext(c))
        }
    }

    // MARK: checks

    /// The live members of each chain hold the same data.
    mutating func checkConvergence() {
        guard let config = master.publishedConfig else { return failures.append("no configuration was published") }
        for ch in config.chains {
            let live = ch.members.filter { nodes[$0]!.alive && nodes[$0]!.core.epoch == config.epoch }
            let slots = config.slots(of: ch.id)
            let views = live.map { id in nodes[id]!.kv.filter { Self.isData($0.key, in: slots) } }
            for (i, v) in views.enumerated().dropFirst() where v != views[0] {
                failures.append("chain \(ch.id): \(live[0]) and \(live[i]) hold different data")
            }
        }
    }
}
