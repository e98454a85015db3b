import XCTest
@testable import ChainCore

/// A clean whole-cluster stop and start: drain, stop without splices, come back without copies.
final class MasterMaintenanceTests: XCTestCase {
    private let settings = MasterPolicy.Settings(leaseMs: 2000, heartbeatMs: 500)
    private let ids = ["a", "b", "c", "d"]

    private func node(_ id: String) -> NodeInfo { NodeInfo(id: id, client: id + ":1", peer: id + ":2", http: id + ":3") }

    private func settle(_ p: inout MasterPolicy, _ effects: [MasterPolicy.Effect]) {
        for case let .persist(v) in effects { settle(&p, p.onSaved(v)) }
    }

    /// Heartbeats from `nodes` reporting every chain they are in at `applied(node, chain)`.
    private func heartbeat(_ p: inout MasterPolicy, _ nodes: [String], now: UInt64, applied: (String, ChainID) -> UInt64 = { _, _ in 10 }) {
        for id in nodes {
            let chains = p.publishedConfig!.chains.filter { $0.members.contains(id) }.map {
                MasterAPI.ChainProgress(id: $0.id, role: "middle", applied: applied(id, $0.id), committed: applied(id, $0.id), linked: true)
            }
            settle(&p, p.onHeartbeat(MasterAPI.Heartbeat(id: id, epoch: p.publishedEpoch, chains: chains), now: now).1)
        }
    }

    private func run(_ p: inout MasterPolicy, _ now: inout UInt64, seconds: Double, nodes: [String]? = nil,
                     applied: (String, ChainID) -> UInt64 = { _, _ in 10 }) {
        let end = now + UInt64(seconds * 1000)
        while now < end {
            now += 500
            heartbeat(&p, nodes ?? ids, now: now, applied: applied)
            settle(&p, p.onTick(now: now))
        }
    }

    /// A formed, settled four-node cluster, stopped: drained at sequence 10 everywhere.
    private func stopped(_ now: inout UInt64) -> MasterPolicy {
        var p = MasterPolicy(state: MasterState(replication: 3, chains: 8, initialNodes: 4, clusterID: "c1"), settings: settings,
                             now: now, leading: true)
        for id in ids { settle(&p, p.onRegister(node(id), lastConfig: nil, boot: "boot1-\(id)", now: now).1) }
        run(&p, &now, seconds: 3)
        let (r, fx) = p.onStopCluster(now: now)
        settle(&p, fx)
        guard case let .maintenance(m) = r.reply else { XCTFail("\(r.reply)"); return p }
        XCTAssertEqual(m.phase, "draining")
        XCTAssert(p.publishedConfig!.chains.allSatisfy { $0.frozen == m.epoch }, "every chain refuses writes")
        XCTAssertEqual(p.publishedConfig!.stopped, true, "the nodes learn that the cluster stops (writes refused, not held)")
        XCTAssertEqual(p.statusReport(now: now).maintenance, "draining")
        run(&p, &now, seconds: 1)
        XCTAssertEqual(p.state.stop?.phase, .stopped)
        XCTAssertEqual(p.state.stop?.positions, Array(repeating: 10, count: 8))
        return p
    }

    func testStoppedMembersComeBackAndKeepTheirChains() throws {
        var now: UInt64 = 1000
        var p = stopped(&now)
        let members = p.publishedConfig!.chains.map(\.members)
        let epoch = p.publishedEpoch
        // Every process stops for a while: nobody is declared failed, nothing moves.
        for _ in 0..<40 { now += 500; settle(&p, p.onTick(now: now)) }
        XCTAssertEqual(p.publishedEpoch, epoch)
        XCTAssertEqual(p.state.failed ?? [], [])
        // They start again (new processes): registering keeps them in their chains.
        for id in ids { settle(&p, p.onRegister(node(id), lastConfig: p.publishedConfig, boot: "boot2-\(id)", now: now).1) }
        XCTAssertEqual(p.publishedConfig!.chains.map(\.members), members, "a registration while stopped is no restart")
        // Registered but not reported yet: the start waits for them.
        guard case let .refused(409, why) = p.onStartCluster(force: false, now: now).0.reply else { return XCTFail() }
        XCTAssert(why.contains("have not come back"), why)
        heartbeat(&p, ids, now: now)
        let (r, fx) = p.onStartCluster(force: false, now: now)
        settle(&p, fx)
        guard case let .maintenance(m) = r.reply else { return XCTFail("\(r.reply)") }
        XCTAssertEqual(m.phase, "running")
        XCTAssertNil(m.rejoining)
        XCTAssertNil(p.state.stop)
        XCTAssertEqual(p.publishedConfig!.chains.map(\.members), members, "nobody lost a place: nothing is copied")
        XCTAssert(p.publishedConfig!.chains.allSatisfy { $0.frozen == nil && $0.joining == nil })
        XCTAssertNil(p.publishedConfig!.stopped)
        run(&p, &now, seconds: 3)
        XCTAssert(p.statusReport(now: now).healthy, "\(p.statusReport(now: now).problems)")
        XCTAssertFalse(p.publishedConfig!.chains.contains { $0.joining != nil }, "no chain is copied after the start")
    }

