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
    }

    func testSeededRunsRepeat() {
        var a = SeededGenerator(seed: 9), b = SeededGenerator(seed: 9)
        XCTAssertEqual((0..<10).map { _ in a.next() }, (0..<10).map { _ in b.next() })
    }
}
