import XCTest
@testable import ChainCore

/// Three masters — each the real `Candidacy` and `MasterPolicy` — over a simulated store with
/// leases and compare-and-swap (etcd's semantics), with data nodes heartbeating to whichever
/// master leads. Seeded: message delays (some very long), the leader crashing, pausing past its
/// lease, cut off from the store; data nodes crashing and being cut off from the masters.
///
/// Invariants: never two different configurations published with one epoch; the stored state's
/// epoch never goes back; one member step per chain from one epoch to the next; and the master's
/// half of "no two tails serve one chain at once": a configuration that splices a failed tail out
/// is published only once that node cannot be serving — dead, or its lease, from whichever master
/// granted it, run out. (When the tail role moves between live nodes — a promoted joiner, a
/// rebalance — the new tail waiting for the old one is the node's half.)
final class MasterElectionSimulationTests: XCTestCase {
    static let leaseMs: UInt64 = 3000
    static let heartbeatMs: UInt64 = 500
    static let ttl = 1

    /// The simulated etcd: one revision counter, keys with create/mod revisions and leases.
    struct Store {
        struct Entry { var value: [UInt8]; var create: Int64; var mod: Int64; var lease: Int64 }
        var revision: Int64 = 1
        var keys: [String: Entry] = [:]
        var leases: [Int64: UInt64] = [:]
        var nextLease: Int64 = 100
        var stateEpochs: [Epoch] = []

        mutating func expire(now: UInt64) {
            for (id, until) in leases where until <= now {
                leases.removeValue(forKey: id)
                for (k, e) in keys where e.lease == id { keys.removeValue(forKey: k); revision += 1 }
            }
        }

        mutating func grant(now: UInt64) -> Int64 {
            nextLease += 1
            leases[nextLease] = now + UInt64(MasterElectionSimulationTests.ttl) * 1000
            return nextLease
        }

        mutating func keepAlive(_ id: Int64, now: UInt64) -> Int {
            guard leases[id] != nil else { return 0 }
            leases[id] = now + UInt64(MasterElectionSimulationTests.ttl) * 1000
            return MasterElectionSimulationTests.ttl
        }

        /// Creates `key` if absent; returns its create revision, or nil.
        mutating func create(_ key: String, value: [UInt8], lease: Int64) -> Int64? {
            guard keys[key] == nil, leases[lease] != nil else { return nil }
            revision += 1
            keys[key] = Entry(value: value, create: revision, mod: revision, lease: lease)
            return revision
        }

        func candidates(prefix: String) -> [(key: String, value: String)] {
            keys.filter { $0.key.hasPrefix(prefix) }.sorted { $0.value.create < $1.value.create }
                .map { ($0.key, String(decoding: $0.value.value, as: UTF8.self)) }
        }

        /// The fenced write of the state: both compares must hold (`fenced: false` skips them —
        /// the mutation the simulation must catch).
        mutating func writeState(_ state: MasterState, key: String, create: Int64, stateRev: Int64, fenced: Bool) -> Int64? {
            if fenced {
                guard keys[key]?.create == create, (keys["state"]?.mod ?? 0) == stateRev else { return nil }
            }
            revision += 1
            keys["state"] = Entry(value: [], create: keys["state"]?.create ?? revision, mod: revision, lease: 0)
            stored = state
            stateEpochs.append(state.epoch)
            return revision
        }

        var stored: MasterState?
    }

    enum Event {
        case electionStep(master: Int)
        case tick(master: Int)
        /// A store request from `master` arrives (the closure runs it and schedules the answer).
        case storeArrive(master: Int, run: (inout Sim) -> Void)
        /// An answer from the store reaches `master` (dropped if it crashed since `incarnation`).
        case masterReceive(master: Int, incarnation: Int, run: (inout Sim) -> Void)
        case heartbeat(node: Int)
        case fault
    }

    struct MasterSim {
        var candidacy = Candidacy()
        var policy: MasterPolicy
        var busy = false
        var pausedUntil: UInt64 = 0
        var crashed = false
        var incarnation = 0
        var cutFromStoreUntil: UInt64 = 0
        var publishedEpoch: Epoch = 0
        /// Store requests wait for the one in flight (the shell runs them on one serial queue).
        var storeQueue: [(inout Sim) -> ((inout Store, UInt64) -> (inout Sim) -> Void)?] = []
        var storeBusy = false
        /// Replies waiting for a save to be durable (as the shell keeps them).
        var afterSave: [(version: Int, node: Int, sentAt: UInt64, reply: MasterPolicy.Reply)] = []
    }

