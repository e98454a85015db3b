/// The configuration master's durable state and its decisions, as a pure value: registrations in,
/// configurations out. The shell persists it (before publishing anything new) and serves it.
public struct MasterState: Codable, Sendable, Equatable {
    public var replication: Int
    /// Chains to create; nil means 4 × the number of nodes the table is first formed with.
    public var requestedChains: Int?
    /// Nodes to wait for before forming the table (at least `replication`).
    public var initialNodes: Int
    /// Every node that ever registered and was not removed.
    public var nodes: [NodeInfo]
    /// The current configuration; nil until the table is formed.
    public var config: Configuration?
    /// Nodes declared failed and spliced out of their chains (they stay registered, and may
    /// come back as spares).
    public var failed: [NodeID]?
    /// Nodes being drained: moved out of every chain, each chain first gaining a replacement.
    public var draining: [NodeID]?
    /// Nodes admitted to the layout (the initial ones, and those added with `add`): the
    /// rebalancer spreads the chains over these plus any node already in a chain. A registered
    /// node outside it is a spare, used only to restore the replication factor.
    public var pool: [NodeID]?
    /// The layout the master is moving to (see `converge`), and the node set it was computed
    /// for; recomputed when that set changes.
    public var target: [[NodeID]]?
    public var targetNodes: [NodeID]?
    /// While recovering a lost state from the nodes: who reported, and the newest table heard.
    public var recoveryHeard: [NodeID]?
    public var recoveryBest: Configuration?
    /// This cluster's identity, given to the table when it is formed (`Configuration.cluster`).
    public var clusterID: String?
    /// Each node's process id (boot id) from its last registration: the same process
    /// registering again (its reply was slow or went to a master that lost leadership) is not
    /// taken for a restart — it may hold a lease. Kept with the state so that a new leader knows.
    public var boots: [NodeID: String]?
    /// A whole-cluster stop in progress or done (`beginStop`); nil while the cluster runs.
    public var stop: ClusterStop?

    public init(replication: Int, chains: Int?, initialNodes: Int, clusterID: String? = nil) {
        self.clusterID = clusterID
        self.replication = replication
        self.requestedChains = chains
        self.initialNodes = max(initialNodes, replication)
        self.nodes = []
        self.config = nil
    }

    public var epoch: Epoch { config?.epoch ?? 0 }

    public enum RegisterOutcome: Equatable, Sendable {
        /// Nothing changed (a node re-registering with the same addresses).
        case unchanged
        /// The node is new or moved; the state changed (persist it) but no new configuration.
        case recorded
        /// A new configuration was produced (persist, then publish).
        case reconfigured(Epoch)
    }

    public enum RegisterError: Error, Equatable, Sendable, CustomStringConvertible {
        case invalidID(String)
        case addressInUse(String, by: NodeID)

        public var description: String {
            switch self {
            case let .invalidID(id): return "invalid node id '\(id)': use 1-64 letters, digits, '-', '_' or '.'"
            case let .addressInUse(a, by): return "address \(a) is already registered by node \(by)"
            }
        }
    }

    /// A node announces itself (at start-up, and again after a restart). The table is formed once
    /// `initialNodes` nodes are known; a node whose addresses changed gets a new epoch so that
    /// peers and clients learn them.
    /// With `admit`, a node new to a formed cluster joins the pool at once (the master's
    /// auto-rebalance flag); otherwise it stays a spare until `add`.
    public mutating func register(_ node: NodeInfo, admit: Bool = false) throws(RegisterError) -> RegisterOutcome {
        guard Self.isValidID(node.id) else { throw .invalidID(node.id) }
        for other in nodes where other.id != node.id {
            for a in [node.client, node.peer, node.http] where [other.client, other.peer, other.http].contains(a) {
                throw .addressInUse(a, by: other.id)
            }
        }
        if let i = nodes.firstIndex(where: { $0.id == node.id }) {
            // A failed node that starts again comes back as a spare (its old chains were spliced
            // without it; it may join chains again, catching up from the data it kept).
            if let f = failed, f.contains(node.id) {
                failed = f.filter { $0 != node.id }
                if nodes[i] == node { return .recorded }
            }
            guard nodes[i] != node else { return formIfReady() ?? .unchanged }
            nodes[i] = node
            if var c = config, let j = c.nodes.firstIndex(where: { $0.id == node.id }) {
                c.nodes[j] = node
                c.epoch += 1
                config = c
                return .reconfigured(c.epoch)
            }
            return formIfReady() ?? .recorded
        }
        nodes.append(node)
        if admit && config != nil { pool = (pool ?? []) + [node.id] }
        return formIfReady() ?? .recorded
    }

