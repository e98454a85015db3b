/// Membership changes after the table is formed: repair, drain, add and rebalance all work the
/// same way — the master computes a target layout (`Rebalancer`) and `converge` takes the next
/// safe step towards it in every chain, one step per chain per epoch:
///
/// 1. a node missing from a chain joins it behind the tail (snapshot + live stream) and is
///    promoted to tail once in sync (`promote`, on the joiner's report);
/// 2. a member the target does not keep leaves once the chain has its full replication factor
///    without it — so no chain ever drops below it;
/// 3. a chain whose members are right but in the wrong order (head and tail roles are balanced
///    too) first freezes: its head refuses new writes until every member reports the same,
///    fully acknowledged history; then the new order is published. Reordering members whose
///    histories differ would break the chain's prefix rule, which is why it waits.
extension MasterState {
    /// One step the master takes in one chain.
    public struct Step: Codable, Sendable, Equatable, CustomStringConvertible {
        public enum Kind: String, Codable, Sendable {
            /// `node` starts catching up behind the tail.
            case join
            /// `node` caught up and became the tail.
            case promote
            /// A join was called off (the target changed).
            case cancel
            /// `node` left the chain.
            case leave
            /// The chain pauses writes before a reorder.
            case freeze
            /// The chain resumes writes (a reorder was overtaken by another change).
            case unfreeze
            /// The chain's members take the order `members`.
            case reorder
        }

        public var chain: ChainID
        public var kind: Kind
        public var node: NodeID?
        public var members: [NodeID]?

        public init(chain: ChainID, kind: Kind, node: NodeID? = nil, members: [NodeID]? = nil) {
            self.chain = chain
            self.kind = kind
            self.node = node
            self.members = members
        }

        public var description: String {
            switch kind {
            case .join: return "chain \(chain): \(node ?? "?") joins (copies the chain's data)"
            case .promote: return "chain \(chain): \(node ?? "?") becomes tail"
            case .cancel: return "chain \(chain): join of \(node ?? "?") called off"
            case .leave: return "chain \(chain): \(node ?? "?") leaves"
            case .freeze: return "chain \(chain): writes pause for a reorder"
            case .unfreeze: return "chain \(chain): writes resume"
            case .reorder: return "chain \(chain): order becomes \((members ?? []).joined(separator: " -> "))"
            }
        }
    }

    public enum AddError: Error, Equatable, Sendable, CustomStringConvertible {
        case unknown(NodeID)
        case failed(NodeID)
        case notFormed

        public var description: String {
            switch self {
            case let .unknown(id): return "no node '\(id)' is registered: start chainserver with --id \(id) and --master first"
            case let .failed(id): return "node \(id) is marked failed: restart it (it comes back as a spare), then add it"
            case .notFormed: return "the chain table is not formed yet; nodes registering now become members when it is"
            }
        }
    }

    /// `chainctl add`: admit a registered node to the layout; the master then rebalances chains
    /// onto it. Adding a draining node cancels its drain. Returns false when it was already in.
    @discardableResult
    public mutating func add(_ id: NodeID) throws(AddError) -> Bool {
        guard nodes.contains(where: { $0.id == id }) else { throw .unknown(id) }
        guard config != nil else { throw .notFormed }
        guard !(failed ?? []).contains(id) else { throw .failed(id) }
        let wasDraining = (draining ?? []).contains(id)
        draining = draining?.filter { $0 != id }
        guard !(pool ?? []).contains(id) else { return wasDraining }
        pool = ((pool ?? []) + [id]).sorted()
        return true
    }

    /// A node that is in chains registered again: its process restarted, and its replicas lost
    /// what they kept only in memory — above all the updates not yet acknowledged downstream,
    /// which it would owe its successor — so it cannot simply carry on in place. It leaves every
    /// chain that keeps another live member (and every join), without being marked failed: it
    /// stays eligible and rejoins them, catching up from what it kept. A chain where it is the last live
    /// member keeps it (its successor, if any, is dead and will be spliced). Returns the new epoch.
    public mutating func restarted(_ id: NodeID, alive: Set<NodeID>) -> Epoch? {
        guard var c = config else { return nil }
        var changed = false
        for i in c.chains.indices {
            if c.chains[i].joining == id { c.chains[i].joining = nil; changed = true }
            let m = c.chains[i].members
            guard m.contains(id), m.contains(where: { $0 != id && alive.contains($0) }) else { continue }
            c.chains[i].members.removeAll { $0 == id }
            c.chains[i].frozen = nil
            changed = true
        }
        guard changed else { return nil }
        c.epoch += 1
        // Its old process is gone: it serves nothing.
        c.noteTailChanges(from: config!, silenced: [id])
        config = c
        return c.epoch
    }

    /// A node marked failed is heard from again (it was cut off from the master, or paused, for
    /// longer than its lease, and was spliced out meanwhile): it is live again and, if admitted,
    /// eligible, so the next steps give it chains back (it catches up from what it kept). Returns true when it
    /// was marked failed.
    @discardableResult
    public mutating func heardFrom(_ id: NodeID) -> Bool {
        guard (failed ?? []).contains(id) else { return false }
        failed = failed?.filter { $0 != id }
        return true
    }

    /// Nodes the layout should use: admitted or already in a chain, and neither failed nor
    /// draining.
    public var eligible: [NodeID] {
        let out = Set(failed ?? []).union(draining ?? [])
        return Set(pool ?? []).union(members).subtracting(out).sorted()
    }

