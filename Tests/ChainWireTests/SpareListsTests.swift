import XCTest
import ChainCore
@testable import ChainWire

/// The decoder fills the next frame's lists with the storage of lists handed back.
final class SpareListsTests: XCTestCase {
    private func turnFrame(seq: UInt64) -> PeerFrame {
        .turn(epoch: 3, [
            .updates(chain: 1, (0..<4).map { Update(seq: seq + $0, epoch: 3, mutations: [.put(key: [1], value: [2])]) }),
            .ack(chain: 2, seq: 7),
            .updates(chain: 5, [Update(seq: seq, epoch: 3, mutations: [.delete(key: [9])])]),
        ])
    }

    /// Where each list of a decoded turn frame keeps its elements.
    private func storage(_ frame: PeerFrame) -> [UnsafeRawPointer?] {
        guard case let .turn(_, sections) = frame else { return [] }
        var out = [sections.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }]
        for s in sections {
            if case let .updates(_, us) = s { out.append(us.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }) }
        }
        return out
    }

    func testHandedBackListsHoldTheNextFrame() throws {
        var d = PeerFrameDecoder()
        d.append(contentsOf: turnFrame(seq: 1).encoded)
        let first = try XCTUnwrap(try d.next())
        XCTAssertEqual(first, turnFrame(seq: 1))
        let before = Set(storage(first).compactMap { $0 })
        d.recycle(consume first)
        d.append(contentsOf: turnFrame(seq: 10).encoded)
        let second = try XCTUnwrap(try d.next())
        XCTAssertEqual(second, turnFrame(seq: 10))
        XCTAssertEqual(Set(storage(second).compactMap { $0 }), before)
    }

    /// A list still held elsewhere is not written into: the holder keeps what it had.
    func testListStillHeldElsewhereIsLeftAlone() throws {
        var d = PeerFrameDecoder()
        d.append(contentsOf: turnFrame(seq: 1).encoded)
        let first = try XCTUnwrap(try d.next())
        d.recycle(first)
        d.append(contentsOf: turnFrame(seq: 10).encoded)
        XCTAssertEqual(try d.next(), turnFrame(seq: 10))
        XCTAssertEqual(first, turnFrame(seq: 1))
    }
}
