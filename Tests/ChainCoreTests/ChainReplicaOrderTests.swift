import XCTest
@testable import ChainCore

/// A node sends one frame per chain and peer per loop turn, so a frame may hold a resend behind
/// newer updates: forwards queued early in a turn, then a configuration change (or a link
/// coming back) in the same turn appends every unacknowledged update again. The successor must
/// take such a frame in sequence order, not stop at the first update that does not follow.
final class ChainReplicaOrderTests: XCTestCase {
    private let members = ["a", "b", "c"]

    private func forwards(_ actions: [ChainReplica.Action]) -> [Update] {
        actions.compactMap { if case let .forward(_, _, u) = $0 { return u } else { return nil } }
    }

    private func applied(_ actions: [ChainReplica.Action]) -> [UInt64] {
        actions.compactMap { if case let .apply(u) = $0 { return u.seq } else { return nil } }
    }

    private func write(_ r: inout ChainReplica, _ n: UInt8) throws -> [Update] {
        forwards(try r.onClientWrite(mutations: [.put(key: [n], value: [n])], tag: nil, reply: [], token: UInt64(n)))
    }

    /// The likely cause of a chain once found stuck in `RepairTests.testQuickRestartRejoinsItsChains`:
    /// the successor installed epoch 2 first and dropped the head's epoch-1 frame; the head then
    /// queued a new update and installed epoch 2 in the same turn, so its next frame was the new
    /// update followed by the resend of all four. Stopping at the "gap" left the chain waiting.
    func testAResendBehindANewerUpdateInOneFrameIsApplied() throws {
        var head = ChainReplica(chain: 0, me: "a", epoch: 1, members: members, applied: 0)
        var middle = ChainReplica(chain: 0, me: "b", epoch: 1, members: members, applied: 0)
        var lost: [Update] = []
        for n in 1...3 { lost += try write(&head, UInt8(n)) }
        _ = middle.onConfiguration(epoch: 2, members: members)
        XCTAssertTrue(middle.onUpdates(from: "a", epoch: 1, lost).isEmpty, "a frame of the old epoch is dropped")

        var frame = try write(&head, 4)
        frame += forwards(head.onConfiguration(epoch: 2, members: members))
        XCTAssertEqual(frame.map(\.seq), [4, 1, 2, 3, 4])

        let actions = middle.onUpdates(from: "a", epoch: 2, frame)
        XCTAssertEqual(applied(actions), [1, 2, 3, 4])
        XCTAssertEqual(forwards(actions).map(\.seq), [1, 2, 3, 4], "and forwarded once each, in order")
        XCTAssertEqual(middle.applied, 4)
        XCTAssertEqual(middle.gapsSeen, 0)
    }

    func testARealGapStillStopsAtTheMissingUpdate() throws {
        var head = ChainReplica(chain: 0, me: "a", epoch: 1, members: members, applied: 0)
        var middle = ChainReplica(chain: 0, me: "b", epoch: 1, members: members, applied: 0)
        var all: [Update] = []
        for n in 1...5 { all += try write(&head, UInt8(n)) }
        // 3 is missing: 1 and 2 apply, 4 and 5 wait for a resend.
        let actions = middle.onUpdates(from: "a", epoch: 1, [all[4], all[0], all[3], all[1]])
        XCTAssertEqual(applied(actions), [1, 2])
        XCTAssertEqual(middle.gapsSeen, 1)
        XCTAssertEqual(applied(middle.onUpdates(from: "a", epoch: 1, all)), [3, 4, 5])
    }
}
