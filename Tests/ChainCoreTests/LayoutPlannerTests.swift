import XCTest
@testable import ChainCore

final class LayoutPlannerTests: XCTestCase {
    private func counts(_ chains: [ChainConfig], _ pick: (ChainConfig) -> NodeID?) -> [NodeID: Int] {
        var c: [NodeID: Int] = [:]
        for ch in chains { if let n = pick(ch) { c[n, default: 0] += 1 } }
        return c
    }

    /// Property test over many node counts, replication factors and chain counts.
    func testInterleavedLayoutProperties() throws {
        for n in 1...9 {
            let nodes = (1...n).map { "n\($0)" }.shuffled()
            for r in 1...min(n, 5) {
                for chains in [1, 2, 3, n, 4 * n, 4 * n + 1, 7 * n + 3, 64] {
                    let layout = try LayoutPlanner.initialLayout(nodes: nodes, chains: chains, replication: r)
                    XCTAssertEqual(layout.count, chains)
                    for (i, c) in layout.enumerated() {
                        XCTAssertEqual(c.id, i)
                        XCTAssertEqual(c.members.count, r)
                        XCTAssertEqual(Set(c.members).count, r, "members are distinct")
                    }
                    for pick in [{ (c: ChainConfig) in c.head }, { (c: ChainConfig) in c.tail }] {
                        let cnt = counts(layout, pick)
                        let values = nodes.map { cnt[$0] ?? 0 }
                        XCTAssertLessThanOrEqual(values.max()! - values.min()!, 1, "n=\(n) r=\(r) chains=\(chains)")
                    }
                    XCTAssertEqual(try LayoutPlanner.initialLayout(nodes: nodes.reversed(), chains: chains, replication: r), layout,
                                   "deterministic whatever the registration order")
                }
            }
        }
    }

    func testRefusesImpossibleLayouts() {
        XCTAssertThrowsError(try LayoutPlanner.initialLayout(nodes: ["a", "b"], chains: 4, replication: 3)) {
            XCTAssertEqual($0 as? LayoutPlanner.PlanError, .notEnoughNodes(have: 2, need: 3))
        }
        XCTAssertThrowsError(try LayoutPlanner.initialLayout(nodes: ["a"], chains: 0, replication: 1))
        XCTAssertThrowsError(try LayoutPlanner.initialLayout(nodes: ["a", "a", "b"], chains: 2, replication: 3), "duplicates do not count")
    }

    func testSlotsAreDividedEvenlyAndCompletely() {
        for chains in [1, 3, 7, 12, 100, 16384] {
            var covered = 0
            var sizes: [Int] = []
            for c in 0..<chains {
                let r = Configuration.slots(of: c, chainCount: chains)
                XCTAssertEqual(r.lowerBound, covered, "contiguous")
                covered = r.upperBound
                sizes.append(r.count)
            }
            XCTAssertEqual(covered, HashSlot.count)
            XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1)
            let config = Configuration(epoch: 1, replication: 1, nodes: [], chains: (0..<chains).map { ChainConfig(id: $0, members: []) })
            for slot in stride(from: 0, to: HashSlot.count, by: 97) {
                XCTAssert(config.slots(of: config.chain(forSlot: slot)).contains(slot))
            }
        }
    }

    func testRoles() throws {
        let layout = try LayoutPlanner.initialLayout(nodes: ["a", "b", "c"], chains: 3, replication: 3)
        let config = Configuration(epoch: 1, replication: 3, nodes: [], chains: layout)
        XCTAssertEqual(layout[0].members, ["a", "b", "c"])
        XCTAssertEqual(config.role(of: "a", in: 0), .head)
        XCTAssertEqual(config.role(of: "b", in: 0), .middle)
        XCTAssertEqual(config.role(of: "c", in: 0), .tail)
        XCTAssertEqual(layout[1].members, ["b", "c", "a"])
        XCTAssertEqual(layout[0].successor(of: "b"), "c")
        XCTAssertNil(layout[0].successor(of: "c"))
        XCTAssertEqual(layout[0].predecessor(of: "b"), "a")
        let single = Configuration(epoch: 1, replication: 1, nodes: [], chains: [ChainConfig(id: 0, members: ["x"])])
        XCTAssertEqual(single.role(of: "x", in: 0), .single)
        XCTAssertEqual(single.role(of: "y", in: 0), .none)
    }
}
