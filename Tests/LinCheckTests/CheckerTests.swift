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
