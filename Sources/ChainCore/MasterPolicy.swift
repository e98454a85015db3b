/// Everything the configuration master decides, as a pure state machine: registrations,
/// heartbeats, ticks of its clock and the outcome of its saves come in, with the time (monotonic
/// ms) passed in; replies and effects (save the state, a configuration became durable, log,
/// count) go out. The shell (`ChainMasterKit.Master`) owns the HTTP server, the clock and the
/// store and carries the effects out in order; it decides nothing.
///
/// Durable state is `state` (`MasterState`); what is learned from heartbeats (who was heard when,
/// chain progress, unreachable peers) is soft and rebuilt by the next heartbeats after a restart
/// or a takeover. Saves are versioned: a configuration becomes visible to nodes and clients
/// (`published`) only once the save that holds it is durable.
///
/// Leadership: with a replicated store several masters run and one leads (`onLeadership`); a
/// standby answers nothing but a pointer to the leader, and a leader acts only while its
/// leadership is valid on its own clock. With the file store the one master always leads.
public struct MasterPolicy: Sendable {
    public struct Settings: Sendable, Equatable {
        public var leaseMs: Int
        public var heartbeatMs: Int
        public var maxJoinsPerNode: Int
        public var autoRebalance: Bool
        public var recoverNodes: Int

        public init(leaseMs: Int = 2000, heartbeatMs: Int = 500, maxJoinsPerNode: Int = 4, autoRebalance: Bool = false, recoverNodes: Int = 0) {
            self.leaseMs = leaseMs
            self.heartbeatMs = heartbeatMs
            self.maxJoinsPerNode = maxJoinsPerNode
            self.autoRebalance = autoRebalance
            self.recoverNodes = recoverNodes
        }
    }

    public enum Level: String, Sendable, Equatable { case info, notice, warning, error }

    /// Counters the shell exposes as metrics.
    public enum Counter: String, Sendable, Equatable, CaseIterable {
        case registrations, heartbeats, failuresDetected, linkCutsResolved, joinsStarted, promotions, stallsDetected
    }

    public enum Effect: Sendable, Equatable {
        /// Save `state` as it is now, as save `version`; report the outcome with `onSaved`.
        case persist(version: Int)
        /// The configuration of this epoch is durable: answer whoever waits for a newer epoch.
        case published(Epoch)
        case log(Level, String, [String: String])
        case count(Counter, Int)
    }

    /// The answer to a request.
    public enum Reply: Sendable, Equatable {
        /// A lease for a node that knows `knownEpoch` (`leaseReply` builds the body when it is sent).
        case lease(knownEpoch: Epoch)
        case refused(status: Int, reason: String)
        case plan(MasterAPI.Plan)
        case removed(NodeID)
        /// This master does not lead: the caller should ask `leader` (nil: unknown yet).
        case notLeader(leader: String?)
        /// Where a whole-cluster stop or start stands.
        case maintenance(MasterAPI.Maintenance)
    }

    /// A reply, sent once save `afterSave` is durable (nil: at once).
    public struct Response: Sendable, Equatable {
        public var reply: Reply
        public var afterSave: Int?
    }

    public enum Role: Sendable, Equatable {
        /// Leads until this monotonic ms on its own clock (`UInt64.max`: the file store).
        case leader(until: UInt64)
        /// Follows `leader` (its API address, when known).
        case standby(leader: String?)
    }

    public let settings: Settings
    /// The election's term this master leads in (`Candidacy.term`): its saves carry it, and the
    /// store refuses a save of an earlier term.
    public internal(set) var term = 0
    public internal(set) var state: MasterState
    public internal(set) var role: Role
    /// The newest configuration that is durable, and so visible.
    public internal(set) var publishedConfig: Configuration?
    public var publishedEpoch: Epoch { publishedConfig?.epoch ?? 0 }

    // Soft state, from heartbeats.
    var lastHeartbeat: [NodeID: UInt64] = [:]
    var progress: [NodeID: [ChainID: MasterAPI.ChainProgress]] = [:]
    var reportedEpoch: [NodeID: Epoch] = [:]
    var storeBytes: [NodeID: Int] = [:]
    /// Peers each node reports unreachable, with since when (this master's clock).
    var unreachableSince: [NodeID: [NodeID: UInt64]] = [:]
    /// Nodes spliced out for a cut link stay out until then, twice as long each time.
    var cutOffUntil: [NodeID: UInt64] = [:]
    var cutOffTimes: [NodeID: Int] = [:]
    /// Nodes refused because they hold a table this master does not have (for status).
    var refusedNodes: [NodeID: String] = [:]
    /// No failure is declared and no step taken before this time: after a start, a takeover or a
    /// stall of this master's own, nodes that were fine meanwhile first get a lease's time to
    /// be heard (and any lease an earlier leader granted runs out).
    public internal(set) var quietUntil: UInt64
    var lastTick: UInt64?
    private var nextSave = 1
    /// A save failed: the next tick saves the state again.
    var saveOwed = false
    /// Saves not yet durable, with the configuration each holds.
    private var pendingSaves: [(version: Int, config: Configuration?)] = []