    struct NodeSim {
        let id: NodeID
        var alive = true
        var cutFromMastersUntil: UInt64 = 0
        var master = 0
        var leaseUntil: UInt64 = 0
        var config: Configuration?
        var registered = false
        var lastReplyAt: UInt64 = 0
        /// Bumped on every restart (the process's boot id).
        var boot = 0
    }

    struct Sim {
        var now: UInt64 = 0
        var rng: SimRandom
        var queue = EventQueue<Event>()
        var store = Store()
        var masters: [MasterSim] = []
        var nodes: [NodeSim] = []
        var published: [Epoch: Configuration] = [:]
        var violations: [String] = []
        let fenced: Bool

        init(seed: UInt64, fenced: Bool) {
            rng = SimRandom(seed: seed)
            self.fenced = fenced
            let settings = MasterPolicy.Settings(leaseMs: Int(MasterElectionSimulationTests.leaseMs), heartbeatMs: Int(MasterElectionSimulationTests.heartbeatMs))
            for _ in 0..<3 {
                masters.append(MasterSim(policy: MasterPolicy(state: MasterState(replication: 3, chains: 8, initialNodes: 4, clusterID: "sim"),
                                                              settings: settings, now: 0, leading: false)))
            }
            nodes = (1...5).map { NodeSim(id: "n\($0)") }
        }

        var settings: MasterPolicy.Settings { masters[0].policy.settings }

        mutating func delay() -> UInt64 {
            // Mostly quick; now and then a request is held up for seconds (a slow network, a GC).
            rng.below(100) < 3 ? UInt64(500 + rng.below(2500)) : UInt64(1 + rng.below(15))
        }

        func canRun(_ m: Int) -> Bool { !masters[m].crashed && now >= masters[m].pausedUntil }

        // MARK: store requests

        /// Queues `request` from master `m` for the store; its answer comes back as a closure run at
        /// the master. One request at a time per master, in order.
        mutating func storeRequest(_ m: Int, _ request: @escaping (inout Store, UInt64) -> (inout Sim) -> Void) {
            storeRequestPrepared(m) { _ in request }
        }

        /// Like `storeRequest`, the request being made when it is its turn (nil: not sent).
        mutating func storeRequestPrepared(_ m: Int, _ prepare: @escaping (inout Sim) -> ((inout Store, UInt64) -> (inout Sim) -> Void)?) {
            masters[m].storeQueue.append(prepare)
            sendNext(m)
        }

        mutating func sendNext(_ m: Int) {
            guard !masters[m].storeBusy, !masters[m].storeQueue.isEmpty else { return }
            let prepare = masters[m].storeQueue.removeFirst()
            guard let request = prepare(&self) else { return sendNext(m) }
            masters[m].storeBusy = true
            let inc = masters[m].incarnation
            guard now >= masters[m].cutFromStoreUntil else {
                // Lost: the master learns nothing (the request times out); a step gives up.
                queue.push(now + 400, .masterReceive(master: m, incarnation: inc) { sim in
                    sim.masters[m].busy = false
                    sim.masters[m].storeBusy = false
                    sim.sendNext(m)
                })
                return
            }
            queue.push(now + delay(), .storeArrive(master: m) { sim in
                sim.store.expire(now: sim.now)
                let answer = request(&sim.store, sim.now)
                sim.queue.push(sim.now + sim.delay(), .masterReceive(master: m, incarnation: inc) { sim in
                    sim.masters[m].storeBusy = false
                    answer(&sim)
                    sim.sendNext(m)
                })
            })
        }

