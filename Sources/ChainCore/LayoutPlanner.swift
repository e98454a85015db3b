/// Computes the chain table. Pure and deterministic: the same nodes, chain count and replication
/// always give the same table.
public enum LayoutPlanner {
    public enum PlanError: Error, Equatable, CustomStringConvertible {
        case notEnoughNodes(have: Int, need: Int)
        case invalidChainCount(Int)

        public var description: String {
            switch self {
            case let .notEnoughNodes(have, need): return "need \(need) nodes for replication \(need), have \(have)"
            case let .invalidChainCount(n): return "chain count must be between 1 and 16384, not \(n)"
            }
        }
    }

    /// The interleaved initial table: with the nodes sorted, chain i is
    /// `n[i], n[i+1], …, n[i+R-1]` (indices mod the node count). Every node therefore heads
    /// `chains/nodes` chains (±1) and is the tail of as many, and each position rotates over all
    /// nodes, so client writes enter at every node and every node serves reads.
    public static func initialLayout(nodes: [NodeID], chains: Int, replication: Int) throws(PlanError) -> [ChainConfig] {
        guard chains >= 1 && chains <= HashSlot.count else { throw .invalidChainCount(chains) }
        let sorted = Array(Set(nodes)).sorted()
        guard sorted.count >= replication, replication >= 1 else {
            throw .notEnoughNodes(have: sorted.count, need: max(replication, 1))
        }
        let n = sorted.count
        return (0..<chains).map { i in
            ChainConfig(id: i, members: (0..<replication).map { sorted[(i + $0) % n] })
        }
    }
}