    /// `now`: this master's clock at start; `leading`: the file store (always leader).
    public init(state: MasterState, settings: Settings, now: UInt64, leading: Bool) {
        self.state = state
        self.settings = settings
        self.role = leading ? .leader(until: .max) : .standby(leader: nil)
        // What was loaded is durable.
        self.publishedConfig = state.config
        self.quietUntil = now + UInt64(settings.leaseMs)
    }

    /// Leading now (and valid on this master's clock).
    public func leads(at now: UInt64) -> Bool {
        if case let .leader(until) = role { return now < until }
        return false
    }

    var saving: Bool { !pendingSaves.isEmpty }
    /// The newest save not durable yet: a lease reply waits for it (`leaseResponse`).
    public var pendingSaveVersion: Int? { pendingSaves.last?.version }

    mutating func persist(_ effects: inout [Effect]) -> Int {
        let v = nextSave
        nextSave += 1
        pendingSaves.append((v, state.config))
        effects.append(.persist(version: v))
        return v
    }

    // MARK: leadership

    /// This master leads until `until` on its own clock. `begins`: leadership starts now (the
    /// election read the state for it: `loaded`, nil when the store holds none yet); otherwise
    /// this renews it — also after this master's own clock let it lapse while the renewal was
    /// slow: its election key stayed first all along, so nobody else led meanwhile.
    ///
    /// A beginning adopts the stored state (what this master held but never saved is dropped),
    /// forgets what it heard before, and keeps quiet for a lease: nodes an earlier leader gave a
    /// lease are not declared failed before it runs out.
    public mutating func onLeadership(until: UInt64, begins: Bool, term: Int = 0, loaded: MasterState?, now: UInt64) -> [Effect] {
        var effects: [Effect] = []
        if begins {
            self.term = term
            state = loaded ?? MasterState(replication: state.replication, chains: state.requestedChains, initialNodes: state.initialNodes,
                                          clusterID: state.clusterID)
            publishedConfig = state.config
            pendingSaves.removeAll()
            saveOwed = false
            lastHeartbeat.removeAll()
            progress.removeAll()
            unreachableSince.removeAll()
            quietUntil = max(quietUntil, now + UInt64(settings.leaseMs))
            lastTick = now
            effects.append(.log(.notice, "became the leading master; honouring node leases before any reconfiguration",
                                ["epoch": "\(state.epoch)", "quiet_ms": "\(settings.leaseMs)"]))
            if state.config != nil { effects.append(.published(state.epoch)) }
        }
        role = .leader(until: until)
        return effects
    }

    /// Another master leads (or nobody is known to): stop acting. Saves in flight are void (the
    /// store refuses them).
    public mutating func onStandby(leader: String?) -> [Effect] {
        var effects: [Effect] = []
        if case .leader = role {
            effects.append(.log(.warning, "no longer the leading master", ["leader": leader ?? "unknown"]))
        }
        role = .standby(leader: leader)
        pendingSaves.removeAll()
        return effects
    }

    // MARK: saves

    /// Save `version` is durable (saves complete in order).
    public mutating func onSaved(_ version: Int) -> [Effect] {
        var effects: [Effect] = []
        var newest: Configuration?
        while let first = pendingSaves.first, first.version <= version {
            pendingSaves.removeFirst()
            if let c = first.config { newest = c }
        }
        if let c = newest, c.epoch > publishedEpoch {
            publishedConfig = c
            effects.append(.published(c.epoch))
            effects.append(.log(.info, "published configuration", ["epoch": "\(c.epoch)"]))
        }
        return effects
    }

    /// Save `version` failed (the disk, or the store could not be reached): nothing new is
    /// published until a later save succeeds; save again.
    public mutating func onSaveFailed(_ version: Int, error: String) -> [Effect] {
        pendingSaves.removeAll { $0.version <= version }
        saveOwed = true
        return [.log(.error, "saving state failed; saving again at the next tick", ["error": error])]
    }
}
