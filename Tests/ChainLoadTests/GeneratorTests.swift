import XCTest
@testable import ChainLoadKit

final class GeneratorTests: XCTestCase {
    func testNamedWorkloadsAndMix() throws {
        XCTAssertEqual(try Workload.named("b").mix, [.get: 95, .set: 5])
        XCTAssertEqual(try Workload.named("W").mix, [.set: 100])
        XCTAssertEqual(try Workload.parseMix("get=90,set=10").mix, [.get: 90, .set: 10])
        XCTAssertThrowsError(try Workload.named("z"))
        XCTAssertThrowsError(try Workload.parseMix("get=90,set=20"), "must add up to 100")
        XCTAssertThrowsError(try Workload.parseMix("fly=100"))
        XCTAssertThrowsError(try Workload.parseMix("get90"))
    }

    func testMixProportions() throws {
        let w = try Workload.parseMix("get=70,set=30")
        var rng = SeededGenerator(seed: 1)
        var sets = 0
        let n = 100_000
        for _ in 0..<n where w.operation(for: Int.random(in: 0..<100, using: &rng)) == .set { sets += 1 }
        XCTAssertEqual(Double(sets) / Double(n), 0.30, accuracy: 0.01)
    }

    func testUniformCoversTheKeySpace() {
        let k = KeyChooser(count: 100, distribution: .uniform)
        var rng = SeededGenerator(seed: 2)
        var seen = Set<Int>()
        for _ in 0..<5000 { let v = k.next(using: &rng); XCTAssert((0..<100).contains(v)); seen.insert(v) }
        XCTAssertEqual(seen.count, 100)
    }

    /// Zipfian(0.99): the hottest key alone gets several percent of draws and the top 10% of keys
    /// most of them; with uniform draws neither happens.
    func testZipfianShape() {
        let n = 10_000
        let k = KeyChooser(count: n, distribution: .zipfian(theta: 0.99))
        var rng = SeededGenerator(seed: 3)
        var counts = [Int](repeating: 0, count: n)
        let draws = 200_000
        for _ in 0..<draws { let v = k.next(using: &rng); XCTAssert((0..<n).contains(v)); counts[v] += 1 }
        let sorted = counts.sorted(by: >)
        let top = Double(sorted[0]) / Double(draws)
        let top10pct = Double(sorted.prefix(n / 10).reduce(0, +)) / Double(draws)
        XCTAssertGreaterThan(top, 0.03)
        XCTAssertGreaterThan(top10pct, 0.6)
        // Scrambled: the hottest keys are not simply the lowest numbers.
        let hottest = counts.enumerated().max { $0.element < $1.element }!.offset
        XCTAssertNotEqual(hottest, 0)
    }

    func testKeyNamesAreFixedWidth() {
        XCTAssertEqual(String(decoding: KeyChooser.name(42), as: UTF8.self), "key:000000000042")
        XCTAssertEqual(KeyChooser.name(0).count, KeyChooser.name(999_999).count)
        XCTAssertEqual(String(decoding: KeyChooser.name(999_999_999_999), as: UTF8.self), "key:999999999999")
        XCTAssertEqual(String(decoding: KeyChooser.name(1_234_567_890_123), as: UTF8.self), "key:1234567890123")
    }

    func testSeededRunsRepeat() {
        var a = SeededGenerator(seed: 9), b = SeededGenerator(seed: 9)
        XCTAssertEqual((0..<10).map { _ in a.next() }, (0..<10).map { _ in b.next() })
    }
}

final class OpenLoopScheduleTests: XCTestCase {
    /// 1000 ops/s over 4 clients: each client every 4 ms, clients staggered by 1 ms, so the
    /// merged send times are evenly 1 ms apart.
    func testSendTimesSpreadTheRateEvenly() {
        let s = OpenLoopSchedule(start: 1_000, rate: 1000, clients: 4)
        XCTAssertEqual(s.interval, 4_000_000)
        var times: [UInt64] = []
        for c in 0..<4 { for k in 0..<25 { times.append(s.intended(client: c, op: k)) } }
        times.sort()
        XCTAssertEqual(times.first, 1_000)
        for (a, b) in zip(times, times.dropFirst()) { XCTAssertEqual(b - a, 1_000_000) }
        XCTAssertEqual(s.intended(client: 2, op: 3), 1_000 + 2_000_000 + 12_000_000)
    }

