import XCTest
@testable import ChainCore

/// Property tests of the rebalancing target: whatever the starting layout and the new node set,
/// every chain gets `replication` distinct members from the set, member/head/tail counts per node
/// differ by at most one, the result is deterministic, and data moves only where it must.
final class RebalancerTests: XCTestCase {
    private func check(_ target: [[NodeID]], pool: [NodeID], r: Int, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let p = Set(pool)
        for c in target {
            XCTAssertEqual(c.count, r, label, file: file, line: line)
            XCTAssertEqual(Set(c).count, c.count, "distinct members: \(label)", file: file, line: line)
            XCTAssert(Set(c).isSubset(of: p), "only pool nodes: \(label)", file: file, line: line)
        }
        for (what, pick) in [("members", { (c: [NodeID]) in c }), ("heads", { [$0.first!] }), ("tails", { [$0.last!] })] {
            var n: [NodeID: Int] = [:]
            for c in target { for m in pick(c) { n[m, default: 0] += 1 } }
            let v = pool.map { n[$0] ?? 0 }
            XCTAssertLessThanOrEqual(v.max()! - v.min()!, 1, "\(what) \(v): \(label)", file: file, line: line)
        }
    }

    /// Positions (chain, node) in `b` that are not in `a`: each is one chain copy to a node.
    private func moves(_ a: [[NodeID]], _ b: [[NodeID]]) -> Int {
        zip(a, b).reduce(0) { $0 + Set($1.1).subtracting($1.0).count }
    }

    func testAddingNodesBalancesWithTheFewestMoves() throws {
        for n in 1...7 {
            for r in 1...min(n, 5) {
                for chains in [1, n, 4 * n, 4 * n + 1, 3 * n + 2] {
                    let nodes = (1...n).map { "n\($0)" }
                    let start = try LayoutPlanner.initialLayout(nodes: nodes, chains: chains, replication: r).map(\.members)
                    for added in 1...2 {
                        let pool = nodes + (1...added).map { "new\($0)" }
                        let label = "n=\(n)+\(added) r=\(r) chains=\(chains)"
                        let t = try XCTUnwrap(Rebalancer.target(current: start, nodes: pool, replication: r))
                        check(t, pool: pool, r: r, label)
                        XCTAssertEqual(Rebalancer.target(current: start, nodes: pool.reversed(), replication: r), t, "deterministic: \(label)")
                        // Only the newcomers receive data, and each receives only its share.
                        let gained = t.reduce(0) { $0 + $1.filter { $0.hasPrefix("new") }.count }
                        XCTAssertEqual(moves(start, t), gained, "moves only to new nodes: \(label)")
                        XCTAssertLessThanOrEqual(gained, added * ((chains * r + pool.count - 1) / pool.count), label)
                    }
                }
            }
        }
    }

    func testRemovingANodeMovesOnlyItsPositions() throws {
        for n in 2...8 {
            for r in 1...min(n - 1, 5) {
                for chains in [n, 4 * n, 4 * n + 3] {
                    let nodes = (1...n).map { "n\($0)" }
                    let start = try LayoutPlanner.initialLayout(nodes: nodes, chains: chains, replication: r).map(\.members)
                    let leaving = nodes[n / 2]
                    let pool = nodes.filter { $0 != leaving }
                    let label = "n=\(n)-1 r=\(r) chains=\(chains)"
                    let t = try XCTUnwrap(Rebalancer.target(current: start, nodes: pool, replication: r))
                    check(t, pool: pool, r: r, label)
                    let held = start.filter { $0.contains(leaving) }.count
                    XCTAssertEqual(moves(start, t), held, "each of the leaving node's positions moves once: \(label)")
                }
            }
        }
    }

    /// A larger cluster (40 nodes, 160 chains): a node leaves and one joins; the narrowed pair
    /// search (only pairs that take a role from an overloaded node) still reaches balance.
    func testLargeClusterStaysBalanced() throws {
        let nodes = (1...40).map { "n\($0)" }
        let start = try LayoutPlanner.initialLayout(nodes: nodes, chains: 160, replication: 3).map(\.members)
        let smaller = Array(nodes.dropFirst())
        let t1 = try XCTUnwrap(Rebalancer.target(current: start, nodes: smaller, replication: 3))
        check(t1, pool: smaller, r: 3, "40-1")
        let t2 = try XCTUnwrap(Rebalancer.target(current: t1, nodes: smaller + ["new"], replication: 3))
        check(t2, pool: smaller + ["new"], r: 3, "39+1")
    }

    /// Arbitrary (unbalanced, degraded, over-full) layouts and pools still reach balance.
    func testRandomLayoutsReachBalance() {
        var rng = SeededRandom(seed: 7)
        for round in 0..<300 {
            let n = 1 + rng.below(9)
            let r = 1 + rng.below(min(n, 5))
            let chains = 1 + rng.below(40)
            let all = (1...n + 2).map { "n\($0)" }
            let current: [[NodeID]] = (0..<chains).map { _ in
                (0..<rng.below(r + 2)).map { _ in all[rng.below(all.count)] }
            }
            let pool = Array(all.prefix(n))
            let label = "round \(round): n=\(n) r=\(r) chains=\(chains)"
            guard let t = Rebalancer.target(current: current, nodes: pool, replication: r) else {
                XCTFail("no target: \(label)")
                continue
            }
            check(t, pool: pool, r: r, label)
        }
    }

    func testBalancedLayoutIsLeftAlone() throws {
        let nodes = ["a", "b", "c", "d"]
        let start = try LayoutPlanner.initialLayout(nodes: nodes, chains: 16, replication: 3).map(\.members)
        XCTAssertEqual(Rebalancer.target(current: start, nodes: nodes, replication: 3), start)
    }

    func testTooFewNodesHasNoTarget() {
        XCTAssertNil(Rebalancer.target(current: [["a", "b", "c"]], nodes: ["a", "b"], replication: 3))
        XCTAssertNil(Rebalancer.target(current: [], nodes: ["a"], replication: 1))
    }
}
