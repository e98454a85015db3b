import XCTest
@testable import ChainCore

/// Seeded simulation of repair: a node crashes, the master (its real `spliceOut`, `repair` and
/// `promote`) gives the affected chains a spare as joiner, the tail sends a snapshot of its
/// persisted history while forwarding the live stream, the joiner installs the snapshot, applies
/// what follows, and is promoted — all under concurrent writes with random delays. Afterwards the
/// members of every chain hold identical histories containing every acknowledged write.
final class JoinSimulationTests: XCTestCase {
    enum Message {
        case updates(ChainID, Epoch, [Update])
        case ack(ChainID, Epoch, UInt64)
        case syncRequest(ChainID, Epoch)
        case snapshot(ChainID, [Update])
    }

    enum Event {
        case deliver(from: NodeID, to: NodeID, Message)
        case persisted(NodeID, ChainID, UInt64)
        case write(client: Int)
        case timeout(client: Int, attempt: Int)
        case crash(NodeID)
        case master
        case install(NodeID, Configuration)
    }

    struct Node {
        var alive = true
        var epoch: Epoch = 1
        var replicas: [ChainID: ChainReplica] = [:]
        var log: [ChainID: [Update]] = [:]
        var joining: [ChainID: (tail: NodeID, buffer: [Update])] = [:]
        var early: [(NodeID, Message)] = []
        var persistBusyUntil: UInt64 = 0
    }

