import XCTest
@testable import ChainCore

final class CatchUpTests: XCTestCase {
    /// The catch-up rule on its own: a suffix only for a joiner whose last update the tail holds
    /// under the same epoch, with everything after it still in the backlog.
    func testCatchUpPlan() {
        var backlog = UpdateBacklog(capacityBytes: 1 << 20)
        for seq in UInt64(5)...10 { backlog.append(Update(seq: seq, epoch: seq < 8 ? 2 : 3, mutations: [])) }
        let tail = LogPosition(seq: 10, epoch: 3)
        XCTAssertEqual(CatchUp.plan(have: LogPosition(seq: 7, epoch: 2), tail: tail, backlog: backlog), .suffix(after: 7))
        XCTAssertEqual(CatchUp.plan(have: tail, tail: tail, backlog: backlog), .suffix(after: 10), "nothing missing")
        XCTAssertEqual(CatchUp.plan(have: LogPosition(seq: 7, epoch: 1), tail: tail, backlog: backlog), .snapshot, "another head's update 7")
        XCTAssertEqual(CatchUp.plan(have: LogPosition(seq: 11, epoch: 3), tail: tail, backlog: backlog), .snapshot, "ahead of the tail")
        XCTAssertEqual(CatchUp.plan(have: LogPosition(seq: 4, epoch: 2), tail: tail, backlog: backlog), .snapshot, "before the backlog")
        XCTAssertEqual(CatchUp.plan(have: .empty, tail: tail, backlog: backlog), .snapshot)
        XCTAssertEqual(CatchUp.plan(have: LogPosition(seq: 3, epoch: 0), tail: tail, backlog: backlog), .snapshot, "unknown epoch")
        XCTAssertEqual(Array(backlog.updates(after: 7)).map(\.seq), [8, 9, 10])
        // A gap starts the backlog afresh; the byte budget drops the oldest updates.
        backlog.append(Update(seq: 12, epoch: 3, mutations: []))
        XCTAssertEqual(backlog.firstSeq, 12)
        var small = UpdateBacklog(capacityBytes: 200)
        for seq in UInt64(1)...20 { small.append(Update(seq: seq, epoch: 1, mutations: [.put(key: [1], value: Array(repeating: 0, count: 40))])) }
        XCTAssertEqual(small.last?.seq, 20)
        XCTAssertLessThanOrEqual(small.bytes, 200)
        XCTAssertGreaterThan(small.firstSeq ?? 0, 1)
        XCTAssertEqual(CatchUp.plan(have: LogPosition(seq: 2, epoch: 1), tail: LogPosition(seq: 20, epoch: 1), backlog: small), .snapshot)
    }
}
