import XCTest
@testable import ChainCore

/// A put held as one array (`Mutation.putPair`) is the same change as the put of its key and
/// value: equal, hashed alike, with the same key; different bytes differ.
final class KeyValueTests: XCTestCase {
    private func pair(_ key: [UInt8], _ gap: [UInt8], _ value: [UInt8]) -> Mutation {
        .putPair(KeyValue(storage: key + gap + value, keyCount: key.count, valueStart: key.count + gap.count))
    }

    func testAPairIsThePutOfItsParts() {
        let put = Mutation.put(key: [1, 2], value: [3, 4, 5])
        for p in [pair([1, 2], [], [3, 4, 5]), pair([1, 2], [0, 0, 0, 3], [3, 4, 5])] {
            XCTAssertEqual(p, put)
            XCTAssertEqual(put, p)
            XCTAssertEqual(p.hashValue, put.hashValue)
            XCTAssertEqual(p.key, [1, 2])
            XCTAssertEqual(p.putBytes.map { [Array($0.key), Array($0.value)] }, [[1, 2], [3, 4, 5]])
        }
        XCTAssertEqual(Set([put, pair([1, 2], [9], [3, 4, 5])]).count, 1)
    }

    func testDifferentBytesDiffer() {
        let p = pair([1, 2], [7], [3])
        XCTAssertNotEqual(p, .put(key: [1], value: [2, 7, 3]), "the split is part of the value")
        XCTAssertNotEqual(p, pair([1, 2], [7], [4]))
        XCTAssertNotEqual(p, .delete(key: [1, 2]))
        XCTAssertEqual(pair([], [], []), .put(key: [], value: []))
    }

    /// Equality and hashing are written by hand (a pair equals a put): every kind of mutation
    /// equals itself, hashes alike, and differs when any of its parts or its kind does.
    func testEveryKindComparesByItsParts() {
        let all: [Mutation] = [
            .put(key: [1], value: [2]), .put(key: [1], value: [3]), .put(key: [4], value: [2]),
            .delete(key: [1]), .delete(key: [2]),
            .clearChain,
            .putField(key: [1], field: [2], value: [3]), .putField(key: [1], field: [2], value: [4]),
            .putField(key: [1], field: [5], value: [3]), .putField(key: [6], field: [2], value: [3]),
            .deleteField(key: [1], field: [2]), .deleteField(key: [1], field: [3]), .deleteField(key: [4], field: [2]),
        ]
        for (i, a) in all.enumerated() {
            for (j, b) in all.enumerated() {
                XCTAssertEqual(a == b, i == j, "\(a) against \(b)")
            }
            XCTAssertEqual(Set([a, a]).count, 1)
        }
        XCTAssertEqual(Set(all).count, all.count)
    }
}
