import XCTest
@testable import ChainCore

/// Seeded simulation of membership changes driven by the master's real decisions (`spliceOut`,
/// `converge`, `promote`): a node crashes and a spare replaces it; a node is added and chains
/// are rebalanced onto it (joins, leaves, freezes and reorders); a node is drained; a node is
/// added and another crashes half-way; a node crashes and comes back with what it had persisted.
/// Joiners get a snapshot of the tail's persisted history — or, when what they kept is provably
/// a prefix of the tail's history and the tail's backlog still holds the rest, only the missing
/// suffix (`CatchUp`) — while the live stream continues, then are promoted — all under
/// concurrent writes with random delays. Afterwards the layout is balanced and the members of
/// every chain hold identical histories containing every acknowledged write.
final class JoinSimulationTests: XCTestCase {
    enum Scenario: CaseIterable { case crash, add, drain, addThenCrash, restart }

    enum Message {
        case updates(ChainID, Epoch, [Update])
        case ack(ChainID, Epoch, UInt64)
        case syncRequest(ChainID, Epoch, LogPosition)
        case snapshot(ChainID, [Update])
        case suffix(ChainID, after: UInt64, [Update])
        case syncPoint(ChainID, Epoch, UInt64)
    }

    enum Event {
        case deliver(from: NodeID, to: NodeID, Message)
        case persisted(NodeID, ChainID, UInt64)
        case write(client: Int)
        case timeout(client: Int, attempt: Int)
        case crash(NodeID)
        case restart(NodeID)
        case add(NodeID)
        case drain(NodeID)
        case master
        case install(NodeID, Configuration)
        case endTurn(NodeID)
    }

    struct Node {
        var alive = true
        var epoch: Epoch = 1
        var frozen: Set<ChainID> = []
        var replicas: [ChainID: ChainReplica] = [:]
        /// The chain histories this node holds: of its chains, and (dormant) of chains it left
        /// that lack members.
        var log: [ChainID: [Update]] = [:]
        /// How much of each log the store has made durable (what survives a crash).
        var durable: [ChainID: UInt64] = [:]
        var backlog: [ChainID: UpdateBacklog] = [:]
        var joining: [ChainID: (tail: NodeID, buffer: [Update], sync: UInt64?, have: LogPosition)] = [:]
        var early: [(NodeID, Message)] = []
        var persistBusyUntil: UInt64 = 0
    }

    /// Joins completed by suffix and by snapshot over the runs of this test case.
    var suffixJoins = 0
    var snapshotJoins = 0

