import XCTest
@testable import ChainCore

/// The master's policy as a pure state machine: time is an input, effects are the output.
final class MasterPolicyTests: XCTestCase {
    private let settings = MasterPolicy.Settings(leaseMs: 2000, heartbeatMs: 500)
    private let ids = ["a", "b", "c", "d"]

    private func node(_ id: String) -> NodeInfo { NodeInfo(id: id, client: id + ":1", peer: id + ":2", http: id + ":3") }

    /// A leading policy with a formed table of four nodes (every save made durable at once),
    /// past its start-up quiet period, every node heard at `now`.
    private func formed(now: inout UInt64) -> MasterPolicy {
        var p = MasterPolicy(state: MasterState(replication: 3, chains: 8, initialNodes: 4, clusterID: "c1"), settings: settings,
                             now: now, leading: true)
        for id in ids { settle(&p, p.onRegister(node(id), lastConfig: nil, now: now).1) }
        now += 2100
        heartbeatAll(&p, now: now)
        settle(&p, p.onTick(now: now))
        return p
    }

    /// Makes every save durable, as a store that answers at once would.
    private func settle(_ p: inout MasterPolicy, _ effects: [MasterPolicy.Effect]) {
        for case let .persist(v) in effects { settle(&p, p.onSaved(v)) }
    }

    private func heartbeatAll(_ p: inout MasterPolicy, now: UInt64, except: Set<String> = [], unreachable: [String: [(String, Int)]] = [:]) {
        for id in ids where !except.contains(id) {
            let u = unreachable[id] ?? []
            let hb = MasterAPI.Heartbeat(id: id, epoch: p.publishedEpoch, chains: [], unreachable: u.isEmpty ? nil : u.map(\.0),
                                         unreachableForMs: u.isEmpty ? nil : u.map(\.1))
            settle(&p, p.onHeartbeat(hb, now: now).1)
        }
    }

    /// Runs `seconds` of normal operation: heartbeats every 500 ms, ticks every 500 ms.
    private func run(_ p: inout MasterPolicy, from now: inout UInt64, seconds: Double, except: Set<String> = [],
                     unreachable: [String: [(String, Int)]] = [:]) {
        let end = now + UInt64(seconds * 1000)
        while now < end {
            now += 500
            heartbeatAll(&p, now: now, except: except, unreachable: unreachable)
            settle(&p, p.onTick(now: now))
        }
    }

    func testFormsTableAndSplicesASilentNode() {
        var now: UInt64 = 1000
        var p = formed(now: &now)
        XCTAssertEqual(p.publishedEpoch, 1)
        run(&p, from: &now, seconds: 5)
        XCTAssertEqual(p.publishedEpoch, 1, "healthy: nothing changes")
        run(&p, from: &now, seconds: 3, except: ["b"])
        XCTAssertEqual(p.state.failed, ["b"])
        XCTAssertFalse(p.state.config!.chains.contains { $0.members.contains("b") })
    }

    /// Regression: a master stopped (SIGSTOP, a VM pause) for 1.5× or 3× the lease declared every
    /// node failed at once when it resumed, because its tick ran before the heartbeats queued
    /// meanwhile were read. It must notice its own stall and give the nodes a lease first.
    func testOwnStallDeclaresNobodyFailed() {
        for stall in [UInt64(3000), 6000] {
            var now: UInt64 = 1000
            var p = formed(now: &now)
            run(&p, from: &now, seconds: 2)
            let epoch = p.publishedEpoch
            now += stall  // nothing happened meanwhile: this master was stopped
            let effects = p.onTick(now: now)
            XCTAssertFalse(effects.contains { if case .persist = $0 { return true }; return false }, "stall \(stall): no change at the first tick")
            XCTAssert(effects.contains(.count(.stallsDetected, 1)))
            // The queued heartbeats are read now, and everything goes on.
            heartbeatAll(&p, now: now)
            run(&p, from: &now, seconds: 5)
            XCTAssertEqual(p.publishedEpoch, epoch, "stall \(stall): the epoch does not move")
            XCTAssertEqual(p.state.failed ?? [], [])
        }
    }

    /// A node that really died during the stall is still spliced, a lease after the stall.
    func testNodeThatDiedDuringTheStallIsSplicedAfterTheGrace() {
        var now: UInt64 = 1000
        var p = formed(now: &now)
        now += 4000
        settle(&p, p.onTick(now: now))
        run(&p, from: &now, seconds: 1.5, except: ["c"])
        XCTAssertEqual(p.state.failed ?? [], [], "within the grace")
        run(&p, from: &now, seconds: 1.5, except: ["c"])
        XCTAssertEqual(p.state.failed, ["c"])
    }

    /// Regression: a link cut between two live chain neighbours stalled their chains for three
    /// leases. Now the nodes report it after three quarters of a lease and the master resolves it at its next
    /// tick — once the reported peer has proven alive after the cut.
    func testCutLinkBetweenLiveNeighboursIsResolvedQuickly() throws {
        var now: UInt64 = 1000
        var p = formed(now: &now)
        let chain = try XCTUnwrap(p.state.config!.chains.first { $0.members.count == 3 })
        let (x, y) = (chain.members[0], chain.members[1])
        let epoch = p.publishedEpoch
        // The cut happens now; the nodes report it from 1500 ms on (three quarters of a lease).
        let cutAt = now
        var resolvedAfter: UInt64?
        for _ in 0..<10 where resolvedAfter == nil {
            now += 500
            let down = Int(now - cutAt)
            heartbeatAll(&p, now: now, unreachable: down >= 1500 ? [x: [(y, down)], y: [(x, down)]] : [:])
            settle(&p, p.onTick(now: now))
            if p.publishedEpoch > epoch { resolvedAfter = now - cutAt }
        }
        let after = try XCTUnwrap(resolvedAfter, "the cut was never resolved")
        XCTAssertLessThanOrEqual(after, 2500, "resolved \(after) ms after the cut (target: writes flow again within 3 s)")
        XCTAssertEqual(p.state.failed?.count, 1)
        XCTAssert([x, y].contains(p.state.failed![0]))
    }

