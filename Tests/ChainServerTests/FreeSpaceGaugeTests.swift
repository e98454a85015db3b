import XCTest
import Storage
@testable import ChainServer

/// The store writer's view of free disk space: read rarely while far from the reserve, but never
/// trusted as an estimate once near it.
final class FreeSpaceGaugeTests: XCTestCase {
    private let dir = NSTemporaryDirectory()

    func testFarFromTheReserveItEstimatesFromWhatWasWritten() throws {
        var gauge = FreeSpaceGauge(path: dir, reserveBytes: 0)
        let first = try XCTUnwrap(gauge.available(needing: 0))
        gauge.wrote(1000)
        // Within the reading's lifetime: the reading minus what was written since.
        XCTAssertEqual(gauge.available(needing: 0), first - 1000)
    }

    func testNearTheReserveItReadsTheDiskEveryTime() throws {
        let free = try XCTUnwrap(DiskSpace.available(at: dir))
        // A reserve above what is free: an estimate could hide the disk filling, so every call
        // reads again and sees the same disk (nothing subtracted).
        var gauge = FreeSpaceGauge(path: dir, reserveBytes: free)
        _ = gauge.available(needing: 0)
        gauge.wrote(1 << 30)
        let again = try XCTUnwrap(gauge.available(needing: 0))
        XCTAssertGreaterThan(again, free / 2, "a fresh reading, not the estimate (which would be 1 GiB lower)")
    }

    func testAStaleReadingIsReplaced() throws {
        var gauge = FreeSpaceGauge(path: dir, reserveBytes: 0)
        _ = gauge.available(needing: 0)
        gauge.wrote(1 << 40)  // far more than any disk here: only a fresh reading can be positive
        Thread.sleep(forTimeInterval: Double(FreeSpaceGauge.maxAgeNanos) / 1e9 + 0.02)
        XCTAssertGreaterThan(try XCTUnwrap(gauge.available(needing: 0)), 0)
    }

    func testAPathThatCannotBeReadHasNoFigure() {
        var gauge = FreeSpaceGauge(path: "/nonexistent/chainstore/gauge", reserveBytes: 1)
        XCTAssertNil(gauge.available(needing: 0))
    }
}
