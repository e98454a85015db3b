import XCTest
import ChainCore
import ChainWire
@testable import ChainServer

/// A peer's messages of one turn: updates kept in order per chain, acknowledgements coalesced to
/// the latest, frames in the order chains were first touched, nothing left after they are
/// written — read back through the frame decoder, so the frames built from buffers kept between
/// turns are the bytes `PeerFrame.encode` makes.
final class PeerOutboxTests: XCTestCase {
    private func update(_ seq: UInt64) -> Update { Update(seq: seq, epoch: 1, mutations: [.put(key: [UInt8(seq)], value: [])]) }

    private func frames(_ box: inout PeerOutbox, epoch: Epoch, turnFrames: Bool = false) throws -> [PeerFrame] {
        var w = ByteWriter()
        box.encodeFrames(epoch: epoch, turnFrames: turnFrames, into: &w)
        var decoder = PeerFrameDecoder()
        decoder.append(contentsOf: w.bytes)
        var out: [PeerFrame] = []
        while let f = try decoder.next() { out.append(f) }
        return out
    }

    func testFramesOfATurn() throws {
        var box = PeerOutbox(peer: "n2")
        XCTAssertTrue(box.isEmpty)
        box.add(update(1), chain: 7)
        box.ack(10, chain: 3)
        box.add(contentsOf: [update(2), update(3)], chain: 7)
        box.add(update(5), chain: 0)
        box.ack(11, chain: 3)
        box.ack(4, chain: 7)
        XCTAssertFalse(box.isEmpty)
        XCTAssertEqual(try frames(&box, epoch: 9), [
            .updates(epoch: 9, chain: 7, [update(1), update(2), update(3)]),
            .updates(epoch: 9, chain: 0, [update(5)]),
            .ack(epoch: 9, chain: 7, seq: 4),
            .ack(epoch: 9, chain: 3, seq: 11),
        ])
        XCTAssertTrue(box.isEmpty)
        XCTAssertEqual(try frames(&box, epoch: 9), [])
        box.ack(12, chain: 3)
        XCTAssertEqual(try frames(&box, epoch: 10), [.ack(epoch: 10, chain: 3, seq: 12)])
        // The kept buffers start over: only this turn's updates, in a new order of chains.
        box.add(update(6), chain: 0)
        box.add(update(4), chain: 7)
        XCTAssertEqual(try frames(&box, epoch: 10), [
            .updates(epoch: 10, chain: 0, [update(6)]),
            .updates(epoch: 10, chain: 7, [update(4)]),
        ])
    }

    /// Updates of every kind and a buffer grown past what is kept: the same bytes as the frame
    /// encoded whole.
    func testFramesMatchTheWholeFrameEncoding() throws {
        var box = PeerOutbox(peer: "n2")
        let big = [UInt8](repeating: 7, count: PeerOutbox.keptSectionBytes + 10)
        let updates = [
            Update(seq: 1, epoch: 2, mutations: [.put(key: [1], value: big)], tag: RequestTag(client: 3, request: 4), reply: Array("+OK\r\n".utf8)),
            Update(seq: 2, epoch: 2, mutations: [.delete(key: [2]), .putField(key: [3], field: [4], value: [5]), .deleteField(key: [6], field: [7]), .clearChain]),
            Update(seq: 3, epoch: 2, mutations: []),
        ]
        for u in updates { box.add(u, chain: 5) }
        var w = ByteWriter()
        box.encodeFrames(epoch: 8, turnFrames: false, into: &w)
        XCTAssertEqual(w.bytes, PeerFrame.updates(epoch: 8, chain: 5, updates).encoded)
        box.add(updates[2], chain: 5)
        XCTAssertEqual(try frames(&box, epoch: 8), [.updates(epoch: 8, chain: 5, [updates[2]])])
    }

    /// The same turn as one `turn` frame for a peer that reads them: the same messages in the
    /// same order, sections instead of frames.
    func testTurnAsOneFrame() throws {
        var box = PeerOutbox(peer: "n2")
        box.add(update(1), chain: 7)
        box.ack(10, chain: 3)
        box.add(contentsOf: [update(2), update(3)], chain: 7)
        box.add(update(5), chain: 0)
        box.ack(4, chain: 7)
        let expected = PeerFrame.turn(epoch: 9, [
            .updates(chain: 7, [update(1), update(2), update(3)]),
            .updates(chain: 0, [update(5)]),
            .ack(chain: 7, seq: 4),
            .ack(chain: 3, seq: 10),
        ])
        var w = ByteWriter()
        box.encodeFrames(epoch: 9, turnFrames: true, into: &w)
        XCTAssertEqual(w.bytes, expected.encoded, "the same bytes as the frame encoded whole")
        XCTAssertEqual(try PeerFrame.decode(w.bytes[4...]), expected)
        XCTAssertTrue(box.isEmpty)
        // Nothing to send: no frame at all, not an empty one.
        XCTAssertEqual(try frames(&box, epoch: 9, turnFrames: true), [])
        box.ack(12, chain: 3)
        XCTAssertEqual(try frames(&box, epoch: 10, turnFrames: true), [.turn(epoch: 10, [.ack(chain: 3, seq: 12)])])
    }

    /// A turn larger than a turn frame may be goes as per-chain frames; the next, small one as
    /// a turn frame again.
    func testLargeTurnGoesAsPerChainFrames() throws {
        var box = PeerOutbox(peer: "n2", maxTurnFrameBytes: 1000)
        let big = Update(seq: 1, epoch: 1, mutations: [.put(key: [1], value: [UInt8](repeating: 3, count: 600))])
        let big2 = Update(seq: 2, epoch: 1, mutations: [.put(key: [2], value: [UInt8](repeating: 4, count: 600))])
        box.add(big, chain: 1)
        box.add(contentsOf: [big2], chain: 2)
        box.ack(5, chain: 1)
        XCTAssertEqual(try frames(&box, epoch: 3, turnFrames: true), [
            .updates(epoch: 3, chain: 1, [big]),
            .updates(epoch: 3, chain: 2, [big2]),
            .ack(epoch: 3, chain: 1, seq: 5),
        ])
        box.add(update(3), chain: 1)
        XCTAssertEqual(try frames(&box, epoch: 3, turnFrames: true), [.turn(epoch: 3, [.updates(chain: 1, [update(3)])])])
    }

    func testQueuedFramesKeepTheNewestWithinTheLimit() {
        var q = QueuedFrames()
        q.append([1, 2, 3], limit: 8)
        q.append([4, 5, 6], limit: 8)
        XCTAssertEqual(q.chunks, [[1, 2, 3], [4, 5, 6]])
        q.append([7, 8, 9], limit: 8)
        XCTAssertEqual(q.chunks, [[4, 5, 6], [7, 8, 9]])
        XCTAssertEqual(q.bytes, 6)
        // One chunk over the limit on its own is kept: it is the newest.
        q.append(Array(repeating: 0, count: 20), limit: 8)
        XCTAssertEqual(q.chunks.count, 1)
        XCTAssertEqual(q.bytes, 20)
    }
}
