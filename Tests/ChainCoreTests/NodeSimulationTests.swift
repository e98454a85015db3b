import XCTest
@testable import ChainCore

/// The whole cluster's real cores under faults (`NodeClusterSim`), many seeds; and each
/// safeguard switched off in turn, which must make some seed fail.
final class NodeSimulationTests: XCTestCase {
    static var seeds: UInt64 { UInt64(ProcessInfo.processInfo.environment["CHAIN_SIM_SEEDS"].flatMap(Int.init) ?? 300) }
    /// Where the seeds start (1 in CI); a long exploration sets it past the seeds CI runs.
    static var firstSeed: UInt64 { ProcessInfo.processInfo.environment["CHAIN_SIM_FIRST_SEED"].flatMap(UInt64.init) ?? 1 }

    /// `count` seeds from `firstSeed` on.
    static func seedRange(_ count: UInt64) -> ClosedRange<UInt64> { firstSeed...(firstSeed + count - 1) }

    func failures(seed: UInt64, _ settings: NodeClusterSim.Settings = .init()) -> [String] {
        var sim = NodeClusterSim(seed: seed, settings)
        return sim.run()
    }

    func testReadsAndWritesStayLinearizableUnderFaults() {
        if let s = ProcessInfo.processInfo.environment["SIM_REPLAY_SEED"].flatMap(UInt64.init) {
            return XCTAssertEqual(failures(seed: s), [], "seed \(s)")
        }
        for seed in Self.seedRange(Self.seeds) {
            let f = failures(seed: seed)
            XCTAssertEqual(f, [], "seed \(seed)")
            if !f.isEmpty { break }
        }
    }
}

extension NodeSimulationTests {
    /// The first of `limit` seeds that fails with `safeguard` switched off, if any.
    func firstFailingSeed(without safeguard: NodeCore.Safeguard, limit: UInt64 = 400) -> UInt64? {
        var settings = NodeClusterSim.Settings()
        settings.disabled = [safeguard]
        return (1...limit).first { !failures(seed: $0, settings).isEmpty }
    }

    /// A node whose lease ran out (paused, or cut from the master, and spliced out meanwhile)
    /// serving a client that still routes by the old configuration returns stale data.
    func testWithoutTheLeaseCheckAStaleTailIsCaught() {
        XCTAssertNotNil(firstFailingSeed(without: .leaseCheck))
    }

    /// A promoted joiner serving before the old tail has stopped is caught.
    func testWithoutThePromotedTailsBarrierAStaleReadIsCaught() {
        XCTAssertNotNil(firstFailingSeed(without: .barrier))
    }

    /// Updates not sent again to a new successor (or over a link that came back) are lost or
    /// stall the chain.
    func testWithoutResendingUnacknowledgedUpdatesTheRunFails() {
        XCTAssertNotNil(firstFailingSeed(without: .resend, limit: 20))
    }
}

/// The cluster simulation's other fault mixes.
extension NodeSimulationTests {
    func runSeeds(_ settings: NodeClusterSim.Settings, seeds: UInt64 = 60, file: StaticString = #filePath, line: UInt = #line) {
        for seed in Self.seedRange(seeds) {
            let f = failures(seed: seed, settings)
            XCTAssertEqual(f, [], "seed \(seed)", file: file, line: line)
            if !f.isEmpty { break }
        }
    }

    /// Nodes crash and come back with what their store had persisted: quickly (the master
    /// takes the restarted process out and lets it rejoin) or after being spliced out (it
    /// returns with a copy that may end in updates that never committed); they catch up with
    /// the suffix they lack or a snapshot.
    func testRestartedNodesRejoinAndCatchUp() {
        var s = NodeClusterSim.Settings()
        s.crashes = 0
        s.restarts = 2
        var suffixes = 0, snapshots = 0
        for seed in Self.seedRange(80) {
            var sim = NodeClusterSim(seed: seed, s)
            let f = sim.run()
            XCTAssertEqual(f, [], "seed \(seed)")
            if !f.isEmpty { break }
            suffixes += sim.suffixCatchUps
            snapshots += sim.snapshotCatchUps
        }
        // Both ways of catching up must occur over the seeds, or this tests nothing.
        XCTAssertGreaterThan(suffixes, 10, "suffix catch-ups")
        XCTAssertGreaterThan(snapshots, 10, "snapshot catch-ups")
    }

    /// Chains of one, two and five members, and a single chain.
    func testChainShapes() {
        for (nodes, chains, replication) in [(1, 4, 1), (2, 6, 2), (6, 6, 5), (3, 1, 3)] {
            var s = NodeClusterSim.Settings()
            s.nodes = nodes
            s.initialNodes = nodes
            s.chains = chains
            s.replication = replication
            s.crashes = nodes > 2 ? 1 : 0
            s.linkCuts = nodes > 1 ? 1 : 0
            s.pauses = 0
            s.masterCuts = 0
            runSeeds(s, seeds: 10)
        }
    }

    /// A link cut for good between two live neighbours: both report it, the master splices one
    /// of them out, and it rejoins once the cut heals.
    func testPermanentLinkCutsAreResolvedBySplicing() {
        var s = NodeClusterSim.Settings()
        s.permanentCuts = 1
        runSeeds(s)
    }

    /// Frames lost while their link stays up: the stall check sends them again.
    func testSilentlyDroppedFramesAreSentAgain() {
        var s = NodeClusterSim.Settings()
        s.silentDropPercent = 3
        runSeeds(s)
    }

    /// An operator drains a node and adds one while clients read and write and nodes fail or
    /// restart (a restarted tail that had just taken over from a live node rejoins the chain).
    func testDrainAndAddUnderLoad() {
        var s = NodeClusterSim.Settings()
        s.drains = 1
        s.adds = 1
        s.restarts = 1
        runSeeds(s)
    }
}
