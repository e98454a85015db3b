import XCTest
@testable import ChainCore

/// A frame lost without the link breaking must not leave a chain waiting forever: the periodic
/// stall check sends again what has waited a whole interval, and only that.
final class ChainReplicaStallTests: XCTestCase {
    private let members = ["a", "b", "c"]

    private func replica(_ me: NodeID) -> ChainReplica {
        ChainReplica(chain: 0, me: me, epoch: 1, members: members, applied: 0)
    }

    private func forwards(_ actions: [ChainReplica.Action]) -> [Update] {
        actions.compactMap { if case let .forward(_, _, u) = $0 { return u } else { return nil } }
    }

    private func acks(_ actions: [ChainReplica.Action]) -> [UInt64] {
        actions.compactMap { if case let .ack(_, _, seq) = $0 { return seq } else { return nil } }
    }

    /// Delivers `actions` of `from` to the replicas they address and persists every apply at
    /// once; returns the tokens that committed at the head.
    private func deliver(_ actions: [ChainReplica.Action], from: NodeID, to replicas: inout [NodeID: ChainReplica]) -> [UInt64] {
        var committed: [UInt64] = []
        var queue = actions.map { (from, $0) }
        var steps = 0
        while !queue.isEmpty && steps < 1000 {
            steps += 1
            let (sender, a) = queue.removeFirst()
            switch a {
            case let .apply(u):
                queue += replicas[sender]!.onPersisted(upTo: u.seq).map { (sender, $0) }
            case let .forward(to, e, u):
                queue += replicas[to]!.onUpdates(from: sender, epoch: e, [u]).map { (to, $0) }
            case let .ack(to, e, seq):
                queue += replicas[to]!.onAck(from: sender, epoch: e, seq: seq).map { (to, $0) }
            case let .committed(token, _):
                committed.append(token)
            default:
                break
            }
        }
        return committed
    }

    func testALostForwardIsSentAgainAfterAWholeIntervalAndCommits() throws {
        var r = Dictionary(uniqueKeysWithValues: members.map { ($0, replica($0)) })
        let write = try r["a"]!.onClientWrite(mutations: [.put(key: [1], value: [2])], tag: nil, reply: [], token: 7)
        XCTAssertEqual(forwards(write).map(\.seq), [1])
        // The head applies and persists, but the forward to b is lost.
        let persisted = r["a"]!.onPersisted(upTo: 1)
        XCTAssertTrue(forwards(persisted).isEmpty)

        XCTAssertTrue(forwards(r["a"]!.onStallCheck()).isEmpty, "the first check only marks what waits")
        let again = r["a"]!.onStallCheck()
        XCTAssertEqual(forwards(again).map(\.seq), [1], "still waiting a whole interval later: sent again")
        XCTAssertEqual(deliver(again, from: "a", to: &r), [7], "the resent update commits")
        XCTAssertEqual(r["c"]!.applied, 1)
        XCTAssertTrue(forwards(r["a"]!.onStallCheck()).isEmpty, "nothing waits any more")
    }

    func testProgressBetweenChecksSendsNothingAgain() throws {
        var r = Dictionary(uniqueKeysWithValues: members.map { ($0, replica($0)) })
        var token: UInt64 = 0
        for round in 0..<5 {
            // One update delivered and acknowledged per interval, one more still in flight at
            // each check: never the same oldest update twice.
            token += 1
            let w = try r["a"]!.onClientWrite(mutations: [.put(key: [UInt8(round)], value: [1])], tag: nil, reply: [], token: token)
            XCTAssertTrue(forwards(r["a"]!.onStallCheck()).isEmpty, "round \(round)")
            _ = deliver(w, from: "a", to: &r)
        }
        XCTAssertEqual(r["c"]!.applied, 5)
    }

    func testMembersRepeatTheirAcknowledgementUpstream() throws {
        var r = Dictionary(uniqueKeysWithValues: members.map { ($0, replica($0)) })
        let w = try r["a"]!.onClientWrite(mutations: [.put(key: [1], value: [2])], tag: nil, reply: [], token: 1)
        _ = deliver(w, from: "a", to: &r)
        XCTAssertEqual(acks(r["c"]!.onStallCheck()), [1], "the tail repeats what it acknowledged")
        XCTAssertEqual(acks(r["b"]!.onStallCheck()), [1])
        XCTAssertEqual(acks(r["a"]!.onStallCheck()), [], "the head has no predecessor")
        // A repeated acknowledgement changes nothing at the predecessor.
        XCTAssertEqual(r["b"]!.onAck(from: "c", epoch: 1, seq: 1), [])
    }

    func testAResendIsBounded() throws {
        var r = Dictionary(uniqueKeysWithValues: members.map { ($0, replica($0)) })
        for i in 0..<(ChainReplica.maxResend + 50) {
            _ = try r["a"]!.onClientWrite(mutations: [.put(key: [UInt8(i & 0xff)], value: [1])], tag: nil, reply: [], token: UInt64(i + 1))
        }
        _ = r["a"]!.onStallCheck()
        let again = forwards(r["a"]!.onStallCheck())
        XCTAssertEqual(again.count, ChainReplica.maxResend)
        XCTAssertEqual(again.first?.seq, 1)
    }
}
