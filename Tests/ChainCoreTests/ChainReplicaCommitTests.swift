import XCTest
@testable import ChainCore

/// When a replica may commit: the head on its successor's acknowledgement, a tail with a joiner
/// only on what the joiner holds.
final class ChainReplicaCommitTests: XCTestCase {
    /// `isHead` and `isTail` (read several times per update) say what `role` says, for every
    /// place a node can stand: each position of chains of one to four, a joiner, a non-member,
    /// and after a reconfiguration.
    func testHeadAndTailAgreeWithTheRole() {
        for size in 1...4 {
            let members = (0..<size).map { "n\($0)" }
            for me in members + ["j", "x"] {
                var r = ChainReplica(chain: 0, me: me, epoch: 1, members: members, joiner: "j", applied: 0)
                for _ in 0..<2 {
                    XCTAssertEqual(r.isHead, r.role == .head || r.role == .single, "\(me) in \(members): \(r.role)")
                    XCTAssertEqual(r.isTail, r.role == .tail || r.role == .single, "\(me) in \(members): \(r.role)")
                    _ = r.onConfiguration(epoch: 2, members: Array(members.reversed()), joiner: nil)
                }
            }
        }
    }

    /// The head does not answer on its own persistence: only its successor's acknowledgement commits.
    func testHeadCommitsOnlyOnItsSuccessorsAcknowledgement() {
        var r = ChainReplica(chain: 0, me: "a", epoch: 1, members: ["a", "b"], applied: 0)
        _ = try! r.onClientWrite(mutations: [], tag: nil, reply: [], token: 1)
        XCTAssertEqual(r.onPersisted(upTo: 1), [], "the head alone persisting is not a commit")
        XCTAssertEqual(r.onAck(from: "b", epoch: 1, seq: 1), [.committed(token: 1, seq: 1)])
        XCTAssertEqual(r.onAck(from: "c", epoch: 1, seq: 1), [], "acks from a non-successor are ignored")
    }

    /// The joiner of a chain that never had a write still gets its sync point (its
    /// acknowledgement is of sequence 0), so it can be promoted.
    func testJoinerOfAnEmptyChainGetsItsSyncPoint() {
        var tail = ChainReplica(chain: 0, me: "a", epoch: 1, members: ["a"], applied: 0)
        _ = tail.onConfiguration(epoch: 2, members: ["a"], joiner: "j")
        var joiner = ChainReplica(chain: 0, me: "j", epoch: 2, members: ["a"], joiner: "j", applied: 0)
        let hello = joiner.announce()
        XCTAssertEqual(hello, [.ack(to: "a", epoch: 2, seq: 0)])
        XCTAssertEqual(tail.onAck(from: "j", epoch: 2, seq: 0), [.syncPoint(to: "j", epoch: 2, seq: 0)])
        XCTAssertEqual(tail.syncPoint, 0)
        // From then on the tail commits only what the joiner also holds.
        _ = try? tail.onClientWrite(mutations: [.put(key: [1], value: [2])], tag: nil, reply: [], token: 1)
        XCTAssertEqual(tail.onPersisted(upTo: 1), [], "not committed before the joiner acknowledges")
        XCTAssertEqual(tail.onAck(from: "j", epoch: 2, seq: 1), [.committed(token: 1, seq: 1)])
    }
}