        /// One election round of master `m` (as `EtcdCoordinator.step`).
        mutating func electionStep(_ m: Int) {
            guard !masters[m].busy else { return }
            masters[m].busy = true
            let sent = now
            let advertise = "m\(m)"
            if !masters[m].candidacy.holdsLease {
                storeRequest(m) { store, t in
                    let lease = store.grant(now: t)
                    let key = "election/\(lease)"
                    let created = store.create(key, value: Array(advertise.utf8), lease: lease)
                    let list = store.candidates(prefix: "election/")
                    let state = store.stored
                    let stateRev = store.keys["state"]?.mod ?? 0
                    return { sim in
                        if let created {
                            sim.masters[m].candidacy.onCampaigned(lease: lease, key: key, createRevision: created, sentAt: sent, ttlSeconds: MasterElectionSimulationTests.ttl)
                            sim.decide(m, list, state: state, stateRev: stateRev)
                        }
                        sim.masters[m].busy = false
                    }
                }
                return
            }
            let lease = masters[m].candidacy.lease
            storeRequest(m) { store, t in
                let ttl = store.keepAlive(lease, now: t)
                let list = store.candidates(prefix: "election/")
                let state = store.stored
                let stateRev = store.keys["state"]?.mod ?? 0
                return { sim in
                    sim.masters[m].busy = false
                    guard sim.masters[m].candidacy.onRenewed(sentAt: sent, ttlSeconds: ttl) else {
                        sim.standby(m, leader: nil)
                        return
                    }
                    sim.decide(m, list, state: state, stateRev: stateRev)
                }
            }
        }

        /// What master `m` makes of the candidates (the state was read in the same round).
        mutating func decide(_ m: Int, _ list: [(key: String, value: String)], state: MasterState? = nil, stateRev: Int64 = 0) {
            switch masters[m].candidacy.onCandidates(list, now: now) {
            case let .follow(leader): standby(m, leader: leader)
            case .lead(load: false):
                // (As the shell: the state read in the same round must still be this leader's.)
                guard masters[m].candidacy.onStateSeen(revision: stateRev) else { return standby(m, leader: nil) }
                apply(m, masters[m].policy.onLeadership(until: masters[m].candidacy.until, begins: false, term: masters[m].candidacy.term, loaded: nil, now: now))
            case .lead(load: true):
                masters[m].candidacy.onLoaded(stateRevision: stateRev)
                apply(m, masters[m].policy.onLeadership(until: masters[m].candidacy.until, begins: true, term: masters[m].candidacy.term, loaded: state, now: now))
            }
        }

        /// Master `m` stands by: replies waiting for its saves say so (as the shell does).
        mutating func standby(_ m: Int, leader: String?) {
            apply(m, masters[m].policy.onStandby(leader: leader))
            let lost = masters[m].afterSave
            masters[m].afterSave.removeAll()
            for r in lost { reply(m, r.node, sentAt: r.sentAt, .notLeader(leader: leader)) }
        }

        /// Carries out a policy's effects (as `Master.perform`).
        mutating func apply(_ m: Int, _ effects: [MasterPolicy.Effect]) {
            for e in effects {
                switch e {
                case let .persist(version): save(m, version)
                case let .published(epoch):
                    guard let c = masters[m].policy.publishedConfig, c.epoch == epoch else { continue }
                    if let other = published[epoch], other != c { violations.append("two configurations published with epoch \(epoch)") }
                    published[epoch] = c
                    if epoch < masters[m].publishedEpoch { violations.append("master \(m) published epoch \(epoch) after \(masters[m].publishedEpoch)") }
                    masters[m].publishedEpoch = max(masters[m].publishedEpoch, epoch)
                    checkOneStep(epoch)
                    checkSplicedTails(epoch, by: m)
                case .log, .count: break
                }
            }
        }

        mutating func save(_ m: Int, _ version: Int) {
            let state = masters[m].policy.state
            let term = masters[m].policy.term
            let fenced = self.fenced
            // The fence is taken when the request is sent (after the requests queued before it),
            // as the shell's serial queue does.
            storeRequestPrepared(m) { sim in
                guard let fence = sim.masters[m].candidacy.fence(now: sim.now, term: term)
                        ?? (fenced ? nil : (sim.masters[m].candidacy.key, 0, 0)) else {
                    sim.masters[m].candidacy.onFenced()
                    sim.standby(m, leader: nil)
                    return nil
                }
                return { store, _ in
                    let rev = store.writeState(state, key: fence.key, create: fence.createRevision, stateRev: fence.stateRevision, fenced: fenced)
                    return { sim in
                        if let rev {
                            sim.masters[m].candidacy.onWritten(revision: rev)
                            sim.apply(m, sim.masters[m].policy.onSaved(version))
                            let ready = sim.masters[m].afterSave.filter { $0.version <= version }
                            sim.masters[m].afterSave.removeAll { $0.version <= version }
                            for r in ready {
                                if case .lease = r.reply, let newer = sim.masters[m].policy.pendingSaveVersion {
                                    sim.masters[m].afterSave.append((newer, r.node, r.sentAt, r.reply))
                                } else {
                                    sim.reply(m, r.node, sentAt: r.sentAt, r.reply)
                                }
                            }
                        } else {
                            sim.masters[m].candidacy.onFenced()
                            sim.standby(m, leader: nil)
                        }
                    }
                }
            }
        }