    func run(seed: UInt64) -> [String] {
        var rng = SimRandom(seed: seed)
        let ids = ["n1", "n2", "n3", "n4"]
        var master = MasterState(replication: 3, chains: 8, initialNodes: 3)
        for id in ids { _ = try! master.register(NodeInfo(id: id, client: "c" + id, peer: "p" + id, http: "h" + id)) }
        var config = master.config!
        var nodes: [NodeID: Node] = [:]
        for id in ids { nodes[id] = Node() }
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
        var tokenOwner: [UInt64: (Int, Int)] = [:]
        var nextToken: UInt64 = 1
        var remaining = Array(repeating: 40, count: 6)
        var dead: Set<NodeID> = []

        func send(_ from: NodeID, _ to: NodeID, _ m: Message) {
            let t = links.arrival(from: from, to: to, now: now, maxDelay: 30, rng: &rng)
            q.push(t, .deliver(from: from, to: to, m))
        }

        func perform(_ n: NodeID, _ chain: ChainID, _ actions: [ChainReplica.Action]) {
            var fw: [NodeID: [Update]] = [:]
            for a in actions {
                switch a {
                case let .apply(u):
                    nodes[n]!.log[chain, default: []].append(u)
                    let done = max(now, nodes[n]!.persistBusyUntil) + UInt64(1 + rng.below(15))
                    nodes[n]!.persistBusyUntil = done
                    q.push(done, .persisted(n, chain, u.seq))
                case let .forward(to, _, u): fw[to, default: []].append(u)
                case let .ack(to, e, s): send(n, to, .ack(chain, e, s))
                case let .committed(token, seq):
                    guard let (c, attempt) = tokenOwner.removeValue(forKey: token), pending[c]?.attempt == attempt else { continue }
                    let log = nodes[n]!.log[chain]!
                    acked.append((chain, log[Int(seq) - 1]))
                    pending[c] = nil
                    q.push(now + 1, .write(client: c))
                case .abandoned: break
                }
            }
            for (to, us) in fw { send(n, to, .updates(chain, nodes[n]!.epoch, us)) }
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
                let t = nextToken; nextToken += 1; tokenOwner[t] = (c, p.attempt)
                perform(head, chain, (try? nodes[head]!.replicas[chain]!.onClientWait(seq: seq, token: t)) ?? [])
                return
            }
            let t = nextToken; nextToken += 1; tokenOwner[t] = (c, p.attempt)
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
            case let .syncRequest(chain, e):
                // Like the real node: a request from a newer epoch waits until the tail knows the
                // joiner (from then on it forwards everything to it); then the snapshot waits until
                // everything applied before is persisted (what was not forwarded live).
                if e > nodes[n]!.epoch { nodes[n]!.early.append((from, m)); return }
                guard let r = nodes[n]!.replicas[chain], r.isTail else { return }
                if r.persisted >= r.applied {
                    send(n, from, .snapshot(chain, Array(nodes[n]!.log[chain]!.prefix(Int(r.persisted)))))
                } else {
                    q.push(now + 5, .deliver(from: from, to: n, m))
                }
            case let .snapshot(chain, history):
                guard let j = nodes[n]!.joining[chain], j.tail == from, nodes[n]!.replicas[chain] == nil else { return }
                let c = config.chains[chain]
                nodes[n]!.log[chain] = history
                var r = ChainReplica(chain: chain, me: n, epoch: nodes[n]!.epoch, members: c.members, joiner: c.joining, applied: UInt64(history.count))
                let actions = r.onUpdates(from: from, epoch: nodes[n]!.epoch, j.buffer)
                nodes[n]!.replicas[chain] = r
                perform(n, chain, actions)
            }
        }

        for c in 0..<remaining.count { q.push(UInt64(rng.below(10)), .write(client: c)) }
        q.push(UInt64(100 + rng.below(300)), .crash(["n1", "n2", "n3"][rng.below(3)]))
        var steps = 0
        while let (t, e) = q.pop() {
            now = t
            steps += 1
            if steps > 2_000_000 { failures.append("did not settle"); break }
            switch e {
            case let .write(c):
                guard remaining[c] > 0 else { continue }
                remaining[c] -= 1
                pending[c] = ([.put(key: Array("k\(rng.below(30))".utf8), value: Array("c\(c)-\(remaining[c])".utf8))], 0,
                              RequestTag(client: UInt64(c), request: UInt64(100 - remaining[c])))
                attempt(c)
            case let .timeout(c, a):
                if pending[c]?.attempt == a { if a > 80 { failures.append("client \(c) gave up"); pending[c] = nil } else { attempt(c) } }
            case let .deliver(from, to, m):
                if nodes[to]!.alive { receive(to, from, m) }
            case let .persisted(n, chain, seq):
                if nodes[n]!.alive, nodes[n]!.replicas[chain] != nil { perform(n, chain, nodes[n]!.replicas[chain]!.onPersisted(upTo: seq)) }
            case let .crash(n):
                nodes[n]!.alive = false
                dead.insert(n)
                q.push(now + 200, .master)
            case .master:
                // One master decision per round: splice, else promote a synced joiner, else repair.
                var changed = master.spliceOut(dead) != nil
                if !changed, let cfg = master.config {
                    for ch in cfg.chains {
                        guard let j = ch.joining, let r = nodes[j]!.replicas[ch.id], r.persisted >= UInt64(nodes[j]!.log[ch.id]?.count ?? 0) else { continue }
                        if master.promote(chain: ch.id, node: j) != nil { changed = true; break }
                    }
                }
                if !changed {
                    changed = master.repair(alive: Set(ids.filter { nodes[$0]!.alive }), maxJoinsPerNode: 2) != nil
                }
                if changed {
                    config = master.config!
                    for id in ids where nodes[id]!.alive { q.push(now + UInt64(1 + rng.below(40)), .install(id, config)) }
                }
                if !q.isEmpty || master.config!.chains.contains(where: { $0.joining != nil || $0.members.count < 3 }) {
                    if steps < 1_900_000 { q.push(now + 50, .master) }
                }
            case let .install(n, cfg):
                guard nodes[n]!.alive, cfg.epoch > nodes[n]!.epoch else { continue }
                nodes[n]!.epoch = cfg.epoch
                for ch in cfg.chains {
                    if nodes[n]!.replicas[ch.id] != nil {
                        perform(n, ch.id, nodes[n]!.replicas[ch.id]!.onConfiguration(epoch: cfg.epoch, members: ch.members, joiner: ch.joining))
                    } else if ch.joining == n, nodes[n]!.joining[ch.id]?.tail != ch.tail, let tail = ch.tail {
                        nodes[n]!.joining[ch.id] = (tail, [])
                        send(n, tail, .syncRequest(ch.id, cfg.epoch))
                    }
                }
                let early = nodes[n]!.early
                nodes[n]!.early = []
                for (from, m) in early { receive(n, from, m) }
            }
        }

        let final = master.config!
        for ch in final.chains {
            if ch.members.count < 3 || ch.joining != nil { failures.append("chain \(ch.id) not repaired: \(ch.members) joining \(ch.joining ?? "-")") }
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

    func testRepairUnderLoadKeepsEveryAcknowledgedWrite() {
        let seeds = UInt64(ProcessInfo.processInfo.environment["CHAIN_SIM_SEEDS"].flatMap(Int.init) ?? 25)
        for seed in 0..<seeds {
            let f = run(seed: seed)
            XCTAssert(f.isEmpty, "replay with run(seed: \(seed)): \(f.prefix(4))")
            if !f.isEmpty { break }
        }
    }
}

import Foundation