    /// A neighbour that died looks like a cut link to the survivor; the master must splice the
    /// dead node (after its lease), never the survivor that reported it.
    func testDeadNeighbourIsNotMistakenForACut() throws {
        var now: UInt64 = 1000
        var p = formed(now: &now)
        let chain = try XCTUnwrap(p.state.config!.chains.first { $0.members.count == 3 })
        let (x, dead) = (chain.members[0], chain.members[1])
        let diedAt = now
        for _ in 0..<8 {
            now += 500
            let down = Int(now - diedAt)
            heartbeatAll(&p, now: now, except: [dead], unreachable: down >= 1500 ? [x: [(dead, down)]] : [:])
            settle(&p, p.onTick(now: now))
        }
        XCTAssertEqual(p.state.failed, [dead])
    }

    func testStandbyAnswersWithTheLeaderAndTakesOverQuietly() {
        var p = MasterPolicy(state: MasterState(replication: 3, chains: 8, initialNodes: 4), settings: settings, now: 0, leading: false)
        XCTAssertEqual(p.onStandby(leader: "10.0.0.1:7000"), [])
        let hb = MasterAPI.Heartbeat(id: "a", epoch: 0, chains: [])
        XCTAssertEqual(p.onHeartbeat(hb, now: 10).0.reply, .notLeader(leader: "10.0.0.1:7000"))
        XCTAssertEqual(p.onTick(now: 500), [])
        // The leader died; this master wins with the state the store holds.
        var now: UInt64 = 1000
        var leader = formed(now: &now)
        let stored = leader.state
        let effects = p.onLeadership(until: now + 800, begins: true, loaded: stored, now: now)
        XCTAssert(effects.contains(.published(stored.epoch)))
        XCTAssertEqual(p.publishedEpoch, stored.epoch)
        // Nobody has heartbeated to it yet: still, nobody is declared failed for a lease.
        for t in stride(from: now + 500, to: now + 2000, by: 500) {
            _ = p.onLeadership(until: t + 800, begins: false, loaded: nil, now: t)
            XCTAssertEqual(p.onTick(now: t), [], "quiet at \(t - now) ms")
        }
        XCTAssertEqual(p.state.failed ?? [], [])
        _ = leader.onTick(now: now)
    }

    /// Leadership runs out on this master's own clock: past `until` it refuses and does nothing,
    /// though it was never told it lost.
    func testLapsedLeadershipActsOnNothing() {
        var p = MasterPolicy(state: MasterState(replication: 3, chains: 8, initialNodes: 4), settings: settings, now: 0, leading: false)
        _ = p.onLeadership(until: 1000, begins: true, loaded: nil, now: 0)
        XCTAssertTrue(p.leads(at: 999))
        XCTAssertFalse(p.leads(at: 1000))
        let (r, e) = p.onRegister(node("a"), lastConfig: nil, now: 1500)
        XCTAssertEqual(r.reply, .refused(status: 503, reason: "this master's leadership lapsed; retry shortly"))
        XCTAssertEqual(e, [])
        XCTAssertEqual(p.onTick(now: 1500), [])
    }

    /// Saves are published in order, and only once durable; a failed save is made again.
    func testPublishesOnlyDurableConfigurations() {
        var p = MasterPolicy(state: MasterState(replication: 3, chains: 6, initialNodes: 3), settings: settings, now: 0, leading: true)
        var versions: [Int] = []
        for id in ["a", "b", "c"] {
            for case let .persist(v) in p.onRegister(node(id), lastConfig: nil, now: 10).1 { versions.append(v) }
        }
        XCTAssertEqual(p.publishedEpoch, 0, "nothing durable yet")
        XCTAssertNil(p.leaseReply(knownEpoch: 0).config)
        XCTAssert(p.onSaveFailed(versions.last!, error: "disk").contains { if case .log(.error, _, _) = $0 { return true }; return false })
        XCTAssertEqual(p.publishedEpoch, 0)
        let retry = p.onTick(now: 600)
        guard case let .persist(v)? = retry.first(where: { if case .persist = $0 { return true }; return false }) else {
            return XCTFail("the failed save is made again at the next tick: \(retry)")
        }
        XCTAssert(p.onSaved(v).contains(.published(1)))
        XCTAssertEqual(p.leaseReply(knownEpoch: 0).config?.epoch, 1)
    }

    /// A node holding another cluster's table is refused, never merged.
    func testNodeOfAnotherClusterIsRefused() {
        var now: UInt64 = 1000
        var p = formed(now: &now)
        var foreign = p.state.config!
        foreign.cluster = "someone-else"
        let (r, _) = p.onRegister(node("zz"), lastConfig: foreign, now: now)
        guard case let .refused(409, reason) = r.reply else { return XCTFail("\(r)") }
        XCTAssert(reason.contains("another cluster"), reason)
        XCTAssertFalse(p.state.nodes.contains { $0.id == "zz" })
    }
}