    func testAMemberThatLostItsDataRejoinsItsChains() throws {
        var now: UInt64 = 1000
        var p = stopped(&now)
        let ofA = p.publishedConfig!.chains.filter { $0.members.contains("a") }.map(\.id)
        heartbeat(&p, ids, now: now) { id, _ in id == "a" ? 4 : 10 }
        let (r, fx) = p.onStartCluster(force: false, now: now)
        settle(&p, fx)
        guard case let .maintenance(m) = r.reply else { return XCTFail("\(r.reply)") }
        XCTAssertEqual(m.rejoining?["a"]?.sorted(), ofA)
        XCTAssertFalse(p.publishedConfig!.chains.contains { $0.members.contains("a") })
        // The master repairs it like a restarted node: it joins its chains again.
        run(&p, &now, seconds: 2) { id, _ in id == "a" ? 4 : 10 }
        XCTAssert(p.publishedConfig!.chains.contains { $0.joining == "a" }, "a is copied back")
    }

    func testAMissingMemberHoldsTheStartUnlessForced() throws {
        var now: UInt64 = 1000
        var p = stopped(&now)
        now += 5000
        heartbeat(&p, ["a", "b", "c"], now: now)
        guard case let .refused(409, why) = p.onStartCluster(force: false, now: now).0.reply else { return XCTFail() }
        XCTAssert(why.contains("d"), why)
        XCTAssertEqual(p.state.stop?.phase, .stopped, "still stopped")
        let (r, fx) = p.onStartCluster(force: true, now: now)
        settle(&p, fx)
        guard case .maintenance = r.reply else { return XCTFail("\(r.reply)") }
        XCTAssertFalse(p.publishedConfig!.chains.contains { $0.members.contains("d") })
        XCTAssertEqual(p.state.failed, ["d"])
    }

    func testBadRequests() {
        var now: UInt64 = 1000
        var p = MasterPolicy(state: MasterState(replication: 3, chains: 8, initialNodes: 4), settings: settings, now: now, leading: true)
        guard case .refused(409, _) = p.onStopCluster(now: now).0.reply else { return XCTFail("no table yet") }
        p = stopped(&now)
        guard case let .refused(409, twice) = p.onStopCluster(now: now).0.reply else { return XCTFail() }
        XCTAssert(twice.contains("already"), twice)
        heartbeat(&p, ids, now: now)
        settle(&p, p.onStartCluster(force: false, now: now).1)
        guard case let .refused(409, running) = p.onStartCluster(force: false, now: now).0.reply else { return XCTFail() }
        XCTAssert(running.contains("not stopped"), running)
    }

    /// A member that dies while the chains drain is still spliced (a dead member cannot drain),
    /// and the stop completes without it.
    func testAFailureWhileDrainingIsHandled() {
        var now: UInt64 = 1000
        var p = MasterPolicy(state: MasterState(replication: 3, chains: 8, initialNodes: 4, clusterID: "c1"), settings: settings,
                             now: now, leading: true)
        for id in ids { settle(&p, p.onRegister(node(id), lastConfig: nil, now: now).1) }
        run(&p, &now, seconds: 3)
        settle(&p, p.onStopCluster(now: now).1)
        run(&p, &now, seconds: 4, nodes: ["a", "b", "c"], applied: { _, _ in 10 })
        XCTAssertEqual(p.state.failed, ["d"])
        XCTAssertEqual(p.state.stop?.phase, .stopped)
    }
}