    func run(seed: UInt64, scenario: Scenario) -> [String] {
        var rng = SimRandom(seed: seed)
        let ids = ["n1", "n2", "n3", "n4"]
        var master = MasterState(replication: 3, chains: 8, initialNodes: scenario == .drain ? 4 : 3)
        // (Restart: no spare, so the node that comes back is the one that repairs its chains.)
        for id in ids where scenario != .restart || id != "n4" {
            _ = try! master.register(NodeInfo(id: id, client: "c" + id, peer: "p" + id, http: "h" + id))
        }
        // Small backlogs, so that some returning nodes need a snapshot after all.
        let backlogBytes = 400 + rng.below(4000)
        var config = master.config!
        var nodes: [NodeID: Node] = [:]
        for id in ids { nodes[id] = Node() }
        // (Restart: n4 never runs.)
        if scenario == .restart { nodes["n4"]!.alive = false }
        for c in config.chains { for m in c.members {
            nodes[m]!.replicas[c.id] = ChainReplica(chain: c.id, me: m, epoch: 1, members: c.members, applied: 0)
            nodes[m]!.log[c.id] = []
        } }
        var q = EventQueue<Event>()
        var links = SimLinks()
        var now: UInt64 = 0
        var failures: [String] = []
        var acked: [(ChainID, Update)] = []
        var pending: [Int: (update: [Mutation], attempt: Int, tag: RequestTag)] = [:]
        /// Which client request a token answers (with its tag: a late commit of an earlier
        /// write's attempt must not complete the next write that reached the same attempt number).
        var tokenOwner: [UInt64: (Int, Int, RequestTag)] = [:]
        var nextToken: UInt64 = 1
        var remaining = Array(repeating: 40, count: 6)
        var dead: Set<NodeID> = []

        func send(_ from: NodeID, _ to: NodeID, _ m: Message) {
            let t = links.arrival(from: from, to: to, now: now, maxDelay: 30, rng: &rng)
            q.push(t, .deliver(from: from, to: to, m))
        }

        var outbox = TurnOutbox()
        func endTurn(_ n: NodeID) {
            let frames = outbox.take(n)
            guard nodes[n]!.alive else { return }
            for f in frames { send(n, f.to, .updates(f.chain, nodes[n]!.epoch, f.updates)) }
        }

        func perform(_ n: NodeID, _ chain: ChainID, _ actions: [ChainReplica.Action]) {
            var fw: [NodeID: [Update]] = [:]
            for a in actions {
                switch a {
                case let .apply(u):
                    nodes[n]!.log[chain, default: []].append(u)
                    nodes[n]!.backlog[chain, default: UpdateBacklog(capacityBytes: backlogBytes)].append(u)
                    let done = max(now, nodes[n]!.persistBusyUntil) + UInt64(1 + rng.below(15))
                    nodes[n]!.persistBusyUntil = done
                    q.push(done, .persisted(n, chain, u.seq))
                case let .forward(to, _, u): fw[to, default: []].append(u)
                case let .ack(to, e, s): send(n, to, .ack(chain, e, s))
                case let .committed(token, seq):
                    guard let (c, attempt, tag) = tokenOwner.removeValue(forKey: token), pending[c]?.attempt == attempt,
                          pending[c]?.tag == tag else { continue }
                    let log = nodes[n]!.log[chain]!
                    acked.append((chain, log[Int(seq) - 1]))
                    pending[c] = nil
                    q.push(now + 1, .write(client: c))
                case .abandoned: break
                case let .syncPoint(to, e, seq): send(n, to, .syncPoint(chain, e, seq))
                }
            }
            for (to, us) in fw { outbox.queue(from: n, to: to, chain: chain, us) }
        }

        func attempt(_ c: Int) {
            guard var p = pending[c] else { return }
            p.attempt += 1
            pending[c] = p
            q.push(now + 300, .timeout(client: c, attempt: p.attempt))
            let chain = config.chain(forKey: p.update[0].key)
            guard let head = config.chains[chain].head, nodes[head]!.alive, nodes[head]!.replicas[chain]?.isHead == true else { return }
            // A retry whose update is already in the head's log waits for it to commit.
            if let seq = nodes[head]!.log[chain]?.first(where: { $0.tag == p.tag })?.seq {
                let t = nextToken; nextToken += 1; tokenOwner[t] = (c, p.attempt, p.tag)
                perform(head, chain, (try? nodes[head]!.replicas[chain]!.onClientWait(seq: seq, token: t)) ?? [])
                return
            }
            // A head that knows its chain is frozen starts no new update (the client retries).
            if nodes[head]!.frozen.contains(chain) { return }
            let t = nextToken; nextToken += 1; tokenOwner[t] = (c, p.attempt, p.tag)
            perform(head, chain, try! nodes[head]!.replicas[chain]!.onClientWrite(mutations: p.update, tag: p.tag, reply: [], token: t))
        }

        func receive(_ n: NodeID, _ from: NodeID, _ m: Message) {
            switch m {
            case let .updates(chain, e, us):
                if e > nodes[n]!.epoch { nodes[n]!.early.append((from, m)); return }
                if nodes[n]!.replicas[chain] == nil, nodes[n]!.joining[chain]?.tail == from {
                    nodes[n]!.joining[chain]!.buffer += us
                    return
                }
                guard nodes[n]!.replicas[chain] != nil else { return }
                perform(n, chain, nodes[n]!.replicas[chain]!.onUpdates(from: from, epoch: e, us))
            case let .ack(chain, e, s):
                if e > nodes[n]!.epoch { nodes[n]!.early.append((from, m)); return }
                guard nodes[n]!.replicas[chain] != nil else { return }
                perform(n, chain, nodes[n]!.replicas[chain]!.onAck(from: from, epoch: e, seq: s))
            case let .syncRequest(chain, e, have):
                // Like the real node: a request from a newer epoch waits until the tail knows the
                // joiner (from then on it forwards everything to it); a joiner whose copy is a
                // prefix of this history gets what follows from the backlog; otherwise the
                // snapshot waits until everything applied before is persisted (what was not
                // forwarded live).
                if e > nodes[n]!.epoch { nodes[n]!.early.append((from, m)); return }
                guard let r = nodes[n]!.replicas[chain], r.isTail, r.joiner == from else { return }
                let backlog = nodes[n]!.backlog[chain] ?? UpdateBacklog(capacityBytes: 0)
                let last = nodes[n]!.log[chain]!.last
                let mine = LogPosition(seq: r.applied, epoch: last?.epoch ?? 0)
                if case let .suffix(after) = CatchUp.plan(have: have, tail: mine, backlog: backlog) {
                    send(n, from, .suffix(chain, after: after, Array(backlog.updates(after: after))))
                } else if r.persisted >= r.applied {
                    send(n, from, .snapshot(chain, Array(nodes[n]!.log[chain]!.prefix(Int(r.persisted)))))
                } else {
                    q.push(now + 5, .deliver(from: from, to: n, m))
                }
            case let .syncPoint(chain, e, seq):
                if e > nodes[n]!.epoch { nodes[n]!.early.append((from, m)); return }
                if nodes[n]!.joining[chain]?.tail == from, nodes[n]!.joining[chain]!.sync == nil { nodes[n]!.joining[chain]!.sync = seq }
            case let .snapshot(chain, history):
                guard let j = nodes[n]!.joining[chain], j.tail == from, nodes[n]!.replicas[chain] == nil else { return }
                snapshotJoins += 1
                nodes[n]!.log[chain] = history
                nodes[n]!.durable[chain] = UInt64(history.count)
                install(n, chain, from: from, at: UInt64(history.count), then: j.buffer)
            case let .suffix(chain, after, updates):
                guard let j = nodes[n]!.joining[chain], j.tail == from, nodes[n]!.replicas[chain] == nil, j.have.seq == after,
                      UInt64(nodes[n]!.log[chain]?.count ?? 0) == after else { return }
                suffixJoins += 1
                install(n, chain, from: from, at: after, then: updates + j.buffer)
            }
        }

        /// The joiner's copy is in up to `seq`: become a replica there and apply what follows.
        func install(_ n: NodeID, _ chain: ChainID, from tail: NodeID, at seq: UInt64, then updates: [Update]) {
            let c = config.chains[chain]
            nodes[n]!.backlog[chain] = nil
            var r = ChainReplica(chain: chain, me: n, epoch: nodes[n]!.epoch, members: c.members, joiner: c.joining, applied: seq)
            let actions = r.onUpdates(from: tail, epoch: nodes[n]!.epoch, updates) + r.announce()
            nodes[n]!.replicas[chain] = r
            perform(n, chain, actions)
        }

        /// `n` no longer has a replica of `chain`: keep its copy while the chain lacks members.
        func leave(_ n: NodeID, _ chain: ChainID, _ cfg: Configuration) {
            nodes[n]!.replicas[chain] = nil
            nodes[n]!.backlog[chain] = nil
            let ch = cfg.chains[chain]
            if ch.members.count >= 3 && ch.joining != n { nodes[n]!.log[chain] = nil; nodes[n]!.durable[chain] = nil }
        }

        /// A chain as the master and each member and joiner see it (for failure messages).
        func describe(_ chain: ChainID) -> String {
            let ch = master.config!.chains[chain]
            let views = (ch.members + (ch.joining.map { [$0] } ?? [])).map { m -> String in
                guard let r = nodes[m]!.replicas[chain] else { return "\(m): no replica, join \(String(describing: nodes[m]!.joining[chain]?.tail))" }
                return "\(m)@\(nodes[m]!.epoch): applied \(r.applied) persisted \(r.persisted) ack \(r.downstreamAck) reported \(r.reported) unacked \(r.unacked.count) sync \(String(describing: r.syncPoint))"
            }
            return "chain \(chain) \(ch.members) joining \(ch.joining ?? "-") frozen \(String(describing: ch.frozen)) | " + views.joined(separator: " | ")
        }

        for c in 0..<remaining.count { q.push(UInt64(rng.below(10)), .write(client: c)) }
        switch scenario {
        case .crash: q.push(UInt64(100 + rng.below(300)), .crash(["n1", "n2", "n3"][rng.below(3)]))
        case .add: q.push(UInt64(100 + rng.below(300)), .add("n4"))
        case .drain: q.push(UInt64(100 + rng.below(300)), .drain(ids[rng.below(4)]))
        case .addThenCrash:
            q.push(UInt64(100 + rng.below(100)), .add("n4"))
            q.push(UInt64(250 + rng.below(500)), .crash(ids[rng.below(4)]))
        case .restart:
            // One or two crash-and-return cycles; a return may come before the master noticed.
            var t = UInt64(100 + rng.below(300))
            for _ in 0..<(1 + rng.below(2)) {
                let victim = ["n1", "n2", "n3"][rng.below(3)]
                q.push(t, .crash(victim))
                t += UInt64(50 + rng.below(600))
                q.push(t, .restart(victim))
                t += UInt64(800 + rng.below(800))
            }
        }
        q.push(50, .master)
        var steps = 0
        while let (t, e) = q.pop() {
            now = t
            steps += 1
            if steps > 2_000_000 { failures.append("did not settle"); break }
            defer {
                let (ending, goingOn) = outbox.endings(&rng)
                for id in ending { endTurn(id) }
                for (id, after) in goingOn { q.push(now + after, .endTurn(id)) }
            }
            switch e {
            case let .write(c):
                guard remaining[c] > 0 else { continue }
                remaining[c] -= 1
                pending[c] = ([.put(key: Array("k\(rng.below(30))".utf8), value: Array("c\(c)-\(remaining[c])".utf8))], 0,
                              RequestTag(client: UInt64(c), request: UInt64(100 - remaining[c])))
                attempt(c)
            case let .timeout(c, a):
                if pending[c]?.attempt == a { if a > 80 { failures.append("client \(c) gave up at \(now): " + describe(config.chain(forKey: pending[c]!.update[0].key))); pending[c] = nil } else { attempt(c) } }
            case let .deliver(from, to, m):
                if nodes[to]!.alive { receive(to, from, m) }
            case let .persisted(n, chain, seq):
                guard nodes[n]!.alive else { continue }
                if nodes[n]!.log[chain] != nil { nodes[n]!.durable[chain] = max(nodes[n]!.durable[chain] ?? 0, min(seq, UInt64(nodes[n]!.log[chain]!.count))) }
                if nodes[n]!.replicas[chain] != nil { perform(n, chain, nodes[n]!.replicas[chain]!.onPersisted(upTo: seq)) }
            case let .crash(n):
                nodes[n]!.alive = false
                outbox.drop(n)
                dead.insert(n)
            case let .restart(n):
                // It comes back with what its store had made durable, and no roles: the master
                // takes it out of any chain it is still in, and it rejoins them as a joiner.
                var node = Node()
                node.epoch = nodes[n]!.epoch
                for (chain, log) in nodes[n]!.log {
                    let keep = Int(nodes[n]!.durable[chain] ?? 0)
                    if keep > 0 { node.log[chain] = Array(log.prefix(keep)); node.durable[chain] = UInt64(keep) }
                }
                nodes[n] = node
                dead.remove(n)
                let others = Set(ids.filter { $0 != n && nodes[$0]!.alive })
                if master.config!.chains.contains(where: { $0.members.contains(n) || $0.joining == n }), master.restarted(n, alive: others) != nil {
                    config = master.config!
                    for id in ids where nodes[id]!.alive && id != n { q.push(now + UInt64(1 + rng.below(40)), .install(id, config)) }
                }
                master.heardFrom(n)
                q.push(now + 1, .install(n, master.config!))
            case let .add(n):
                try! master.add(n)
            case let .drain(n):
                try! master.drain(n, alive: Set(ids.filter { nodes[$0]!.alive }))
            case .master:
                // Like the real node's report timer: a joiner with its snapshot but no sync point yet
                // announces itself again (its first acknowledgement may have met another epoch).
                for id in ids where nodes[id]!.alive {
                    for (chain, j) in nodes[id]!.joining where j.sync == nil && nodes[id]!.replicas[chain] != nil {
                        perform(id, chain, nodes[id]!.replicas[chain]!.announce())
                    }
                }
                // One master decision per round: splice, else promote a synced joiner, else repair.
                var changed = master.spliceOut(dead) != nil
                if !changed, let cfg = master.config {
                    for ch in cfg.chains {
                        // The joiner's report: snapshot installed and the tail's sync point persisted.
                        guard let j = ch.joining, let r = nodes[j]!.replicas[ch.id], let sync = nodes[j]!.joining[ch.id]?.sync,
                              r.persisted >= sync else { continue }
                        if master.promote(chain: ch.id, node: j) != nil { changed = true; break }
                    }
                }
                if !changed {
                    // Like the real master: a frozen chain is drained when every member has seen the
                    // freeze and holds the same history, all of it acknowledged at the head.
                    let quiescent = { (chain: ChainID) -> Bool in
                        let ch = config.chains[chain]
                        guard let f = ch.frozen, let head = ch.head, let hr = nodes[head]!.replicas[chain], hr.committed == hr.applied else { return false }
                        return ch.members.allSatisfy { m in
                            nodes[m]!.alive && nodes[m]!.epoch >= f && nodes[m]!.replicas[chain]?.applied == hr.applied
                        }
                    }
                    changed = master.converge(alive: Set(ids.filter { nodes[$0]!.alive }), maxJoinsPerNode: 2, quiescent: quiescent) != nil
                }
                if changed {
                    config = master.config!
                    for id in ids where nodes[id]!.alive { q.push(now + UInt64(1 + rng.below(40)), .install(id, config)) }
                }
                let settled = !master.config!.chains.contains { $0.joining != nil || $0.frozen != nil || $0.members.count < 3 }
                    && master.plan(alive: Set(ids.filter { nodes[$0]!.alive }), maxJoinsPerNode: 2).isEmpty
                if !q.isEmpty || !settled {
                    if steps < 1_900_000 { q.push(now + 50, .master) }
                }
            case let .endTurn(n):
                endTurn(n)
            case let .install(n, cfg):
                guard nodes[n]!.alive, cfg.epoch > nodes[n]!.epoch || (nodes[n]!.replicas.isEmpty && nodes[n]!.joining.isEmpty && cfg.epoch == nodes[n]!.epoch) else { continue }
                nodes[n]!.epoch = cfg.epoch
                nodes[n]!.frozen = Set(cfg.chains.filter { $0.frozen != nil }.map(\.id))
                for ch in cfg.chains {
                    if nodes[n]!.replicas[ch.id] != nil, !ch.members.contains(n), ch.joining != n || nodes[n]!.joining[ch.id]?.tail != ch.tail {
                        // Left the chain (perhaps to join it again), or the tail it copied from left:
                        // like the real node, keep the copy (while the chain lacks members) and
                        // start over, offering it.
                        perform(n, ch.id, nodes[n]!.replicas[ch.id]!.onConfiguration(epoch: cfg.epoch, members: ch.members, joiner: ch.joining))
                        leave(n, ch.id, cfg)
                    }
                    if nodes[n]!.joining[ch.id] != nil, ch.joining != n || nodes[n]!.joining[ch.id]!.tail != ch.tail {
                        nodes[n]!.joining[ch.id] = nil
                        if !ch.members.contains(n) { leave(n, ch.id, cfg) }
                    }
                    if nodes[n]!.replicas[ch.id] != nil {
                        perform(n, ch.id, nodes[n]!.replicas[ch.id]!.onConfiguration(epoch: cfg.epoch, members: ch.members, joiner: ch.joining))
                    } else if ch.joining == n, nodes[n]!.joining[ch.id]?.tail != ch.tail, let tail = ch.tail {
                        let kept = nodes[n]!.log[ch.id] ?? []
                        let have = kept.last.map { LogPosition(seq: $0.seq, epoch: $0.epoch) } ?? .empty
                        nodes[n]!.joining[ch.id] = (tail, [], nil, have)
                        send(n, tail, .syncRequest(ch.id, cfg.epoch, have))
                    } else if !ch.members.contains(n), ch.joining != n, nodes[n]!.log[ch.id] != nil {
                        leave(n, ch.id, cfg)
                    }
                }
                let early = nodes[n]!.early
                nodes[n]!.early = []
                for (from, m) in early { receive(n, from, m) }
            }
        }

        let final = master.config!
        let live = master.eligible.filter { !dead.contains($0) }
        for pick in [{ (c: ChainConfig) in c.members }, { [$0.head!] }, { [$0.tail!] }] {
            var n: [NodeID: Int] = [:]
            for ch in final.chains { for m in pick(ch) { n[m, default: 0] += 1 } }
            let v = live.map { n[$0] ?? 0 }
            if v.max()! - v.min()! > 1 { failures.append("unbalanced layout \(v) over \(live): \(final.chains.map(\.members))") }
        }
        if scenario == .drain, let d = master.draining?.first, final.chains.contains(where: { $0.members.contains(d) }) {
            failures.append("drained node \(d) still in a chain")
        }
        for ch in final.chains {
            if ch.members.count < 3 || ch.joining != nil { failures.append("not repaired: " + describe(ch.id)) }
            let logs = ch.members.map { nodes[$0]!.log[ch.id] ?? [] }
            if Set(logs.map { $0.map(\.seq) }).count != 1 || zip(logs, logs.dropFirst()).contains(where: { $0 != $1 }) {
                failures.append("chain \(ch.id): member histories differ")
            }
        }
        for (chain, u) in acked {
            for m in final.chains[chain].members {
                let log = nodes[m]!.log[chain] ?? []
                if Int(u.seq) > log.count || log[Int(u.seq) - 1] != u { failures.append("acknowledged update \(u.seq) of chain \(chain) missing at \(m)") }
            }
        }
        return failures
    }

