import XCTest
@testable import ChainServer

/// The refusals a forwarding node routes again, and the target's memory of them.
final class ForwardRefusalTests: XCTestCase {
    func testEveryRefusalParsesBackToItsEpochAndChain() {
        for refusal in [ForwardRefusal.notServedHere(by: "n3"), .notServedHere(by: nil), .frozen, .refusedBefore] {
            let text = refusal.text(epoch: 42, chain: 7)
            XCTAssert(text.hasPrefix("TRYAGAIN "), text)
            XCTAssertEqual(ForwardRefusal.parse(text)?.epoch, 42, text)
            XCTAssertEqual(ForwardRefusal.parse(text)?.chain, 7, text)
        }
    }

    func testOtherErrorsAreNotRefusals() {
        for other in ["TRYAGAIN chainstore: forwarding failed: connection to n2 ended",
                      "TRYAGAIN chainstore epoch 3: chain 1 pauses writes while its members are reordered; retry",
                      "TRYAGAIN chainstore epoch 3: the cluster is stopped for maintenance; writes resume after chainctl start-cluster",
                      "CLUSTERDOWN chainstore: node n2 has no valid lease from the master",
                      "TRYAGAIN chainstore epoch x: chain 1 is served by n2 now; retry",
                      "TRYAGAIN chainstore epoch 3: chain  is served by n2 now; retry",
                      "TRYAGAIN chainstore epoch 99999999999999999999: chain 1 is served by n2 now; retry",
                      "TRYAGAIN chainstore epoch 3: chain 1 is", "ERR wrong number of arguments", ""] {
            XCTAssertNil(ForwardRefusal.parse(other), other)
        }
    }

    func testAForwardingConnectionRefusesAChainUntilRerouted() {
        var s = ForwardingSession()
        XCTAssertFalse(s.mustRefuse(1))
        s.refusedRequest(for: 1)
        s.refusedRequest(for: 1)
        s.refusedRequest(for: 4)
        XCTAssert(s.mustRefuse(1))
        XCTAssert(s.mustRefuse(4))
        XCTAssertFalse(s.mustRefuse(2), "other chains go on")
        s.rerouted(1)
        XCTAssertFalse(s.mustRefuse(1), "once is enough, however often it was refused")
        XCTAssert(s.mustRefuse(4))
    }
}
