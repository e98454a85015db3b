import XCTest
@testable import ChainCore

/// The master's membership decisions on their own (the simulations drive them under load).
final class MasterStateTests: XCTestCase {
    private func formed(_ ids: [String], replication: Int = 3, chains: Int = 6) -> MasterState {
        var m = MasterState(replication: replication, chains: chains, initialNodes: ids.count)
        for id in ids { _ = try! m.register(NodeInfo(id: id, client: id + ":1", peer: id + ":2", http: id + ":3")) }
        return m
    }

    func testAddRefusesUnknownFailedAndUnformed() throws {
        var early = MasterState(replication: 3, chains: 3, initialNodes: 3)
        _ = try early.register(NodeInfo(id: "a", client: "a1", peer: "a2", http: "a3"))
        XCTAssertThrowsError(try early.add("a")) { XCTAssertEqual($0 as? MasterState.AddError, .notFormed) }
        var m = formed(["a", "b", "c"])
        XCTAssertThrowsError(try m.add("zz")) { XCTAssertEqual($0 as? MasterState.AddError, .unknown("zz")) }
        _ = m.spliceOut(["c"])
        XCTAssertThrowsError(try m.add("c")) { XCTAssertEqual($0 as? MasterState.AddError, .failed("c")) }
        XCTAssertFalse(try m.add("a"), "already in the layout")
        try m.drain("b", alive: ["a", "b", "c", "d"])
        XCTAssertTrue(try m.add("b"), "adding a draining node cancels its drain")
        XCTAssertEqual(m.draining, [])
    }

    /// A reorder waits behind a freeze until the chain is quiescent, then publishes the order.
    func testReorderFreezesFirstAndWaitsForQuiescence() throws {
        var m = formed(["a", "b", "c"], chains: 3)
        // Force a role imbalance: every chain headed by a.
        m.config!.chains = m.config!.chains.map { ChainConfig(id: $0.id, members: ["a", "b", "c"]) }
        let alive: Set<NodeID> = ["a", "b", "c"]
        let e1 = try XCTUnwrap(m.converge(alive: alive, maxJoinsPerNode: 4, quiescent: { _ in false }))
        let frozen = m.config!.chains.filter { $0.frozen == e1 }
        XCTAssertEqual(frozen.count, 2, "two chains must change order; both freeze, none reorders yet")
        XCTAssertTrue(m.config!.chains.allSatisfy { $0.members == ["a", "b", "c"] })
        XCTAssertNil(m.converge(alive: alive, maxJoinsPerNode: 4, quiescent: { _ in false }), "nothing while not drained")
        _ = try XCTUnwrap(m.converge(alive: alive, maxJoinsPerNode: 4, quiescent: { _ in true }))
        XCTAssertTrue(m.config!.chains.allSatisfy { $0.frozen == nil })
        XCTAssertEqual(Set(m.config!.chains.map { $0.members.first! }), ["a", "b", "c"], "heads balanced")
        XCTAssertEqual(Set(m.config!.chains.map { $0.members.last! }), ["a", "b", "c"], "tails balanced")
    }

    /// A frozen chain whose membership changes (a member failed) is unfrozen, not reordered.
    func testFreezeIsOvertakenByAFailure() throws {
        var m = formed(["a", "b", "c", "d"], chains: 4)
        m.config!.chains[0].frozen = m.epoch
        _ = m.spliceOut([m.config!.chains[0].members[1]])
        _ = m.converge(alive: Set(["a", "b", "c", "d"]).subtracting(m.failed ?? []), maxJoinsPerNode: 4, quiescent: { _ in true })
        XCTAssertNil(m.config!.chains[0].frozen)
    }

    /// The target moved back to the order the frozen chain already has: the freeze ends (it
    /// used to stay, refusing the chain's writes for good).
    func testFreezeEndsWhenTheTargetNoLongerAsksForTheReorder() {
        var m = formed(["a", "b", "c", "d"], chains: 4)
        _ = m.converge(alive: ["a", "b", "c", "d"], maxJoinsPerNode: 4, quiescent: { _ in false })
        let i = m.config!.chains.indices.first { m.target?[$0] == m.config!.chains[$0].members }!
        m.config!.chains[i].frozen = m.epoch
        _ = m.converge(alive: ["a", "b", "c", "d"], maxJoinsPerNode: 4, quiescent: { _ in false })
        XCTAssertNil(m.config!.chains[i].frozen)
    }

    func testRestartedNodeLeavesChainsThatKeepALiveMember() {
        var m = formed(["a", "b", "c"], chains: 3)
        XCTAssertNotNil(m.restarted("a", alive: ["b", "c"]))
        XCTAssertFalse(m.members.contains("a"))
        XCTAssertNil(m.failed?.first, "not marked failed: it may rejoin")
        XCTAssertTrue(m.eligible.contains("a"))
        var alone = formed(["a", "b", "c"], chains: 3)
        XCTAssertNil(alone.restarted("a", alive: []), "no other live member: it stays (it may hold the only copy)")
    }

    func testFailedNodeHeardFromAgainIsEligible() {
        var m = formed(["a", "b", "c", "d"], chains: 4)
        _ = m.spliceOut(["d"])
        XCTAssertFalse(m.eligible.contains("d"))
        XCTAssertTrue(m.heardFrom("d"))
        XCTAssertFalse(m.heardFrom("d"), "only once")
        XCTAssertTrue(m.eligible.contains("d"))
    }