    private func runSeeds(_ scenario: Scenario, default count: Int) {
        let seeds = UInt64(ProcessInfo.processInfo.environment["CHAIN_SIM_SEEDS"].flatMap(Int.init) ?? count)
        for seed in 0..<seeds {
            let f = run(seed: seed, scenario: scenario)
            XCTAssert(f.isEmpty, "replay with run(seed: \(seed), scenario: .\(scenario)): \(f.prefix(4))")
            if !f.isEmpty { break }
        }
    }

    func testRepairUnderLoadKeepsEveryAcknowledgedWrite() { runSeeds(.crash, default: 100) }
    /// The joiner of a chain that never had a write still gets its sync point (its
    /// acknowledgement is of sequence 0), so it can be promoted.
    func testJoinerOfAnEmptyChainGetsItsSyncPoint() {
        var tail = ChainReplica(chain: 0, me: "a", epoch: 1, members: ["a"], applied: 0)
        _ = tail.onConfiguration(epoch: 2, members: ["a"], joiner: "j")
        var joiner = ChainReplica(chain: 0, me: "j", epoch: 2, members: ["a"], joiner: "j", applied: 0)
        let hello = joiner.announce()
        XCTAssertEqual(hello, [.ack(to: "a", epoch: 2, seq: 0)])
        XCTAssertEqual(tail.onAck(from: "j", epoch: 2, seq: 0), [.syncPoint(to: "j", epoch: 2, seq: 0)])
        XCTAssertEqual(tail.syncPoint, 0)
        // From then on the tail commits only what the joiner also holds.
        _ = try? tail.onClientWrite(mutations: [.put(key: [1], value: [2])], tag: nil, reply: [], token: 1)
        XCTAssertEqual(tail.onPersisted(upTo: 1), [], "not committed before the joiner acknowledges")
        XCTAssertEqual(tail.onAck(from: "j", epoch: 2, seq: 1), [.committed(token: 1, seq: 1)])
    }
    func testRebalanceOntoAddedNodeUnderLoad() { runSeeds(.add, default: 100) }
    func testDrainUnderLoad() { runSeeds(.drain, default: 100) }
    func testAddThenCrashDuringRebalance() { runSeeds(.addThenCrash, default: 100) }

