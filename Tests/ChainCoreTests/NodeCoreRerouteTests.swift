import XCTest
@testable import ChainCore

/// When a node routes again a request it forwarded and got back unexecuted (`NodeCore.reroute`),
/// and what a new tail does with reads before its old tail's barrier.
final class NodeCoreRerouteTests: XCTestCase {
    let nodes = ["n1", "n2", "n3"].map { NodeInfo(id: $0, client: "", peer: "", http: "") }

    /// A core at epoch 5 with a 1000 ms lease.
    func core() -> NodeCore {
        var core = NodeCore(me: "n1")
        var fx = NodeCore.Effects()
        core.renewLease(until: 1_000_000, leaseMs: 1_000, now: 0, &fx)
        core.install(Configuration(epoch: 5, replication: 3, nodes: nodes, chains: [ChainConfig(id: 0, members: ["n2", "n3", "n1"])]), now: 0, &fx)
        return core
    }

    func testAnOlderConfigurationWaitsForANewerOne() {
        let c = core()
        XCTAssertEqual(c.reroute(refusedAt: 6, attempts: 1, firstRefusedMs: 100, lastRefusedMs: 100, now: 100), .waitForConfiguration,
                       "the refusing node knows more: routing now would send it to the same place")
        XCTAssertEqual(c.reroute(refusedAt: 6, attempts: 1, firstRefusedMs: 100, lastRefusedMs: 100, now: 1_099), .waitForConfiguration)
        XCTAssertEqual(c.reroute(refusedAt: 6, attempts: 1, firstRefusedMs: 100, lastRefusedMs: 100, now: 1_100), .giveUp, "a lease at most")
    }

    func testTheFirstRefusalIsRoutedAtOnceLaterOnesAfterADelay() {
        let c = core()
        XCTAssertEqual(c.reroute(refusedAt: 5, attempts: 1, firstRefusedMs: 100, lastRefusedMs: 100, now: 100), .now)
        XCTAssertEqual(c.reroute(refusedAt: 4, attempts: 1, firstRefusedMs: 100, lastRefusedMs: 100, now: 100), .now)
        // Refused again under the same configuration (a new tail waiting for its barrier): not
        // in a tight loop.
        XCTAssertEqual(c.reroute(refusedAt: 5, attempts: 2, firstRefusedMs: 100, lastRefusedMs: 150, now: 150), .waitForConfiguration)
        XCTAssertEqual(c.reroute(refusedAt: 5, attempts: 2, firstRefusedMs: 100, lastRefusedMs: 150, now: 249), .waitForConfiguration)
        XCTAssertEqual(c.reroute(refusedAt: 5, attempts: 2, firstRefusedMs: 100, lastRefusedMs: 150, now: 250), .now)
        // A newer configuration than the refusal's: at once on the first retry, then paced, as
        // the refusing node may refuse again until it has that configuration too (ten tries at
        // once would all go within milliseconds).
        XCTAssertEqual(c.reroute(refusedAt: 4, attempts: 2, firstRefusedMs: 100, lastRefusedMs: 150, now: 150), .now)
        XCTAssertEqual(c.reroute(refusedAt: 4, attempts: 3, firstRefusedMs: 100, lastRefusedMs: 150, now: 150), .waitForConfiguration)
        XCTAssertEqual(c.reroute(refusedAt: 4, attempts: 3, firstRefusedMs: 100, lastRefusedMs: 150, now: 250), .now)
    }

    func testARequestThatNeverLeftWaitsTwoLeasesForTheNodeToBeSplicedOut() {
        let c = core()
        // Its node refused the connection: it waits for any newer configuration (epoch 6).
        XCTAssertEqual(c.reroute(refusedAt: 6, attempts: 1, firstRefusedMs: 100, lastRefusedMs: 100, now: 1_500, unreachable: true),
                       .waitForConfiguration)
        XCTAssertEqual(c.reroute(refusedAt: 6, attempts: 1, firstRefusedMs: 100, lastRefusedMs: 100, now: 2_099, unreachable: true),
                       .waitForConfiguration, "past a lease, still waiting")
        XCTAssertEqual(c.reroute(refusedAt: 6, attempts: 1, firstRefusedMs: 100, lastRefusedMs: 100, now: 2_100, unreachable: true), .giveUp)
        XCTAssertEqual(c.reroute(refusedAt: 5, attempts: 1, firstRefusedMs: 100, lastRefusedMs: 100, now: 1_500, unreachable: true), .now,
                       "the configuration it waited for is here")
    }

    func testTriesAreBounded() {
        let c = core()
        let max = NodeCore.maxForwardAttempts
        XCTAssertEqual(c.reroute(refusedAt: 4, attempts: max - 1, firstRefusedMs: 0, lastRefusedMs: 0, now: 100), .now)
        XCTAssertEqual(c.reroute(refusedAt: 4, attempts: max, firstRefusedMs: 0, lastRefusedMs: 0, now: 10), .giveUp)
        XCTAssertEqual(c.reroute(refusedAt: 4, attempts: 1, firstRefusedMs: 0, lastRefusedMs: 0, now: 1_000), .giveUp)
        // A clock that went back (first refusal "after" now) does not give up early.
        XCTAssertEqual(c.reroute(refusedAt: 4, attempts: 1, firstRefusedMs: 500, lastRefusedMs: 500, now: 10), .now)
    }

    func testANewTailHoldsItsClientsReadsAndSendsForwardedOnesBack() {
        var core = core()
        var fx = NodeCore.Effects()
        // n1 is the tail; then n3 becomes it (n1 steps down) and n1 becomes it again, from n3.
        core.install(Configuration(epoch: 6, replication: 3, nodes: nodes,
                                   chains: [ChainConfig(id: 0, members: ["n2", "n1", "n3"], stepsDown: "n1")]), now: 10, &fx)
        core.install(Configuration(epoch: 7, replication: 3, nodes: nodes,
                                   chains: [ChainConfig(id: 0, members: ["n2", "n3", "n1"], stepsDown: "n3")]), now: 20, &fx)
        XCTAssertEqual(core.route(chain: 0, write: false, forwarded: false, now: 30), .wait, "a client's read waits for the barrier")
        XCTAssertEqual(core.route(chain: 0, write: false, forwarded: true, now: 30), .refuse(.notServedHere(chain: 0, by: "n1")),
                       "a forwarded one goes back to its node, which tries again")
        XCTAssertEqual(core.route(chain: 0, write: true, forwarded: false, now: 30), .forward(to: "n2"))
        // Without a barrier, a lease after the change: served.
        core.settleBarriers(now: 20 + 1_000, &fx)
        XCTAssertEqual(core.route(chain: 0, write: false, forwarded: false, now: 20 + 1_000), .serve)
        XCTAssertEqual(core.route(chain: 0, write: false, forwarded: true, now: 20 + 1_000), .serve)
    }
}
