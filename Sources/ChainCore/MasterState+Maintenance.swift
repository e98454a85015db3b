/// A clean whole-cluster stop and start (maintenance): writes stop, every chain drains, the
/// drained positions are recorded, and the processes may then be stopped without the master
/// splicing anyone. When they are back, each member proves it still holds exactly the drained
/// position of each of its chains and keeps its place — no chain is copied again.
public struct ClusterStop: Codable, Sendable, Equatable {
    public enum Phase: String, Codable, Sendable {
        /// Chains are frozen (writes refused); waiting for every chain's members to agree.
        case draining
        /// Every chain drained at `positions`: processes may stop; nobody is spliced.
        case stopped
    }

    public var phase: Phase
    /// The epoch that froze the chains (members must report at least this epoch).
    public var frozenAt: Epoch
    /// Per chain (by index): the sequence every member held when the chain drained.
    public var positions: [UInt64]?

    public init(phase: Phase, frozenAt: Epoch, positions: [UInt64]? = nil) {
        self.phase = phase
        self.frozenAt = frozenAt
        self.positions = positions
    }
}

extension MasterState {
    public enum MaintenanceError: Error, Equatable, Sendable, CustomStringConvertible {
        case notFormed
        case alreadyStopping(ClusterStop.Phase)
        case notStopped
        case stillDraining
        /// Members not heard from: the start waits for them (or `force` splices them out).
        case missing([NodeID])

        public var description: String {
            switch self {
            case .notFormed: return "the chain table is not formed yet: there is nothing to stop"
            case let .alreadyStopping(p): return "the cluster is already \(p == .draining ? "draining for a stop" : "stopped")"
            case .notStopped: return "the cluster is not stopped (chainctl stop-cluster first)"
            case .stillDraining: return "the cluster is still draining; start it once it is stopped"
            case let .missing(ids): return "nodes \(ids.joined(separator: ", ")) have not come back; start them, or start the cluster without them (--force: they are spliced out and repaired afterwards)"
            }
        }
    }

    /// Freezes every chain (writes refused) and cancels joins: the cluster drains for a stop.
    /// Returns the new epoch.
    public mutating func beginStop() throws(MaintenanceError) -> Epoch {
        guard var c = config else { throw .notFormed }
        if let s = stop { throw .alreadyStopping(s.phase) }
        c.epoch += 1
        for i in c.chains.indices {
            c.chains[i].frozen = c.epoch
            c.chains[i].joining = nil
        }
        c.stopped = true
        config = c
        stop = ClusterStop(phase: .draining, frozenAt: c.epoch)
        return c.epoch
    }

    /// Draining → stopped once every chain is quiescent; `applied(chain)` is the sequence its
    /// members agree on (nil while they do not). True when the phase changed.
    public mutating func finishDrain(applied: (ChainID) -> UInt64?) -> Bool {
        guard let s = stop, s.phase == .draining, let c = config else { return false }
        var positions: [UInt64] = []
        for ch in c.chains {
            guard let seq = applied(ch.id) else { return false }
            positions.append(seq)
        }
        stop = ClusterStop(phase: .stopped, frozenAt: s.frozenAt, positions: positions)
        return true
    }

    /// Stopped → running: members that report a chain at another position than the drained one
    /// (`reported(node, chain)`, nil while the node has not reported it since it came back)
    /// leave that chain and are repaired like a restarted node. Every member must be `alive` and
    /// have reported all its chains, unless `force`, which splices the missing ones out.
    /// Unfreezes every chain. Returns the new epoch and the members that lost their place.
    public mutating func endStop(alive: Set<NodeID>, force: Bool,
                                 reported: (NodeID, ChainID) -> UInt64?) throws(MaintenanceError) -> (Epoch, [NodeID: [ChainID]]) {
        guard let s = stop, var c = config else { throw .notStopped }
        guard s.phase == .stopped, let positions = s.positions else { throw .stillDraining }
        let missing = members.filter { m in
            !alive.contains(m) || c.chains.contains { $0.members.contains(m) && reported(m, $0.id) == nil }
        }.sorted()
        if !missing.isEmpty && !force { throw .missing(missing) }
        var lost: [NodeID: [ChainID]] = [:]
        for i in c.chains.indices {
            let drained = positions.indices.contains(i) ? positions[i] : nil
            // A member keeps its place when it came back holding exactly the drained position; a
            // chain keeps at least one member (its last copy) whatever that member reports.
            let keep = c.chains[i].members.filter { m in !missing.contains(m) && reported(m, c.chains[i].id) == drained }
            let stays = keep.isEmpty ? Array(c.chains[i].members.filter { !missing.contains($0) }.prefix(1)) : keep
            for m in c.chains[i].members where !stays.contains(m) { lost[m, default: []].append(c.chains[i].id) }
            if !stays.isEmpty { c.chains[i].members = stays }
            c.chains[i].frozen = nil
        }
        let old = config!
        c.epoch += 1
        c.stopped = nil
        c.noteTailChanges(from: old, silenced: Set(missing))
        config = c
        if !missing.isEmpty { failed = Array(Set(failed ?? []).union(missing)).sorted() }
        stop = nil
        return (c.epoch, lost)
    }
}