    /// Nodes that crash and come back catch up — with the missing suffix when the tail can prove
    /// and send it, with a snapshot otherwise — and lose nothing acknowledged. Both paths must
    /// occur over the seeds (otherwise this tests nothing).
    func testReturningNodesCatchUpWithSuffixOrSnapshot() {
        runSeeds(.restart, default: 150)
        XCTAssertGreaterThan(suffixJoins, 20, "suffix catch-ups")
        XCTAssertGreaterThan(snapshotJoins, 5, "snapshot catch-ups")
    }

    /// The catch-up rule on its own: a suffix only for a joiner whose last update the tail holds
    /// under the same epoch, with everything after it still in the backlog.
    func testCatchUpPlan() {
        var backlog = UpdateBacklog(capacityBytes: 1 << 20)
        for seq in UInt64(5)...10 { backlog.append(Update(seq: seq, epoch: seq < 8 ? 2 : 3, mutations: [])) }
        let tail = LogPosition(seq: 10, epoch: 3)
        XCTAssertEqual(CatchUp.plan(have: LogPosition(seq: 7, epoch: 2), tail: tail, backlog: backlog), .suffix(after: 7))
        XCTAssertEqual(CatchUp.plan(have: tail, tail: tail, backlog: backlog), .suffix(after: 10), "nothing missing")
        XCTAssertEqual(CatchUp.plan(have: LogPosition(seq: 7, epoch: 1), tail: tail, backlog: backlog), .snapshot, "another head's update 7")
        XCTAssertEqual(CatchUp.plan(have: LogPosition(seq: 11, epoch: 3), tail: tail, backlog: backlog), .snapshot, "ahead of the tail")
        XCTAssertEqual(CatchUp.plan(have: LogPosition(seq: 4, epoch: 2), tail: tail, backlog: backlog), .snapshot, "before the backlog")
        XCTAssertEqual(CatchUp.plan(have: .empty, tail: tail, backlog: backlog), .snapshot)
        XCTAssertEqual(CatchUp.plan(have: LogPosition(seq: 3, epoch: 0), tail: tail, backlog: backlog), .snapshot, "unknown epoch")
        XCTAssertEqual(Array(backlog.updates(after: 7)).map(\.seq), [8, 9, 10])
        // A gap starts the backlog afresh; the byte budget drops the oldest updates.
        backlog.append(Update(seq: 12, epoch: 3, mutations: []))
        XCTAssertEqual(backlog.firstSeq, 12)
        var small = UpdateBacklog(capacityBytes: 200)
        for seq in UInt64(1)...20 { small.append(Update(seq: seq, epoch: 1, mutations: [.put(key: [1], value: Array(repeating: 0, count: 40))])) }
        XCTAssertEqual(small.last?.seq, 20)
        XCTAssertLessThanOrEqual(small.bytes, 200)
        XCTAssertGreaterThan(small.firstSeq ?? 0, 1)
        XCTAssertEqual(CatchUp.plan(have: LogPosition(seq: 2, epoch: 1), tail: LogPosition(seq: 20, epoch: 1), backlog: small), .snapshot)
    }
}

import Foundation