        /// From the previous published epoch to `epoch`: at most one step per chain.
        mutating func checkOneStep(_ epoch: Epoch) {
            guard let prev = published[epoch - 1], let cur = published[epoch] else { return }
            var perChain: [ChainID: Int] = [:]
            // Steps that change the members (a joiner is not one yet: starting or calling off a
            // join, like pausing or resuming writes, may come with a member step).
            for s in MasterState.steps(from: prev, to: cur) where [.leave, .promote, .reorder].contains(s.kind) { perChain[s.chain, default: 0] += 1 }
            for (chain, n) in perChain where n > 1 { violations.append("chain \(chain): \(n) steps from epoch \(epoch - 1) to \(epoch)") }
        }

        // MARK: nodes

        mutating func heartbeat(_ i: Int) {
            guard nodes[i].alive, now >= nodes[i].cutFromMastersUntil else { return }
            if now > nodes[i].lastReplyAt + 1000 {
                // No answer for a while: try the next master.
                nodes[i].master = (nodes[i].master + 1) % 3
                nodes[i].lastReplyAt = now
            }
            let m = nodes[i].master
            let sent = now
            let arrive = now + 1 + UInt64(rng.below(5))
            queue.push(arrive, .masterReceive(master: m, incarnation: masters[m].incarnation) { sim in
                sim.nodeRequest(i, m, sentAt: sent)
            })
        }

        /// A node's heartbeat (or registration) reaches master `m`.
        mutating func nodeRequest(_ i: Int, _ m: Int, sentAt: UInt64) {
            let node = nodes[i]
            let response: MasterPolicy.Response
            let effects: [MasterPolicy.Effect]
            if !node.registered {
                (response, effects) = masters[m].policy.onRegister(NodeInfo(id: node.id, client: "\(node.id):1", peer: "\(node.id):2", http: "\(node.id):3"),
                                                                   lastConfig: node.config, boot: "\(node.id)-\(node.boot)", now: now)
            } else {
                let synced = node.config?.chains.filter { $0.joining == node.id }.map {
                    MasterAPI.ChainProgress(id: $0.id, role: "joining", applied: 0, committed: 0, linked: true, synced: true)
                } ?? []
                let steady = node.config?.chains.filter { $0.members.contains(node.id) }.map {
                    MasterAPI.ChainProgress(id: $0.id, role: "member", applied: 7, committed: 7, linked: true)
                } ?? []
                (response, effects) = masters[m].policy.onHeartbeat(MasterAPI.Heartbeat(id: node.id, epoch: node.config?.epoch ?? 0, chains: synced + steady), now: now)
            }
            if let v = response.afterSave {
                masters[m].afterSave.append((v, i, sentAt, response.reply))
                apply(m, effects)
            } else {
                apply(m, effects)
                reply(m, i, sentAt: sentAt, response.reply)
            }
        }

        /// Master `m` answers node `i` (the lease body is built now, as the shell does).
        mutating func reply(_ m: Int, _ i: Int, sentAt: UInt64, _ reply: MasterPolicy.Reply) {
            let lease = masters[m].policy.leaseReply(knownEpoch: nodes[i].config?.epoch ?? 0)
            queue.push(now + 1 + UInt64(rng.below(5)), .masterReceive(master: -1, incarnation: 0) { sim in
                guard sim.nodes[i].alive else { return }
                sim.nodes[i].lastReplyAt = sim.now
                switch reply {
                case .lease:
                    sim.nodes[i].registered = true
                    sim.nodes[i].leaseUntil = max(sim.nodes[i].leaseUntil, sentAt + UInt64(lease.lease_ms))
                    if let c = lease.config { sim.install(i, c) }
                case let .notLeader(leader):
                    sim.nodes[i].master = leader.flatMap { Int($0.dropFirst()) } ?? (m + 1) % 3
                case .refused(404, _):
                    sim.nodes[i].registered = false
                default:
                    sim.nodes[i].master = (m + 1) % 3
                }
            })
        }

