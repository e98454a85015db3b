public typealias NodeID = String
public typealias ChainID = Int
public typealias Epoch = UInt64

/// A storage node's identity and its three addresses.
public struct NodeInfo: Codable, Sendable, Equatable, Hashable {
    public var id: NodeID
    /// RESP clients.
    public var client: String
    /// Peer (chain) links.
    public var peer: String
    /// HTTP status and metrics.
    public var http: String

    public init(id: NodeID, client: String, peer: String, http: String) {
        self.id = id
        self.client = client
        self.peer = peer
        self.http = http
    }
}

/// One chain: its members, head first, tail last, and possibly a node joining it.
public struct ChainConfig: Codable, Sendable, Equatable {
    public var id: ChainID
    public var members: [NodeID]
    /// A node catching up behind the tail (snapshot + live stream). It is not a member yet: it
    /// neither commits nor serves; the master makes it the tail once it reports being in sync.
    public var joining: NodeID?
    /// Set (to the epoch it started in) while the chain pauses writes so that its members can be
    /// reordered: the head refuses new writes until every member holds the same, committed
    /// history, then the master publishes the new order.
    public var frozen: Epoch?
    /// The tail the current tail took the role from, when that node left the role alive and may
    /// still serve reads until it installs this configuration: promoted past, drained, reordered,
    /// or spliced out for a cut link. The new tail serves reads only once that node confirmed its
    /// step-down, or a lease after it learned of the change. Nil when the old tail was spliced
    /// out for silence (its lease had run out) or restarted (its old process is gone).
    public var stepsDown: NodeID?

    public init(id: ChainID, members: [NodeID], joining: NodeID? = nil, frozen: Epoch? = nil, stepsDown: NodeID? = nil) {
        self.id = id
        self.members = members
        self.joining = joining
        self.frozen = frozen
        self.stepsDown = stepsDown
    }

    public var head: NodeID? { members.first }
    public var tail: NodeID? { members.last }

    public func successor(of node: NodeID) -> NodeID? {
        guard let i = members.firstIndex(of: node), i + 1 < members.count else { return nil }
        return members[i + 1]
    }

    public func predecessor(of node: NodeID) -> NodeID? {
        guard let i = members.firstIndex(of: node), i > 0 else { return nil }
        return members[i - 1]
    }
}

extension Configuration {
    /// For each chain whose tail changes from `old` to this configuration, records the old tail
    /// in `stepsDown` unless it is in `silenced` (a chain whose tail stays keeps its record).
    mutating func noteTailChanges(from old: Configuration, silenced: Set<NodeID> = []) {
        for i in chains.indices where old.chains.indices.contains(i) {
            guard let before = old.chains[i].tail, chains[i].tail != before else { continue }
            chains[i].stepsDown = silenced.contains(before) ? nil : before
        }
    }
}

/// A node's place in one chain.
public enum ChainRole: String, Sendable, Equatable {
    /// First member: takes writes and assigns sequence numbers.
    case head
    /// Neither first nor last: applies and forwards.
    case middle
    /// Last member: commits, acknowledges upstream, serves reads.
    case tail
    /// The only member: head and tail at once.
    case single
    /// Not a member yet: catching up behind the tail.
    case joining
    /// Not a member.
    case none
}

/// Everything a node or client needs to route: epoch, nodes, chains. Slots are divided evenly
/// among chains in contiguous ranges and never move.
public struct Configuration: Codable, Sendable, Equatable {
    public var epoch: Epoch
    public var replication: Int
    public var nodes: [NodeInfo]
    public var chains: [ChainConfig]
    /// The cluster this configuration belongs to (set when the table is first formed): a
    /// master refuses nodes of another cluster instead of merging them.
    public var cluster: String?
    /// Set while the whole cluster is stopped for maintenance (`chainctl stop-cluster`): its
    /// chains are frozen until an operator starts it again, so a write is refused at once
    /// rather than held as it is through a reorder's brief freeze.
    public var stopped: Bool?

    public init(epoch: Epoch, replication: Int, nodes: [NodeInfo], chains: [ChainConfig], cluster: String? = nil, stopped: Bool? = nil) {
        self.epoch = epoch
        self.replication = replication
        self.nodes = nodes
        self.chains = chains
        self.cluster = cluster
        self.stopped = stopped
    }

    public func node(_ id: NodeID) -> NodeInfo? { nodes.first { $0.id == id } }

    /// The chain owning `slot`: chain i owns slots [i·S/N, (i+1)·S/N).
    public func chain(forSlot slot: Int) -> ChainID {
        Self.chain(forSlot: slot, chainCount: chains.count)
    }

    /// The chain of `slot` in a table of `chainCount` chains.
    public static func chain(forSlot slot: Int, chainCount: Int) -> ChainID {
        slot * chainCount / HashSlot.count
    }

    public func chain(forKey key: [UInt8]) -> ChainID { chain(forSlot: HashSlot.of(key)) }

    public func chain(forKey key: ArraySlice<UInt8>) -> ChainID { chain(forSlot: HashSlot.of(key)) }

    /// The slots of `chain`, as a half-open range.
    public func slots(of chain: ChainID) -> Range<Int> {
        Self.slots(of: chain, chainCount: chains.count)
    }

    public static func slots(of chain: ChainID, chainCount: Int) -> Range<Int> {
        // Smallest slot s with s·N/S >= chain, i.e. ceil(chain·S/N).
        let lo = (chain * HashSlot.count + chainCount - 1) / chainCount
        let hi = ((chain + 1) * HashSlot.count + chainCount - 1) / chainCount
        return lo..<hi
    }

    /// What is wrong with a configuration that came from outside (a node's registration, which a
    /// recovering master may adopt), or nil: every id valid and unique, chains numbered in order
    /// with known, distinct members, and room left for the epochs to grow.
    public var problem: String? {
        guard epoch < Epoch.max / 2 else { return "epoch \(epoch) is out of range" }
        guard (1...16).contains(replication) else { return "replication \(replication) is out of range" }
        guard (1...16384).contains(chains.count) else { return "\(chains.count) chains is out of range" }
        guard nodes.count <= 4096 else { return "too many nodes" }
        var ids = Set<NodeID>()
        for n in nodes {
            guard MasterState.isValidID(n.id), ids.insert(n.id).inserted else { return "node id '\(n.id.prefix(64))' is invalid or repeated" }
        }
        for (i, c) in chains.enumerated() {
            guard c.id == i else { return "chain \(c.id) is listed in position \(i)" }
            guard c.members.count <= 16, Set(c.members).count == c.members.count, c.members.allSatisfy(ids.contains) else {
                return "chain \(i) has unknown or repeated members"
            }
            if let j = c.joining, !ids.contains(j) { return "chain \(i) has an unknown joining node" }
        }
        return nil
    }

    public func role(of node: NodeID, in chain: ChainID) -> ChainRole {
        let m = chains[chain].members
        guard let i = m.firstIndex(of: node) else { return .none }
        if m.count == 1 { return .single }
        if i == 0 { return .head }
        if i == m.count - 1 { return .tail }
        return .middle
    }
}
