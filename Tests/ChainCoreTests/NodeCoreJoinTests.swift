import XCTest
@testable import ChainCore

/// Scripted cases of the node core's joins that the cluster simulation reaches only rarely.
final class NodeCoreJoinTests: XCTestCase {
    func config(_ epoch: Epoch, _ chain: ChainConfig) -> Configuration {
        Configuration(epoch: epoch, replication: 3, nodes: [], chains: [chain])
    }

    func sent(_ effects: NodeCore.Effects) -> [(NodeID, NodeCore.Message)] {
        effects.compactMap { if case let .send(to, m) = $0 { return (to, m) } else { return nil } }
    }

    /// A node restarted with a configuration in which it had just taken the tail role from n1
    /// (so it waits for n1's step-down), then rejoins the chain from n1: n1's sync point must
    /// count as the sync point, not as the step-down the node no longer waits for — which used
    /// to end the join, so the node never got in sync (ClusterTests, a rolling restart).
    func testALeftOverBarrierDoesNotSwallowTheJoinsSyncPoint() {
        var core = NodeCore(me: "n2")
        var fx = NodeCore.Effects()
        core.install(config(5, ChainConfig(id: 0, members: ["n3", "n1", "n2"], stepsDown: "n1")), now: 0, &fx)
        XCTAssertNotNil(core.barriers[0], "a tail that took over from a live node waits for it")
        core.install(config(6, ChainConfig(id: 0, members: ["n3", "n1"], joining: "n2")), now: 10, &fx)
        XCTAssertNil(core.barriers[0], "a joiner waits for no old tail")
        fx.removeAll()
        core.linkUp("n1", &fx)
        guard case let .syncRequest(_, 0, transfer, _)? = sent(fx).first?.1 else { return XCTFail("no request: \(fx)") }
        core.receive(.syncChunk(epoch: 6, chain: 0, transfer: transfer, snapshot: LogPosition(seq: 4, epoch: 5), entries: [], last: true),
                     from: "n1", now: 20, &fx)
        core.receive(.barrier(epoch: 6, chain: 0, seq: 4), from: "n1", now: 30, &fx)
        core.settleBarriers(now: 100_000, &fx)
        XCTAssertEqual(core.joins[0]?.syncSeq, 4)
        core.persisted(chain: 0, upTo: 4, &fx)
        XCTAssertEqual(core.joins[0]?.synced(persisted: core.replicas[0]!.persisted), true)
    }

    /// A joiner that starts over after the tail set its sync point gets the sync point again
    /// with its new request (the tail sends it by itself only with the first acknowledgement).
    func testTheTailSendsItsSyncPointAgainToAJoinerThatStartsOver() {
        var tail = NodeCore(me: "n1")
        var fx = NodeCore.Effects()
        tail.install(config(1, ChainConfig(id: 0, members: ["n3", "n1"], joining: "n2")), now: 0, &fx)
        tail.receive(.syncRequest(epoch: 1, chain: 0, transfer: 1, have: .empty), from: "n2", now: 0, &fx)
        tail.receive(.ack(epoch: 1, chain: 0, seq: 0), from: "n2", now: 0, &fx)
        XCTAssertNotNil(tail.replicas[0]?.syncPoint)
        fx.removeAll()
        tail.receive(.syncRequest(epoch: 1, chain: 0, transfer: 2, have: .empty), from: "n2", now: 0, &fx)
        XCTAssert(sent(fx).contains { $0.0 == "n2" && $0.1 == .barrier(epoch: 1, chain: 0, seq: 0) }, "\(fx)")
    }
}