        mutating func install(_ i: Int, _ c: Configuration) {
            guard c.epoch > (nodes[i].config?.epoch ?? 0) else { return }
            nodes[i].config = c
        }

        /// Master `m` publishing `epoch`: a tail it spliced out as failed must not be serving any
        /// more. (A live tail that leaves in a rebalance is the node's half: the new tail waits
        /// for it as a promoted joiner does — not simulated here.)
        mutating func checkSplicedTails(_ epoch: Epoch, by m: Int) {
            guard let prev = published[epoch - 1], let cur = published[epoch] else { return }
            let failed = Set(masters[m].policy.state.failed ?? [])
            for (before, after) in zip(prev.chains, cur.chains) {
                guard let old = before.tail, after.tail != old, !after.members.contains(old), failed.contains(old),
                      let i = nodes.firstIndex(where: { $0.id == old }) else { continue }
                let n = nodes[i]
                if n.alive && now < n.leaseUntil && (n.config?.chains[before.id].tail == old) {
                    violations.append("t=\(now): epoch \(epoch) splices tail \(old) out of chain \(before.id) while its lease runs until \(n.leaseUntil)")
                }
            }
        }

        // MARK: faults

        mutating func fault() {
            let leader = masters.indices.first { masters[$0].policy.leads(at: now) && canRun($0) }
            switch rng.below(6) {
            case 0:
                // The leader crashes, and comes back later as a fresh process.
                guard let l = leader else { break }
                masters[l].crashed = true
                masters[l].incarnation += 1
                let incarnation = masters[l].incarnation + 1
                let back = now + 2000 + UInt64(rng.below(4000))
                queue.push(back, .masterReceive(master: -1, incarnation: 0) { sim in
                    sim.masters[l] = MasterSim(policy: MasterPolicy(state: MasterState(replication: 3, chains: 8, initialNodes: 4, clusterID: "sim"),
                                                                    settings: sim.settings, now: sim.now, leading: false))
                    sim.masters[l].incarnation = incarnation
                })
            case 1:
                // The leader pauses past its lease (SIGSTOP, a VM pause).
                guard let l = leader else { break }
                masters[l].pausedUntil = now + 1500 + UInt64(rng.below(4000))
            case 2:
                // The leader is cut off from the store for a while.
                guard let l = leader else { break }
                masters[l].cutFromStoreUntil = now + 1000 + UInt64(rng.below(4000))
            case 3:
                // A data node crashes (at most two down at once).
                let alive = nodes.indices.filter { nodes[$0].alive }
                guard alive.count > 3 else { break }
                nodes[alive[rng.below(alive.count)]].alive = false
            case 4:
                // A data node is cut off from the masters (it keeps its data; its lease runs out).
                let i = rng.below(nodes.count)
                nodes[i].cutFromMastersUntil = now + 1000 + UInt64(rng.below(5000))
            default:
                // A crashed data node restarts (registers again, keeping its last configuration).
                if let i = nodes.indices.first(where: { !nodes[$0].alive }) {
                    nodes[i].alive = true
                    nodes[i].boot += 1
                    nodes[i].registered = false
                    nodes[i].leaseUntil = 0
                }
            }
        }

