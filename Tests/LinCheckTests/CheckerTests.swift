import XCTest
@testable import LinCheck

final class CheckerTests: XCTestCase {
    private let k = Array("k".utf8)
    private func v(_ s: String) -> [UInt8] { Array(s.utf8) }
    private func w(_ c: Int, _ val: String?, _ a: UInt64, _ b: UInt64?) -> HistoryOp {
        HistoryOp(client: c, key: k, kind: .write(val.map(v)), invoked: a, completed: b)
    }
    private func r(_ c: Int, _ val: String?, _ a: UInt64, _ b: UInt64?) -> HistoryOp {
        HistoryOp(client: c, key: k, kind: .read(val.map(v)), invoked: a, completed: b)
    }

    /// A pipeline: a write and a read of one client in flight together. Without sequence numbers
    /// the read may see the old value; with them (session order) it must see the write.
    func testSessionOrderOfOnePipeline() {
        func op(_ kind: HistoryOp.Kind, _ seq: UInt64?) -> HistoryOp {
            HistoryOp(client: 1, key: k, kind: kind, invoked: 10, completed: 20, sequence: seq)
        }
        let base = HistoryOp(client: 2, key: k, kind: .write(v("old")), invoked: 0, completed: 1)
        XCTAssertEqual(LinearizabilityChecker.check([base, op(.write(v("new")), nil), op(.read(v("old")), nil)]), .linearizable)
        guard case .violation = LinearizabilityChecker.check([base, op(.write(v("new")), 0), op(.read(v("old")), 1)]) else {
            return XCTFail("a read that overtook its own client's earlier write was accepted")
        }
        XCTAssertEqual(LinearizabilityChecker.check([base, op(.write(v("new")), 0), op(.read(v("new")), 1)]), .linearizable)
        // A read before the write in program order must not see it.
        guard case .violation = LinearizabilityChecker.check([base, op(.read(v("new")), 0), op(.write(v("new")), 1)]) else {
            return XCTFail("a read that saw its own client's later write was accepted")
        }
        // Another client's concurrent write may land between them.
        let other = HistoryOp(client: 3, key: k, kind: .write(v("x")), invoked: 12, completed: 18)
        XCTAssertEqual(LinearizabilityChecker.check([base, other, op(.write(v("new")), 0), op(.read(v("x")), 1)]), .linearizable)
        // A failed write (unknown outcome) constrains nothing.
        let failed = HistoryOp(client: 1, key: k, kind: .write(v("lost")), invoked: 10, completed: nil, sequence: 0)
        XCTAssertEqual(LinearizabilityChecker.check([base, failed, op(.read(v("old")), 1)]), .linearizable)
    }

    func testSequentialHistoryIsLinearizable() {
        XCTAssertEqual(LinearizabilityChecker.check([w(1, "a", 0, 1), r(2, "a", 2, 3), w(1, "b", 4, 5), r(2, "b", 6, 7)]), .linearizable)
    }

    func testOverlappingOperationsMayOrderEitherWay() {
        // The read overlaps the write: old or new value are both fine.
        XCTAssertEqual(LinearizabilityChecker.check([w(1, "a", 0, 1), w(1, "b", 2, 10), r(2, "a", 3, 4)]), .linearizable)
        XCTAssertEqual(LinearizabilityChecker.check([w(1, "a", 0, 1), w(1, "b", 2, 10), r(2, "b", 3, 4)]), .linearizable)
    }

    func testStaleReadIsRejected() {
        // b was acknowledged before the read began, yet the read returned a.
        guard case .violation = LinearizabilityChecker.check([w(1, "a", 0, 1), w(1, "b", 2, 3), r(2, "a", 4, 5)]) else {
            return XCTFail("stale read accepted")
        }
    }

    func testLostWriteIsRejected() {
        // A later read sees the initial value although a write was acknowledged before it.
        guard case .violation = LinearizabilityChecker.check([w(1, "a", 0, 1), r(2, nil, 2, 3)]) else {
            return XCTFail("lost write accepted")
        }
    }

    func testValueNeverWrittenIsRejected() {
        let verdict = LinearizabilityChecker.check([w(1, "a", 0, 1), r(2, "zzz", 2, 3)])
        guard case let .violation(_, _, reason) = verdict else { return XCTFail("phantom value accepted") }
        XCTAssert(reason.contains("no write could have produced"), reason)
    }

    func testReadsMustNotGoBackInTime() {
        // Two sequential reads during a long write: new then old is a violation.
        guard case .violation = LinearizabilityChecker.check([w(1, "a", 0, 1), w(1, "b", 2, 20), r(2, "b", 3, 4), r(2, "a", 5, 6)]) else {
            return XCTFail("reads went back in time")
        }
    }

    func testIndeterminateWritesMayOrMayNotHaveHappened() {
        let timedOut = w(1, "b", 2, nil)
        XCTAssertEqual(LinearizabilityChecker.check([w(1, "a", 0, 1), timedOut, r(2, "a", 10, 11)]), .linearizable)
        XCTAssertEqual(LinearizabilityChecker.check([w(1, "a", 0, 1), timedOut, r(2, "b", 10, 11)]), .linearizable)
        // …but once seen, it cannot be unseen.
        guard case .violation = LinearizabilityChecker.check([w(1, "a", 0, 1), timedOut, r(2, "b", 10, 11), r(2, "a", 12, 13)]) else {
            return XCTFail("an indeterminate write was seen and then undone")
        }
    }

    func testKeysAreIndependentAndLargerHistoriesFinish() {
        var ops: [HistoryOp] = []
        var t: UInt64 = 0
        // Three clients, 60 ops each, overlapping in pairs, on two keys.
        for i in 0..<60 {
            for c in 0..<3 {
                let key = Array("key\(i % 2)".utf8)
                ops.append(HistoryOp(client: c, key: key, kind: .write(v("\(c)-\(i)")), invoked: t, completed: t + 3))
                t += 2
            }
        }
        var last: [String: String] = [:]
        for op in ops { if case let .write(val?) = op.kind { last[String(decoding: op.key, as: UTF8.self)] = String(decoding: val, as: UTF8.self) } }
        for (key, val) in last { ops.append(HistoryOp(client: 9, key: Array(key.utf8), kind: .read(v(val)), invoked: t + 10, completed: t + 11)) }
        XCTAssertEqual(LinearizabilityChecker.check(ops), .linearizable)
    }
}
