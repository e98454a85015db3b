import XCTest
@testable import ChainCore

final class SessionOrderTests: XCTestCase {
    func testSameChainSamePlacePipelines() {
        var o = SessionOrder()
        XCTAssertTrue(o.mayStart(chain: 1, at: "n1"))
        o.started(chain: 1, at: "n1")
        o.started(chain: 1, at: "n1")
        XCTAssertTrue(o.mayStart(chain: 1, at: "n1"), "same FIFO path: keeps pipelining")
        XCTAssertFalse(o.mayStart(chain: 1, at: "n3"), "a read at the tail waits for the writes at the head")
        XCTAssertTrue(o.mayStart(chain: 2, at: "n3"), "another chain does not wait")
        XCTAssertTrue(o.finished(chain: 1))
        XCTAssertFalse(o.mayStart(chain: 1, at: "n3"), "one write still outstanding")
        XCTAssertTrue(o.finished(chain: 1))
        XCTAssertTrue(o.mayStart(chain: 1, at: "n3"))
        XCTAssertTrue(o.isEmpty)
    }

    func testSpanningCommandsWaitForEverythingAndBlockEverything() {
        var o = SessionOrder()
        o.started(chain: 4, at: "n2")
        XCTAssertFalse(o.mayStart(chain: nil, at: "n1"))
        XCTAssertTrue(o.finished(chain: 4))
        XCTAssertTrue(o.mayStart(chain: nil, at: "n1"))
        o.started(chain: nil, at: "n1")
        XCTAssertFalse(o.mayStart(chain: 4, at: "n1"))
        XCTAssertFalse(o.mayStart(chain: nil, at: "n1"))
        XCTAssertTrue(o.finished(chain: nil))
        XCTAssertTrue(o.mayStart(chain: 4, at: "n2"))
    }

    func testUnknownChainsAreIgnored() {
        var o = SessionOrder()
        XCTAssertFalse(o.finished(chain: 99))
        o.started(chain: 0, at: "a")
        XCTAssertTrue(o.finished(chain: 0))
        XCTAssertFalse(o.finished(chain: 0), "nothing left on chain 0")
        XCTAssertTrue(o.mayStart(chain: 0, at: "b"))
        XCTAssertEqual(o.count, 0)
    }

    /// Random schedules against a list model: a command may start exactly when no outstanding
    /// command of its chain (or spanning all) runs elsewhere.
    func testMatchesAListModel() {
        var rng = SeededRandom(seed: 42)
        var o = SessionOrder()
        var model: [(chain: Int?, node: String)] = []
        for _ in 0..<5000 {
            let chain: Int? = rng.below(10) == 0 ? nil : rng.below(4)
            let node = ["a", "b", "c"][rng.below(3)]
            let expected = model.allSatisfy { m in
                guard let c = chain, let mc = m.chain else { return false }
                return mc != c || m.node == node
            }
            XCTAssertEqual(o.mayStart(chain: chain, at: node), expected)
            if expected && rng.below(2) == 0 {
                o.started(chain: chain, at: node)
                model.append((chain, node))
            }
            if !model.isEmpty && rng.below(3) == 0 {
                let i = rng.below(model.count)
                XCTAssertTrue(o.finished(chain: model.remove(at: i).chain))
            }
            XCTAssertEqual(o.count, model.count)
        }
    }
}