        mutating func run(untilMs end: UInt64) {
            for m in masters.indices {
                queue.push(UInt64(rng.below(250)), .electionStep(master: m))
                queue.push(UInt64(rng.below(500)), .tick(master: m))
            }
            for i in nodes.indices { queue.push(UInt64(rng.below(500)), .heartbeat(node: i)) }
            queue.push(4000, .fault)
            while let (t, e) = queue.pop(), t <= end {
                now = t
                switch e {
                case let .electionStep(m):
                    if canRun(m) { electionStep(m) }
                    queue.push(max(now, masters[m].pausedUntil) + 250, .electionStep(master: m))
                case let .tick(m):
                    if canRun(m) { apply(m, masters[m].policy.onTick(now: now)) }
                    queue.push(max(now, masters[m].pausedUntil) + MasterElectionSimulationTests.heartbeatMs, .tick(master: m))
                case let .storeArrive(_, run):
                    run(&self)
                case let .masterReceive(m, inc, run):
                    if m < 0 { run(&self); break }
                    guard !masters[m].crashed, masters[m].incarnation == inc else { break }
                    if now < masters[m].pausedUntil {
                        // Delivered when it resumes, in order.
                        queue.push(masters[m].pausedUntil, .masterReceive(master: m, incarnation: inc, run: run))
                        break
                    }
                    run(&self)
                case let .heartbeat(i):
                    heartbeat(i)
                    queue.push(now + MasterElectionSimulationTests.heartbeatMs, .heartbeat(node: i))
                case .fault:
                    fault()
                    queue.push(now + 1500 + UInt64(rng.below(3000)), .fault)
                }
                store.expire(now: now)
                if let last = store.stateEpochs.last, store.stateEpochs.count > 1, last < store.stateEpochs[store.stateEpochs.count - 2] {
                    violations.append("t=\(now): the stored state went back from epoch \(store.stateEpochs[store.stateEpochs.count - 2]) to \(last)")
                    store.stateEpochs.removeFirst(store.stateEpochs.count - 1)
                }
                if !violations.isEmpty { return }
            }
        }
    }

    func run(seed: UInt64, fenced: Bool = true, ms: UInt64 = 40_000) -> Sim {
        var sim = Sim(seed: seed, fenced: fenced)
        sim.run(untilMs: ms)
        return sim
    }

    /// `SIM_REPLAY_SEED=N [SIM_REPLAY_CHAIN=C]`: replays one seed and prints its violations, one
    /// chain's configurations epoch by epoch, and where every node and master ended (for a
    /// failing seed's post-mortem). Does nothing otherwise.
    func testReplaySeed() {
        let env = ProcessInfo.processInfo.environment
        guard let seed = env["SIM_REPLAY_SEED"].flatMap(UInt64.init) else { return }
        let chain = env["SIM_REPLAY_CHAIN"].flatMap(Int.init) ?? 0
        let sim = run(seed: seed)
        print("seed \(seed): violations \(sim.violations)")
        for e in sim.published.keys.sorted() {
            let c = sim.published[e]!.chains[chain]
            print("epoch \(e): chain \(chain) \(c.members) joining \(c.joining ?? "-") frozen \(c.frozen.map(String.init) ?? "-")")
        }
        for n in sim.nodes { print(n.id, "alive", n.alive, "lease until", n.leaseUntil, "epoch", n.config?.epoch ?? 0) }
        for (i, m) in sim.masters.enumerated() { print("m\(i)", m.policy.role, "published", m.publishedEpoch, "crashed", m.crashed) }
    }

    func testManySeedsKeepTheInvariants() {
        let seeds = UInt64(ProcessInfo.processInfo.environment["CHAIN_SIM_SEEDS"].flatMap(Int.init) ?? 400)
        // (`CHAIN_SIM_FIRST_SEED`, as for the node simulation: a long run past CI's seeds.)
        let first = ProcessInfo.processInfo.environment["CHAIN_SIM_FIRST_SEED"].flatMap(UInt64.init) ?? 1
        var epochs: [Epoch] = []
        for seed in first...(first + seeds - 1) {
            let sim = run(seed: seed)
            XCTAssert(sim.violations.isEmpty, "seed \(seed): \(sim.violations.prefix(3))")
            if !sim.violations.isEmpty { return }
            epochs.append(sim.published.keys.max() ?? 0)
        }
        // The runs did something: tables formed and reconfigured through the faults.
        XCTAssertGreaterThan(epochs.filter { $0 > 3 }.count, epochs.count / 2, "epochs reached: \(epochs.prefix(20))")
    }

    /// The mutation the simulation must catch: the leader's writes without the fence (no compare
    /// of its election key or of the state's revision). A former leader's delayed write then
    /// overwrites the new leader's state.
    func testDroppingTheFenceIsCaught() {
        var caught = 0
        for seed in 1...UInt64(100) where !run(seed: seed, fenced: false).violations.isEmpty { caught += 1 }
        XCTAssertGreaterThan(caught, 0, "no seed caught writes without the fence")
    }
}
