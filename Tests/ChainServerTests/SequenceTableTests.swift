import XCTest
@testable import ChainServer

/// The reply-slot and commit-token table agrees with a dictionary, however long an entry stays.
final class SequenceTableTests: XCTestCase {
    func testAgreesWithADictionaryAcrossSpills() {
        var rng = SystemRandomNumberGenerator()
        for maxWindow in [1, 4, 64, 1 << 16] {
            var t = SequenceTable<Int>(maxWindow: maxWindow)
            var model: [UInt64: Int] = [:]
            var next: UInt64 = 1
            for step in 0..<20_000 {
                if Int.random(in: 0..<3, using: &rng) > 0 {
                    next += UInt64.random(in: 1...3, using: &rng)  // ids with gaps (other tables take some)
                    t.insert(step, at: next)
                    model[next] = step
                } else if let id = (Bool.random(using: &rng) ? model.keys.min() : model.keys.randomElement()) {
                    XCTAssertEqual(t.removeValue(forKey: id), model.removeValue(forKey: id))
                }
                if step % 97 == 0, let id = model.keys.randomElement() { XCTAssertEqual(t[id], model[id]) }
                XCTAssertEqual(t.count, model.count)
            }
            XCTAssertNil(t.removeValue(forKey: next + 1))
            XCTAssertNil(t[0])
            for (id, v) in model { XCTAssertEqual(t.removeValue(forKey: id), v) }
            XCTAssert(t.isEmpty)
            // Empty again: a new window starts wherever the next id is.
            t.insert(7, at: next + 1_000_000)
            XCTAssertEqual(t[next + 1_000_000], 7)
        }
    }
}