    private mutating func formIfReady() -> RegisterOutcome? {
        // (Never while recovering: a fresh table would make nodes drop their chains.)
        guard config == nil, recoveryHeard == nil, nodes.count >= initialNodes else { return nil }
        let members = nodes.sorted { $0.id < $1.id }
        let chains = requestedChains ?? 4 * members.count
        guard let table = try? LayoutPlanner.initialLayout(nodes: members.map(\.id), chains: chains, replication: replication) else {
            return nil
        }
        config = Configuration(epoch: 1, replication: replication, nodes: members, chains: table, cluster: clusterID)
        pool = members.map(\.id)
        return .reconfigured(1)
    }

    /// Splices failed nodes out of their chains. One membership step per chain per epoch: a chain
    /// loses at most one member here (a second failed member goes in the next call), and a
    /// chain's last member is never removed — it may hold the only copy of the chain's data.
    /// Returns the new epoch, or nil when nothing changed.
    /// `silent`: the nodes were not heard from for a lease, so none of them is still serving
    /// (false for a live node taken out for a cut link).
    public mutating func spliceOut(_ dead: Set<NodeID>, silent: Bool = true) -> Epoch? {
        guard var c = config, !dead.isEmpty else { return nil }
        var changed = false
        var removed: Set<NodeID> = []
        for i in c.chains.indices {
            if let j = c.chains[i].joining, dead.contains(j) {
                c.chains[i].joining = nil
                removed.insert(j)
                changed = true
            }
            let members = c.chains[i].members
            guard members.count > 1, let victim = members.first(where: { dead.contains($0) }) else { continue }
            c.chains[i].members.removeAll { $0 == victim }
            removed.insert(victim)
            changed = true
        }
        var f = Set(failed ?? [])
        for d in dead where !f.contains(d) { f.insert(d); changed = true }
        failed = f.sorted()
        guard changed else { return nil }
        if !removed.isEmpty {
            c.epoch += 1
            c.noteTailChanges(from: config!, silenced: silent ? removed : [])
            config = c
            return c.epoch
        }
        return nil
    }

    public enum RemoveError: Error, Equatable, Sendable, CustomStringConvertible {
        case unknown(NodeID)
        case stillInChains(NodeID, [ChainID])

        public var description: String {
            switch self {
            case let .unknown(id): return "no node '\(id)' is registered"
            case let .stillInChains(id, chains):
                return "node \(id) is still in chains \(chains.map(String.init).joined(separator: ", ")); it can be removed once it failed and was spliced out (or was drained)"
            }
        }
    }

    /// Forgets a node that is in no chain (failed and spliced out, or a spare). Returns the new
    /// epoch (the configuration's node list changes).
    public mutating func remove(_ id: NodeID) throws(RemoveError) -> Epoch? {
        guard nodes.contains(where: { $0.id == id }) else { throw .unknown(id) }
        let inChains = config?.chains.filter { $0.members.contains(id) || $0.joining == id }.map(\.id) ?? []
        guard inChains.isEmpty else { throw .stillInChains(id, inChains) }
        nodes.removeAll { $0.id == id }
        failed = failed?.filter { $0 != id }
        draining = draining?.filter { $0 != id }
        pool = pool?.filter { $0 != id }
        guard var c = config else { return nil }
        c.nodes.removeAll { $0.id == id }
        c.epoch += 1
        config = c
        return c.epoch
    }

    /// Nodes that are members of at least one chain, or joining one.
    public var members: Set<NodeID> {
        Set(config?.chains.flatMap { $0.members + ($0.joining.map { [$0] } ?? []) } ?? [])
    }

    public enum DrainError: Error, Equatable, Sendable, CustomStringConvertible {
        case unknown(NodeID)
        case noReplacement(NodeID, need: Int, have: Int)

        public var description: String {
            switch self {
            case let .unknown(id): return "no node '\(id)' is registered"
            case let .noReplacement(id, need, have):
                return "draining \(id) would leave chains below replication \(need): only \(have) other live nodes can hold them; add a node first"
            }
        }
    }

    /// Starts draining a node: each of its chains first gets a replacement (a joiner, promoted
    /// when in sync), then the node is spliced out of it — so no chain drops below the
    /// replication factor. Refused when there are not enough other nodes to hold the chains.
    public mutating func drain(_ id: NodeID, alive: Set<NodeID>) throws(DrainError) {
        guard nodes.contains(where: { $0.id == id }) else { throw .unknown(id) }
        var d = Set(draining ?? [])
        let others = alive.subtracting(d).subtracting([id])
        guard others.count >= replication || !(members.contains(id)) else {
            throw .noReplacement(id, need: replication, have: others.count)
        }
        d.insert(id)
        draining = d.sorted()
        pool = pool?.filter { $0 != id }
    }

    /// A joining node reported being in sync: it becomes the chain's tail.
    public mutating func promote(chain: ChainID, node: NodeID) -> Epoch? {
        guard var c = config, c.chains.indices.contains(chain), c.chains[chain].joining == node else { return nil }
        c.chains[chain].members.append(node)
        c.chains[chain].joining = nil
        c.epoch += 1
        c.noteTailChanges(from: config!)
        config = c
        return c.epoch
    }

    public static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64 && id.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 || $0 == 46
        }
    }
}
