import XCTest
import ChainCore

final class ReplicationLagTests: XCTestCase {
    func testLagIsTheAgeOfTheOldestUncommittedSample() {
        var lag = ReplicationLag()
        lag.observe(chain: 0, applied: 10, committed: 10, now: 0)
        XCTAssertEqual(lag.lagMs(0, now: 50), 0, "everything committed")
        lag.observe(chain: 0, applied: 15, committed: 10, now: 100)
        lag.observe(chain: 0, applied: 20, committed: 12, now: 200)
        XCTAssertEqual(lag.lagMs(0, now: 250), 150, "seq 15 was applied at 100 and is not committed")
        lag.observe(chain: 0, applied: 25, committed: 15, now: 300)
        XCTAssertEqual(lag.lagMs(0, now: 300), 100, "15 committed: 20 (applied at 200) is the oldest now")
        lag.observe(chain: 0, applied: 25, committed: 25, now: 400)
        XCTAssertEqual(lag.lagMs(0, now: 400), 0)
        XCTAssertEqual(lag.lagMs(7, now: 400), 0, "an unknown chain has no lag")
    }

    func testAStuckChainKeepsItsTrueAge() {
        var lag = ReplicationLag()
        for t in 0..<5000 { lag.observe(chain: 1, applied: UInt64(t + 1), committed: 0, now: UInt64(t) * 100) }
        XCTAssertEqual(lag.lagMs(1, now: 500_000), 500_000, "full sample buffer: the oldest stays")
        lag.forget(1)
        XCTAssertEqual(lag.lagMs(1, now: 500_000), 0)
    }
}
