import XCTest
@testable import ChainServer

/// The lag is how much later than its interval the timer fired after the previous firing.
final class LoopLagProbeTests: XCTestCase {
    func testLagIsTheGapBeyondTheInterval() {
        var p = LoopLagProbe()
        let ms: UInt64 = 1_000_000
        XCTAssertNil(p.fired(atNanos: 5_000 * ms), "nothing to compare the first firing with")
        XCTAssertEqual(p.fired(atNanos: 5_100 * ms), 0, "on time")
        XCTAssertEqual(p.fired(atNanos: 5_180 * ms), 0, "early (a persistent timer catching up)")
        XCTAssertEqual(p.fired(atNanos: 5_530 * ms)!, 0.25, accuracy: 1e-9, "a 250 ms stall")
        XCTAssertEqual(p.fired(atNanos: 5_630 * ms)!, 0, accuracy: 1e-9)
        XCTAssertNil(p.fired(atNanos: 1 * ms), "a clock that went back says nothing")
        XCTAssertEqual(p.fired(atNanos: 101 * ms), 0)
    }
}
