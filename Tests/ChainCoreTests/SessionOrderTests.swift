import XCTest
@testable import ChainCore

final class SessionOrderTests: XCTestCase {
    func testSameChainSamePlacePipelines() {
        var o = SessionOrder()
        XCTAssertTrue(o.mayStart(chain: 1, at: "n1"))
        o.started(token: 1, chain: 1, at: "n1")
        o.started(token: 2, chain: 1, at: "n1")
        XCTAssertTrue(o.mayStart(chain: 1, at: "n1"), "same FIFO path: keeps pipelining")
        XCTAssertFalse(o.mayStart(chain: 1, at: "n3"), "a read at the tail waits for the writes at the head")
        XCTAssertTrue(o.mayStart(chain: 2, at: "n3"), "another chain does not wait")
        XCTAssertTrue(o.finished(token: 1))
        XCTAssertFalse(o.mayStart(chain: 1, at: "n3"), "one write still outstanding")
        XCTAssertTrue(o.finished(token: 2))
        XCTAssertTrue(o.mayStart(chain: 1, at: "n3"))
        XCTAssertTrue(o.isEmpty)
    }

    func testSpanningCommandsWaitForEverythingAndBlockEverything() {
        var o = SessionOrder()
        o.started(token: 7, chain: 4, at: "n2")
        XCTAssertFalse(o.mayStart(chain: nil, at: "n1"))
        XCTAssertTrue(o.finished(token: 7))
        XCTAssertTrue(o.mayStart(chain: nil, at: "n1"))
        o.started(token: 8, chain: nil, at: "n1")
        XCTAssertFalse(o.mayStart(chain: 4, at: "n1"))
        XCTAssertFalse(o.mayStart(chain: nil, at: "n1"))
        o.finished(token: 8)
        XCTAssertTrue(o.mayStart(chain: 4, at: "n2"))
    }

    func testUnknownAndRepeatedTokensAreIgnored() {
        var o = SessionOrder()
        XCTAssertFalse(o.finished(token: 99))
        o.started(token: 1, chain: 0, at: "a")
        XCTAssertTrue(o.finished(token: 1))
        XCTAssertFalse(o.finished(token: 1), "a reply filled twice counts once")
        XCTAssertTrue(o.mayStart(chain: 0, at: "b"))
        XCTAssertEqual(o.count, 0)
    }

    /// Random schedules against a list model: a command may start exactly when no outstanding
    /// command of its chain (or spanning all) runs elsewhere.
    func testMatchesAListModel() {
        var rng = SeededRandom(seed: 42)
        var o = SessionOrder()
        var model: [(token: UInt64, chain: Int?, node: String)] = []
        var next: UInt64 = 1
        for _ in 0..<5000 {
            let chain: Int? = rng.below(10) == 0 ? nil : rng.below(4)
            let node = ["a", "b", "c"][rng.below(3)]
            let expected = model.allSatisfy { m in
                guard let c = chain, let mc = m.chain else { return false }
                return mc != c || m.node == node
            }
            XCTAssertEqual(o.mayStart(chain: chain, at: node), expected)
            if expected && rng.below(2) == 0 {
                o.started(token: next, chain: chain, at: node)
                model.append((next, chain, node))
                next += 1
            }
            if !model.isEmpty && rng.below(3) == 0 {
                let i = rng.below(model.count)
                XCTAssertTrue(o.finished(token: model.remove(at: i).token))
            }
            XCTAssertEqual(o.count, model.count)
        }
    }
}
