import XCTest
@testable import ChainCore

/// What the node core says for `/healthz` and `/readyz`, and the log lines of a lease lapse.
final class NodeCoreHealthTests: XCTestCase {
    let nodes = ["n1", "n2", "n3", "n4"].map { NodeInfo(id: $0, client: "", peer: "", http: "") }

    func config(_ epoch: Epoch, _ chains: [ChainConfig]) -> Configuration {
        Configuration(epoch: epoch, replication: 3, nodes: nodes, chains: chains)
    }

    func logs(_ effects: NodeCore.Effects) -> [String] {
        effects.compactMap { if case let .log(m, _) = $0 { return m } else { return nil } }
    }

    func testNothingIsServedWithoutConfigurationOrLease() {
        var core = NodeCore(me: "n1")
        var fx = NodeCore.Effects()
        XCTAssertEqual(core.outage(at: 0), .noConfiguration)
        XCTAssertEqual(core.unready(at: 0), .down(.noConfiguration))
        core.install(config(1, [ChainConfig(id: 0, members: ["n1", "n2", "n3"])]), now: 0, &fx)
        XCTAssertEqual(core.outage(at: 10), .noLease(expiredMs: 10), "a configuration without a lease serves nothing")
        core.renewLease(until: 1_000, leaseMs: 1_000, now: 10, &fx)
        XCTAssertNil(core.outage(at: 999))
        XCTAssertNil(core.unready(at: 999))
        XCTAssertEqual(core.outage(at: 1_250), .noLease(expiredMs: 250))
        XCTAssertEqual(core.unready(at: 1_250), .down(.noLease(expiredMs: 250)))
    }

    func testReadinessNamesSpareJoiningAndBarrier() {
        var core = NodeCore(me: "n4")
        var fx = NodeCore.Effects()
        core.renewLease(until: 1_000_000, leaseMs: 1_000, now: 0, &fx)
        core.install(config(1, [ChainConfig(id: 0, members: ["n1", "n2", "n3"])]), now: 0, &fx)
        XCTAssertNil(core.outage(at: 1), "a spare serves (it forwards)")
        XCTAssertEqual(core.unready(at: 1), .spare)

        core.install(config(2, [ChainConfig(id: 0, members: ["n1", "n2", "n3"], joining: "n4"),
                                ChainConfig(id: 1, members: ["n2", "n3", "n1"])]), now: 2, &fx)
        XCTAssertEqual(core.unready(at: 3), .joining([0]))

        var other = NodeCore(me: "n9")
        other.renewLease(until: 1_000_000, leaseMs: 1_000, now: 0, &fx)
        other.install(config(1, [ChainConfig(id: 0, members: ["n1"])]), now: 0, &fx)
        XCTAssertEqual(other.unready(at: 1), .spare, "a registered node the configuration does not name yet")

        // n3 becomes the tail while n1, the old tail, is still alive: reads wait for its barrier.
        var tail = NodeCore(me: "n3")
        tail.renewLease(until: 1_000_000, leaseMs: 1_000, now: 0, &fx)
        tail.install(config(5, [ChainConfig(id: 0, members: ["n2", "n1", "n3"], stepsDown: "n1")]), now: 100, &fx)
        XCTAssertEqual(tail.unready(at: 101), .awaitingBarrier([0]))
        XCTAssertNil(tail.unready(at: 100 + 1_000), "one lease later the old tail has certainly stopped")
    }

    /// A write to a chain frozen for a reorder waits up to a lease, then is refused; a stopped
    /// cluster refuses it at once; an open chain takes it.
    func testWritesToAFrozenChainWaitThenAreRefused() {
        var core = NodeCore(me: "n1")
        var fx = NodeCore.Effects()
        core.renewLease(until: 1_000_000, leaseMs: 1_000, now: 0, &fx)
        core.install(config(1, [ChainConfig(id: 0, members: ["n1", "n2", "n3"]), ChainConfig(id: 1, members: ["n2", "n3", "n1"])]), now: 0, &fx)
        XCTAssertEqual(core.frozenWrite(0, waitingSince: nil, now: 5), .open)
        core.install(config(2, [ChainConfig(id: 0, members: ["n1", "n2", "n3"], frozen: 2), ChainConfig(id: 1, members: ["n2", "n3", "n1"])]), now: 10, &fx)
        XCTAssertEqual(core.frozenWrite(0, waitingSince: nil, now: 10), .wait)
        XCTAssertEqual(core.frozenWrite(0, waitingSince: 10, now: 1_009), .wait)
        XCTAssertEqual(core.frozenWrite(0, waitingSince: 10, now: 1_010), .refuse(.stillReordering), "a lease is the most a write waits")
        XCTAssertEqual(core.frozenWrite(1, waitingSince: nil, now: 10), .open, "only the frozen chain waits")
        XCTAssertEqual(core.frozenWrite(7, waitingSince: nil, now: 10), .open, "a chain the configuration lacks is routed (and refused) elsewhere")
        var stop = config(3, [ChainConfig(id: 0, members: ["n1", "n2", "n3"], frozen: 3), ChainConfig(id: 1, members: ["n2", "n3", "n1"], frozen: 3)])
        stop.stopped = true
        core.install(stop, now: 20, &fx)
        XCTAssertEqual(core.frozenWrite(1, waitingSince: nil, now: 20), .refuse(.clusterStopped))
        core.install(config(4, [ChainConfig(id: 0, members: ["n2", "n3", "n1"]), ChainConfig(id: 1, members: ["n2", "n3", "n1"])]), now: 30, &fx)
        XCTAssertEqual(core.frozenWrite(0, waitingSince: 10, now: 30), .open, "a reopened chain takes the held write")
    }

    func testALeaseLapseIsLoggedOnceEachWay() {
        var core = NodeCore(me: "n1")
        var fx = NodeCore.Effects()
        core.renewLease(until: 1_000, leaseMs: 1_000, now: 0, &fx)
        XCTAssertEqual(logs(fx), ["lease granted by the master"])
        fx.removeAll()
        core.renewLease(until: 1_500, leaseMs: 1_000, now: 500, &fx)
        core.watchLease(now: 1_000, &fx)
        XCTAssertEqual(logs(fx), [], "renewals and checks while the lease holds say nothing")
        core.watchLease(now: 1_600, &fx)
        core.watchLease(now: 1_700, &fx)
        XCTAssertEqual(logs(fx), ["lease expired: this node refuses every request until the master renews it"])
        fx.removeAll()
        core.renewLease(until: 1_650, leaseMs: 1_000, now: 1_800, &fx)
        XCTAssertEqual(logs(fx), [], "a reply sent before the lapse that arrives after it is no renewal")
        core.renewLease(until: 2_800, leaseMs: 1_000, now: 1_800, &fx)
        XCTAssertEqual(logs(fx), ["lease renewed after a lapse: serving again"])
        guard case let .log(_, meta)? = fx.last else { return XCTFail() }
        XCTAssertEqual(meta["lapsed_ms"], "150")
    }
}
