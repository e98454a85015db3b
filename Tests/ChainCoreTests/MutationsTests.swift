import XCTest
@testable import ChainCore

/// `Mutations` keeps one mutation inline and more in an array: it must behave as the array of
/// its elements in every respect callers use (order, count, equality, hashing).
final class MutationsTests: XCTestCase {
    private let a = Mutation.put(key: [1], value: [2])
    private let b = Mutation.delete(key: [3])
    private let c = Mutation.putField(key: [4], field: [5], value: [6])

    func testBehavesAsTheArrayOfItsElements() {
        for elements in [[], [a], [a, b], [a, b, c, .clearChain]] as [[Mutation]] {
            let m = Mutations(elements)
            XCTAssertEqual(Array(m), elements)
            XCTAssertEqual(m.count, elements.count)
            XCTAssertEqual(m.isEmpty, elements.isEmpty)
            XCTAssertEqual(m.single, elements.count == 1 ? elements[0] : nil)
            var appended = Mutations()
            for e in elements { appended.append(e) }
            XCTAssertEqual(appended, m, "appending one by one gives the same value as \(elements)")
            XCTAssertEqual(appended.hashValue, m.hashValue)
        }
    }

    func testEqualityComparesElementsInOrder() {
        XCTAssertEqual([a] as Mutations, Mutations(a))
        XCTAssertNotEqual([a, b] as Mutations, [b, a])
        XCTAssertNotEqual([a] as Mutations, [a, a])
        XCTAssertNotEqual(Mutations(), [a])
        XCTAssertEqual(Set([[a], Mutations(a), Mutations([a])] as [Mutations]).count, 1)
    }

    func testAppendingToASharedValueLeavesTheOtherAlone() {
        var first: Mutations = [a, b]
        let copy = first
        first.append(c)
        XCTAssertEqual(Array(copy), [a, b])
        XCTAssertEqual(Array(first), [a, b, c])
    }

    /// Updates compare by content, not identity (a replica compares what it holds with what
    /// it receives).
    func testUpdatesCompareByContent() {
        let u = Update(seq: 3, epoch: 2, mutations: [a], tag: RequestTag(client: 1, request: 2), reply: [43])
        XCTAssertEqual(u, Update(seq: 3, epoch: 2, mutations: Mutations(a), tag: RequestTag(client: 1, request: 2), reply: [43]))
        XCTAssertNotEqual(u, Update(seq: 3, epoch: 2, mutations: [b], tag: RequestTag(client: 1, request: 2), reply: [43]))
        XCTAssertNotEqual(u, Update(seq: 3, epoch: 1, mutations: [a], tag: RequestTag(client: 1, request: 2), reply: [43]))
        XCTAssertNotEqual(u, Update(seq: 3, epoch: 2, mutations: [a], tag: nil, reply: [43]))
        XCTAssertNotEqual(u, Update(seq: 3, epoch: 2, mutations: [a], tag: RequestTag(client: 1, request: 2), reply: []))
        XCTAssertTrue(u.description.contains("seq: 3"))
    }
}