    /// Recovery: refused without --recover-nodes; with it, waits for N nodes and adopts the
    /// newest table they hold, 1000 epochs later; a fresh table is never formed meanwhile.
    func testRecoveryAdoptsTheNewestTableOnceEnoughNodesReported() throws {
        let old = formed(["a", "b", "c"], chains: 3)
        var newer = old.config!
        newer.epoch = 9
        newer.chains[0].members = ["b", "c", "a"]
        var m = MasterState(replication: 3, chains: nil, initialNodes: 3)
        let info = { (id: String) in NodeInfo(id: id, client: id + ":1", peer: id + ":2", http: id + ":3") }
        guard case let .refused(why) = m.recover(info("a"), lastConfig: old.config!, need: 0) else { return XCTFail("not refused") }
        XCTAssert(why.contains("--recover-nodes"), why)
        XCTAssertEqual(m.recover(info("a"), lastConfig: old.config!, need: 3), .waiting(have: 1, need: 3))
        XCTAssertEqual(m.recover(info("b"), lastConfig: newer, need: 3), .waiting(have: 2, need: 3))
        XCTAssertEqual(try m.register(info("fresh")), .recorded, "no fresh table while recovering")
        XCTAssertNil(m.config)
        XCTAssertEqual(m.recover(info("c"), lastConfig: old.config!, need: 3), .recovered(9 + MasterState.recoveryEpochGap))
        XCTAssertEqual(m.config?.chains.map(\.members), newer.chains.map(\.members))
        XCTAssertEqual(m.pool, ["a", "b", "c"])
        XCTAssertNil(m.recoveryHeard)
    }

    /// The dry-run plan reaches the target and is what converge does.
    func testPlanOfAnAddEndsBalancedAndChangesNothing() throws {
        var m = formed(["a", "b", "c"], chains: 12)
        _ = try m.register(NodeInfo(id: "d", client: "d1", peer: "d2", http: "d3"))
        try m.add("d")
        let before = m
        let steps = m.plan(alive: ["a", "b", "c", "d"], maxJoinsPerNode: 4)
        XCTAssertEqual(m, before, "planning changes nothing")
        XCTAssertEqual(steps.filter { $0.kind == .join }.count, 9, "d takes 9 of 36 positions")
        XCTAssertEqual(steps.filter { $0.kind == .join }.count, steps.filter { $0.kind == .promote }.count)
        XCTAssertEqual(steps.filter { $0.kind == .leave }.count, 9)
        XCTAssertTrue(steps.filter { $0.kind == .join }.allSatisfy { $0.node == "d" })
    }

    func testSpliceCutLinkPicksTheNodeCutFromTheMostPeers() {
        var m = MasterState(replication: 3, chains: 6, initialNodes: 4)
        for id in ["a", "b", "c", "d"] { _ = try! m.register(NodeInfo(id: id, client: id, peer: id + "p", http: id + "h")) }
        let all: Set<NodeID> = ["a", "b", "c", "d"]
        XCTAssertNil(m.spliceCutLink(unreachable: [:], alive: all))
        XCTAssertNil(m.spliceCutLink(unreachable: ["a": ["z"]], alive: all), "not a live neighbour")
        XCTAssertNil(m.spliceCutLink(unreachable: ["a": ["b"]], alive: ["a", "c", "d"]), "b is dead: failure detection's business")
        // c cannot reach a or b: c goes, not its neighbours.
        let picked = m.spliceCutLink(unreachable: ["c": ["a", "b"], "a": ["c"], "b": ["c"]], alive: all)
        XCTAssertEqual(picked?.node, "c")
        XCTAssertFalse(m.config!.chains.contains { $0.members.contains("c") })
        XCTAssertEqual(m.failed, ["c"])

        // A joiner cut from its tail goes, whatever the ids.
        var j = MasterState(replication: 2, chains: 2, initialNodes: 2)
        for id in ["b", "z"] { _ = try! j.register(NodeInfo(id: id, client: id, peer: id + "p", http: id + "h")) }
        _ = try! j.register(NodeInfo(id: "a", client: "a", peer: "ap", http: "ah"))
        _ = j.spliceOut(["b"])
        _ = j.heardFrom("b")
        _ = j.converge(alive: ["a", "b", "z"], maxJoinsPerNode: 2, quiescent: { _ in false })
        guard let chain = j.config!.chains.first(where: { $0.joining != nil }), let joiner = chain.joining, let tail = chain.tail else {
            return XCTFail("no join to test: \(j.config!.chains)")
        }
        XCTAssertEqual(j.spliceCutLink(unreachable: [tail: [joiner], joiner: [tail]], alive: ["a", "b", "z"])?.node, joiner)
    }

    func testSpliceOutIsOneStepPerChainAndKeepsTheLastMember() {
        var m = MasterState(replication: 3, chains: 3, initialNodes: 3)
        for id in ["a", "b", "c"] { _ = try! m.register(NodeInfo(id: id, client: id, peer: id + "p", http: id + "h")) }
        XCTAssertEqual(m.spliceOut(["a", "b"]), 2)
        XCTAssertEqual(m.config!.chains.map(\.members.count), [2, 2, 2], "one member per chain per epoch")
        XCTAssertEqual(m.spliceOut(["a", "b"]), 3)
        XCTAssertEqual(m.config!.chains.map(\.members), [["c"], ["c"], ["c"]])
        XCTAssertNil(m.spliceOut(["a", "b", "c"]), "the last member of a chain stays")
        XCTAssertEqual(m.config!.chains.map(\.members), [["c"], ["c"], ["c"]])
    }
}