    /// Takes the next step towards the target in every chain that needs one (see the type's
    /// comment). `alive` are the nodes with a valid lease (only they may join a chain);
    /// `quiescent(chain)` tells whether a frozen chain's members all report the same,
    /// acknowledged history at the freeze epoch or later. Returns the new epoch, or nil when
    /// nothing changed.
    public mutating func converge(alive: Set<NodeID>, maxJoinsPerNode: Int, quiescent: (ChainID) -> Bool) -> Epoch? {
        guard var c = config else { return nil }
        let pool = eligible
        if pool != targetNodes {
            target = Rebalancer.target(current: c.chains.map(\.members), nodes: pool, replication: c.replication)
            targetNodes = pool
        }
        let leaving = Set(draining ?? [])
        let usable = Set(pool).union(alive.subtracting(failed ?? [])).subtracting(leaving)
        var load: [NodeID: Int] = [:]
        var joins: [NodeID: Int] = [:]
        for ch in c.chains {
            for m in ch.members { load[m, default: 0] += 1 }
            if let j = ch.joining { load[j, default: 0] += 1; joins[j, default: 0] += 1 }
        }
        let newEpoch = c.epoch + 1
        var changed = false
        for i in c.chains.indices {
            let ch = c.chains[i]
            let want = target.flatMap { $0.indices.contains(i) ? $0[i] : nil }
            // A pending reorder is overtaken by any membership change.
            // So is one the target no longer asks for: the target moved (nodes failed or came
            // back) to the order the chain already has. Left frozen, the chain would refuse
            // writes for good (found by NodeSimulationTests, seed 69).
            if ch.frozen != nil && (ch.joining != nil || want.map { Set($0) != Set(ch.members) || $0 == ch.members } ?? true) {
                c.chains[i].frozen = nil
                changed = true
                continue
            }
            if let j = ch.joining {
                if let want, !want.contains(j), ch.members.count >= c.replication {
                    c.chains[i].joining = nil
                    changed = true
                }
                continue
            }
            let staying = ch.members.filter { !leaving.contains($0) && (want?.contains($0) ?? true) }
            if let victim = ch.members.first(where: { !staying.contains($0) }), ch.members.count - 1 >= c.replication {
                c.chains[i].members.removeAll { $0 == victim }
                changed = true
                continue
            }
            if ch.members.count <= c.replication && (staying.count < c.replication || want.map { !Set($0).isSubset(of: ch.members) } ?? false) {
                let free = { (n: NodeID) in alive.contains(n) && !ch.members.contains(n) && (joins[n] ?? 0) < maxJoinsPerNode }
                var pick = want?.first { !ch.members.contains($0) && free($0) }
                if pick == nil && want == nil {
                    // No target (too few nodes for one): any live node restores what it can.
                    pick = usable.filter(free).sorted { (load[$0] ?? 0, $0) < (load[$1] ?? 0, $1) }.first
                }
                if let pick {
                    c.chains[i].joining = pick
                    load[pick, default: 0] += 1
                    joins[pick, default: 0] += 1
                    changed = true
                }
                continue
            }
            if let want, Set(want) == Set(ch.members), want != ch.members {
                if ch.frozen == nil {
                    c.chains[i].frozen = newEpoch
                    changed = true
                } else if quiescent(i) {
                    c.chains[i].members = want
                    c.chains[i].frozen = nil
                    changed = true
                }
            }
        }
        guard changed else { return nil }
        // Peers and clients find joiners' addresses in the configuration.
        c.nodes = nodes.sorted { $0.id < $1.id }
        c.epoch = newEpoch
        c.noteTailChanges(from: config!)
        config = c
        return newEpoch
    }

    /// The steps between two configurations, chain by chain.
    public static func steps(from a: Configuration, to b: Configuration) -> [Step] {
        var out: [Step] = []
        for (x, y) in zip(a.chains, b.chains) {
            for m in x.members where !y.members.contains(m) { out.append(Step(chain: x.id, kind: .leave, node: m)) }
            if let j = x.joining, y.joining != j {
                out.append(Step(chain: x.id, kind: y.members.contains(j) ? .promote : .cancel, node: j))
            }
            if let j = y.joining, x.joining != j { out.append(Step(chain: x.id, kind: .join, node: j)) }
            if Set(x.members) == Set(y.members) && x.members != y.members {
                out.append(Step(chain: x.id, kind: .reorder, members: y.members))
            } else if x.frozen == nil && y.frozen != nil {
                out.append(Step(chain: x.id, kind: .freeze))
            } else if x.frozen != nil && y.frozen == nil {
                out.append(Step(chain: x.id, kind: .unfreeze))
            }
        }
        return out
    }

    /// The steps the master will take from here to the target, assuming every live node stays
    /// up, every join completes and every frozen chain drains: `chainctl … --dry-run` and the
    /// plan in `chainctl status`. Runs the real `converge` on a copy.
    public func plan(alive: Set<NodeID>, maxJoinsPerNode: Int) -> [Step] {
        var s = self
        var out: [Step] = []
        for _ in 0..<(4 * (config?.chains.count ?? 0) * replication + 64) {
            guard let before = s.config else { break }
            var promoted = false
            for ch in before.chains { if let j = ch.joining, s.promote(chain: ch.id, node: j) != nil { promoted = true } }
            if !promoted && s.converge(alive: alive, maxJoinsPerNode: maxJoinsPerNode, quiescent: { _ in true }) == nil { break }
            out += Self.steps(from: before, to: s.config!)
        }
        return out
    }
}
