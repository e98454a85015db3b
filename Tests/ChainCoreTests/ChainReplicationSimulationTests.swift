import XCTest
@testable import ChainCore

/// Deterministic simulation of the write path: several nodes, many interleaved chains, a network
/// where each link is FIFO but different links have independent random delays (so messages
/// reorder across links), random persistence delays, and concurrent clients. No sockets, clocks
/// or disks: the replicas are driven directly.
final class ChainReplicationSimulationTests: XCTestCase {
    enum Message {
        case updates(chain: ChainID, epoch: Epoch, [Update])
        case ack(chain: ChainID, epoch: Epoch, seq: UInt64)
    }

    enum Event {
        case deliver(from: NodeID, to: NodeID, Message)
        case persisted(node: NodeID, chain: ChainID, seq: UInt64)
        case clientWrite(client: Int)
    }

    struct Node {
        var replicas: [ChainID: ChainReplica] = [:]
        /// Applied content per chain, and the log of applied updates (to compare replicas).
        var data: [ChainID: [[UInt8]: [UInt8]]] = [:]
        var log: [ChainID: [Update]] = [:]
        /// Persistence completes in order: the time the last scheduled persist finishes.
        var persistBusyUntil: UInt64 = 0
    }

    struct Pending {
        var client: Int
        var key: [UInt8]
        var value: [UInt8]
        var chain: ChainID
    }

    struct Outcome {
        var acknowledged = 0
        var failures: [String] = []
    }

    func run(seed: UInt64, nodes nodeCount: Int = 5, chains chainCount: Int = 12, replication: Int = 3,
             clients: Int = 20, writesPerClient: Int = 100) -> Outcome {
        var rng = SimRandom(seed: seed)
        let ids = (1...nodeCount).map { "n\($0)" }
        let layout = try! LayoutPlanner.initialLayout(nodes: ids, chains: chainCount, replication: replication)
        let config = Configuration(epoch: 1, replication: replication, nodes: [], chains: layout)
        var nodes: [NodeID: Node] = [:]
        for id in ids { nodes[id] = Node() }
        for c in layout {
            for m in c.members {
                nodes[m]!.replicas[c.id] = ChainReplica(chain: c.id, me: m, epoch: 1, members: c.members, applied: 0)
                nodes[m]!.data[c.id] = [:]
                nodes[m]!.log[c.id] = []
            }
        }
        var queue = EventQueue<Event>()
        var links = SimLinks()
        var tokens: [UInt64: Pending] = [:]
        var nextToken: UInt64 = 1
        var remaining = Array(repeating: writesPerClient, count: clients)
        var acked: [(Pending, UInt64)] = []
        var outcome = Outcome()
        var now: UInt64 = 0

        func send(_ from: NodeID, _ to: NodeID, _ m: Message) {
            let t = links.arrival(from: from, to: to, now: now, maxDelay: 50, rng: &rng)
            queue.push(t, .deliver(from: from, to: to, m))
        }

        func perform(_ node: NodeID, _ chain: ChainID, _ actions: [ChainReplica.Action]) {
            var forwards: [NodeID: [Update]] = [:]
            for a in actions {
                switch a {
                case let .apply(u):
                    for m in u.mutations {
                        switch m {
                        case let .put(k, v): nodes[node]!.data[chain]![k] = v
                        case let .delete(k): nodes[node]!.data[chain]![k] = nil
                        }
                    }
                    nodes[node]!.log[chain]!.append(u)
                    let done = max(now, nodes[node]!.persistBusyUntil) + UInt64(1 + rng.below(30))
                    nodes[node]!.persistBusyUntil = done
                    queue.push(done, .persisted(node: node, chain: chain, seq: u.seq))
                case let .forward(to, _, u):
                    forwards[to, default: []].append(u)
                case let .ack(to, e, seq):
                    send(node, to, .ack(chain: chain, epoch: e, seq: seq))
                case .syncPoint: break  // no joiners in this simulation
                case let .committed(token, seq):
                    guard let p = tokens.removeValue(forKey: token) else {
                        outcome.failures.append("unknown token \(token)"); continue
                    }
                    // No reply before the write committed at the tail (and so at every member).
                    for m in layout[chain].members where nodes[m]!.replicas[chain]!.persisted < seq {
                        outcome.failures.append("chain \(chain) seq \(seq) answered before \(m) persisted it")
                    }
                    acked.append((p, seq))
                    queue.push(now + UInt64(rng.below(10)), .clientWrite(client: p.client))
                case .abandoned:
                    outcome.failures.append("abandoned without a reconfiguration")
                }
            }
            // Updates produced in one step travel as one batch, like the real driver's frames.
            for (to, us) in forwards { send(node, to, .updates(chain: chain, epoch: 1, us)) }
        }

        for c in 0..<clients { queue.push(UInt64(rng.below(20)), .clientWrite(client: c)) }
        var steps = 0
        while let (t, e) = queue.pop() {
            now = t
            steps += 1
            if steps > 2_000_000 { outcome.failures.append("did not settle"); break }
            switch e {
            case let .clientWrite(client):
                guard remaining[client] > 0 else { continue }
                remaining[client] -= 1
                let key = Array("k\(rng.below(200))".utf8)
                let value = Array("c\(client)-\(remaining[client])".utf8)
                let chain = config.chain(forKey: key)
                let head = layout[chain].head!
                let token = nextToken
                nextToken += 1
                tokens[token] = Pending(client: client, key: key, value: value, chain: chain)
                do {
                    let actions = try nodes[head]!.replicas[chain]!.onClientWrite(
                        mutations: [.put(key: key, value: value)], tag: RequestTag(client: UInt64(client), request: token),
                        reply: Array("+OK\r\n".utf8), token: token)
                    perform(head, chain, actions)
                } catch {
                    outcome.failures.append("head refused a write: \(error)")
                }
            case let .deliver(from, to, m):
                switch m {
                case let .updates(chain, epoch, us):
                    perform(to, chain, nodes[to]!.replicas[chain]!.onUpdates(from: from, epoch: epoch, us))
                case let .ack(chain, epoch, seq):
                    perform(to, chain, nodes[to]!.replicas[chain]!.onAck(from: from, epoch: epoch, seq: seq))
                }
            case let .persisted(node, chain, seq):
                perform(node, chain, nodes[node]!.replicas[chain]!.onPersisted(upTo: seq))
            }
        }

        outcome.acknowledged = acked.count
        if acked.count != clients * writesPerClient {
            outcome.failures.append("only \(acked.count) of \(clients * writesPerClient) writes acknowledged")
        }
        for c in layout {
            let first = nodes[c.members[0]]!
            for m in c.members.dropFirst() {
                let n = nodes[m]!
                if n.replicas[c.id]!.applied != first.replicas[c.id]!.applied { outcome.failures.append("chain \(c.id): applied differs at \(m)") }
                if n.data[c.id]! != first.data[c.id]! { outcome.failures.append("chain \(c.id): content differs at \(m)") }
                if n.log[c.id]! != first.log[c.id]! { outcome.failures.append("chain \(c.id): history differs at \(m)") }
            }
            for m in c.members where nodes[m]!.replicas[c.id]!.waitingCount != 0 || !nodes[m]!.replicas[c.id]!.unacked.isEmpty {
                outcome.failures.append("chain \(c.id): \(m) still has waiting or unacknowledged updates")
            }
        }
        for (p, seq) in acked {
            for m in layout[p.chain].members {
                let log = nodes[m]!.log[p.chain]!
                if seq > log.count || log[Int(seq) - 1].mutations != [.put(key: p.key, value: p.value)] {
                    outcome.failures.append("acknowledged write \(String(decoding: p.value, as: UTF8.self)) missing at \(m)")
                }
            }
        }
        return outcome
    }

