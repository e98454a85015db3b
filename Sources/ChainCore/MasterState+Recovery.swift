/// Recovering a master that lost its state (its data directory) from the nodes: every node keeps
/// the last configuration it installed and sends it when it registers. A master with no table
/// that hears such a node refuses it — forming a fresh table would make nodes throw away chains —
/// unless it was started to recover (`--recover-nodes N`): then it waits until N nodes have
/// registered and adopts the newest configuration among theirs.
///
/// Why the newest one heard is the right one once every node has registered: nodes act only on
/// configurations they installed, so the newest any node installed is the newest that took
/// effect. A configuration the old master published but no node installed never mattered. The
/// adopted table is published 1000 epochs later, above anything a node could hold.
extension MasterState {
    public enum RecoveryOutcome: Equatable, Sendable {
        /// The master was not started to recover; the reason says what to do.
        case refused(String)
        /// Still waiting for more nodes.
        case waiting(have: Int, need: Int)
        /// The table was adopted and published at this epoch.
        case recovered(Epoch)
    }

    /// Epochs added to the adopted configuration.
    public static let recoveryEpochGap: Epoch = 1000

    /// A node that installed `lastConfig` registers with a master that has no table.
    public mutating func recover(_ node: NodeInfo, lastConfig: Configuration, need: Int) -> RecoveryOutcome {
        guard config == nil else { return .waiting(have: 0, need: 0) }
        guard Self.isValidID(node.id) else { return .refused("invalid node id") }
        if let p = lastConfig.problem { return .refused("node \(node.id) sent a configuration that cannot be adopted: \(p)") }
        guard need > 0 else {
            return .refused("node \(node.id) holds epoch \(lastConfig.epoch) of an existing cluster, but this master has no state. "
                + "If the master's data directory was lost, restart it with --recover-nodes N (N = the number of nodes in the cluster); "
                + "see Docs/runbooks/disaster-recovery.md")
        }
        if let i = nodes.firstIndex(where: { $0.id == node.id }) { nodes[i] = node } else { nodes.append(node) }
        var heard = Set(recoveryHeard ?? [])
        heard.insert(node.id)
        recoveryHeard = heard.sorted()
        if lastConfig.epoch > (recoveryBest?.epoch ?? 0) { recoveryBest = lastConfig }
        guard heard.count >= need, var c = recoveryBest else { return .waiting(have: heard.count, need: need) }
        // Adopt: the registered addresses win over the recorded ones; nodes of the table that
        // have not registered stay listed (the failure detector handles them).
        for n in c.nodes where !nodes.contains(where: { $0.id == n.id }) { nodes.append(n) }
        c.nodes = nodes.sorted { $0.id < $1.id }
        c.epoch += Self.recoveryEpochGap
        for i in c.chains.indices { c.chains[i].frozen = nil }
        // The cluster keeps its identity (a table from before identities takes this master's).
        clusterID = c.cluster ?? clusterID
        c.cluster = clusterID
        config = c
        replication = c.replication
        requestedChains = c.chains.count
        pool = Array(Set(c.chains.flatMap(\.members))).sorted()
        recoveryHeard = nil
        recoveryBest = nil
        return .recovered(c.epoch)
    }
}
