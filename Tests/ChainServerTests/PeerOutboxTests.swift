import XCTest
import ChainCore
import ChainWire
@testable import ChainServer

/// A peer's messages of one turn: updates kept in order per chain, acknowledgements coalesced to
/// the latest, frames in the order chains were first touched, nothing left after they are taken.
final class PeerOutboxTests: XCTestCase {
    private func update(_ seq: UInt64) -> Update { Update(seq: seq, epoch: 1, mutations: [.put(key: [UInt8(seq)], value: [])]) }

    func testFramesOfATurn() {
        var box = PeerOutbox(peer: "n2")
        XCTAssertTrue(box.isEmpty)
        box.add(update(1), chain: 7)
        box.ack(10, chain: 3)
        box.add(contentsOf: [update(2), update(3)], chain: 7)
        box.add(update(5), chain: 0)
        box.ack(11, chain: 3)
        box.ack(4, chain: 7)
        XCTAssertFalse(box.isEmpty)
        XCTAssertEqual(box.takeFrames(epoch: 9), [
            .updates(epoch: 9, chain: 7, [update(1), update(2), update(3)]),
            .updates(epoch: 9, chain: 0, [update(5)]),
            .ack(epoch: 9, chain: 7, seq: 4),
            .ack(epoch: 9, chain: 3, seq: 11),
        ])
        XCTAssertTrue(box.isEmpty)
        XCTAssertEqual(box.takeFrames(epoch: 9), [])
        box.ack(12, chain: 3)
        XCTAssertEqual(box.takeFrames(epoch: 10), [.ack(epoch: 10, chain: 3, seq: 12)])
    }
}