    /// Latency counts from the intended send time: an operation sent late because the client
    /// was stuck on an earlier one carries that delay (no coordinated omission).
    func testLatencyCountsFromTheIntendedTime() {
        XCTAssertEqual(OpenLoopSchedule.latency(intended: 100, completed: 350), 250)
        XCTAssertEqual(OpenLoopSchedule.latency(intended: 400, completed: 350), 0)
        let s = OpenLoopSchedule(start: 0, rate: 100, clients: 1)  // every 10 ms
        // The client stalled 1 s on op 0; ops 1…99 were due during the stall and complete just after it.
        let stallEnd: UInt64 = 1_000_000_000
        let delays = (1..<100).map { OpenLoopSchedule.latency(intended: s.intended(client: 0, op: $0), completed: stallEnd + UInt64($0) * 1000) }
        XCTAssertGreaterThan(delays.first!, 980_000_000)
        XCTAssertGreaterThan(delays.last!, 0)
        XCTAssertEqual(delays.sorted(by: >), delays, "earlier intended sends waited longer")
    }
}

final class PlotTests: XCTestCase {
    /// The picture has the three series and a labelled line per event, and stays valid XML when
    /// a label needs escaping.
    func testSVGHasSeriesAndEvents() throws {
        let ticks = (1...10).map { Tick(t: Double($0), ops_per_s: $0 == 5 ? 0 : 1000, p50_ms: 0.5, p99_ms: $0 == 5 ? 2000 : 3, errors: 0) }
        let svg = Plot.svg(title: "run <1> & more", timeline: ticks, events: [RunEvent(t: 4.5, label: "epoch 7"), RunEvent(t: 6, label: "kill n2")])
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 3)
        XCTAssert(svg.contains("epoch 7") && svg.contains("kill n2"))
        XCTAssert(svg.contains("run &lt;1&gt; &amp; more"))
        XCTAssertEqual(svg.components(separatedBy: "stroke-dasharray").count - 1, 2)
        XCTAssert(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
    }

    /// Events close together share one numbered mark (their labels used to print over each
    /// other); each is listed under the charts with its time and what it changed.
    func testCloseEventsShareAMarkAndAreListed() throws {
        let ticks = (1...60).map { Tick(t: Double($0), ops_per_s: 1000, p50_ms: 0.5, p99_ms: 3, errors: 0) }
        let events = [RunEvent(t: 10, label: "epoch 5: n2 left 9 chains"), RunEvent(t: 10.2, label: "epoch 6: n4 copying 3 chains"),
                      RunEvent(t: 10.4, label: "epoch 7: n4 joined 1 chain"), RunEvent(t: 40, label: "epoch 8: 2 tails moved")]
        let svg = Plot.svg(title: "t", timeline: ticks, events: events)
        XCTAssertEqual(svg.components(separatedBy: "stroke-dasharray").count - 1, 2, "two marks: 1–3 and 4")
        XCTAssert(svg.contains(">1–3</text>") && svg.contains(">4</text>"), svg)
        XCTAssert(svg.contains("1  10.0 s  epoch 5: n2 left 9 chains"), svg)
        XCTAssert(svg.contains("4  40.0 s  epoch 8: 2 tails moved"), svg)
        XCTAssertEqual(Plot.marks([0, 10, 50, 60, 200], minGap: 34).map { [$0.first, $0.last] }, [[0, 1], [2, 3], [4, 4]])
        let many = Plot.svg(title: "t", timeline: ticks, events: (0..<30).map { RunEvent(t: Double($0) * 2, label: "epoch \($0)") })
        XCTAssert(many.contains("… and 6 more"), "the list stops at \(Plot.maxListed)")
    }
}

final class YCSBWorkloadTests: XCTestCase {
    func testWorkloadsDAndF() throws {
        XCTAssertEqual(try Workload.named("d").mix, [.get: 95, .insert: 5])
        XCTAssertEqual(try Workload.named("f").mix, [.get: 50, .rmw: 50])
        XCTAssertEqual(try Workload.parseMix("get=80,insert=10,rmw=10").mix, [.get: 80, .insert: 10, .rmw: 10])
        XCTAssertThrowsError(try Workload.named("e"))
    }

    /// `latest`: draws count back from the newest key, mostly a short way.
    func testLatestFavoursTheNewestKeys() {
        let c = KeyChooser(count: 10_000, distribution: .latest)
        var g = SeededGenerator(seed: 3)
        let back = (0..<20_000).map { _ in c.next(using: &g) }
        XCTAssert(back.allSatisfy { (0..<10_000).contains($0) })
        XCTAssertGreaterThan(Double(back.filter { $0 < 10 }.count) / 20_000, 0.3, "the 10 newest keys get a large share")
        var counts: [Int: Int] = [:]
        for b in back { counts[b, default: 0] += 1 }
        let top = counts.max { $0.value < $1.value }?.key
        XCTAssertEqual(top, 0, "the newest key is the most frequent")
    }
}