    func testManySeeds() {
        let seeds = UInt64(ProcessInfo.processInfo.environment["CHAIN_SIM_SEEDS"].flatMap(Int.init) ?? 20)
        for seed in 0..<seeds {
            let o = run(seed: seed)
            XCTAssert(o.failures.isEmpty, "seed \(seed) (replay: run(seed: \(seed))): \(o.failures.prefix(5))")
            if !o.failures.isEmpty { break }
        }
    }

    func testShapes() {
        // Single-member chains, two-member chains, long chains, one chain.
        for (n, c, r) in [(1, 4, 1), (2, 6, 2), (6, 6, 5), (3, 1, 3)] {
            let o = run(seed: 7, nodes: n, chains: c, replication: r, clients: 8, writesPerClient: 60)
            XCTAssert(o.failures.isEmpty, "nodes \(n) chains \(c) R \(r): \(o.failures.prefix(5))")
        }
    }

    /// The checks must be able to fail: a replica that answers before the tail persisted is caught.
    func testDetectsEarlyReply() {
        var r = ChainReplica(chain: 0, me: "a", epoch: 1, members: ["a", "b"], applied: 0)
        _ = try! r.onClientWrite(mutations: [], tag: nil, reply: [], token: 1)
        XCTAssertEqual(r.onPersisted(upTo: 1), [], "the head alone persisting is not a commit")
        XCTAssertEqual(r.onAck(from: "b", epoch: 1, seq: 1), [.committed(token: 1, seq: 1)])
        XCTAssertEqual(r.onAck(from: "c", epoch: 1, seq: 1), [], "acks from a non-successor are ignored")
    }
}

import Foundation
