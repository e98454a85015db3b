import XCTest
@testable import ChainCore

/// The whole cluster's real cores under faults (`NodeClusterSim`), many seeds; and each
/// safeguard switched off in turn, which must make some seed fail.
final class NodeSimulationTests: XCTestCase {
    static var seeds: UInt64 { UInt64(ProcessInfo.processInfo.environment["CHAIN_SIM_SEEDS"].flatMap(Int.init) ?? 300) }

    func failures(seed: UInt64, _ settings: NodeClusterSim.Settings = .init()) -> [String] {
        var sim = NodeClusterSim(seed: seed, settings)
        return sim.run()
    }

    func testReadsAndWritesStayLinearizableUnderFaults() {
        if let s = ProcessInfo.processInfo.environment["SIM_REPLAY_SEED"].flatMap(UInt64.init) {
            return XCTAssertEqual(failures(seed: s), [], "seed \(s)")
        }
        for seed in 1...Self.seeds {
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
