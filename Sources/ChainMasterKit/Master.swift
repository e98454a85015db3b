import ChainCore
import EventLoop
import Foundation
import Logging
import Prometheus

/// The configuration master: owns membership and the chain table, persists them before
/// publishing, tracks node heartbeats, and serves the HTTP/JSON API. One event loop; the state
/// file is written on a background queue. Loop-thread only.
public final class Master {
    let config: MasterConfig
    let loop: EventLoop
    let logger: Logger
    private(set) var state: MasterState
    private let file: StateFile
    private var http: HTTPServer?
    private var signals: [SignalWatcher] = []
    /// Monotonic ms of each node's last heartbeat (not persisted: after a restart every node is
    /// "unknown" until it speaks).
    private var lastHeartbeat: [NodeID: UInt64] = [:]
    /// Each node's last report, by chain.
    private var progress: [NodeID: [ChainID: MasterAPI.ChainProgress]] = [:]
    /// The epoch each node's last progress report was read at, and its store size.
    private var reportedEpoch: [NodeID: Epoch] = [:]
    private var storeBytes: [NodeID: Int] = [:]
    /// Peers each node last reported unreachable (see `MasterState.spliceCutLink`).
    private var unreachable: [NodeID: Set<NodeID>] = [:]
    /// Nodes spliced out for a cut link stay out (marked failed, even while they heartbeat)
    /// until this monotonic ms, so that they do not rejoin across the same cut at once.
    private var cutOffUntil: [NodeID: UInt64] = [:]
    private var cutOffTimes: [NodeID: Int] = [:]
    /// Version of the state most recently handed to the file, and the last one on disk.
    private var savedVersion = 0
    private var durableVersion = 0
    private var afterDurable: [(version: Int, run: () -> Void)] = []
    /// Long polls waiting for an epoch newer than `after`.
    private var watchers: [(after: Epoch, request: HTTPRequest)] = []
    let metrics = MasterMetrics()
    let startedAt = Master.nowMs()

    public init(config: MasterConfig, loop: EventLoop, logger: Logger) throws {
        self.config = config
        self.loop = loop
        self.logger = logger
        try FileManager.default.createDirectory(atPath: config.dataDir, withIntermediateDirectories: true)
        file = StateFile(directory: config.dataDir)
        if let data = try file.load() {
            state = try JSONDecoder().decode(MasterState.self, from: data)
            if state.replication != config.replication {
                logger.warning("replication \(config.replication) from flags differs from the saved \(state.replication); keeping the saved value")
            }
            logger.info("loaded state", metadata: ["epoch": "\(state.epoch)", "nodes": "\(state.nodes.count)"])
        } else {
            state = MasterState(replication: config.replication, chains: config.chains,
                                initialNodes: config.initialNodes)
        }
        durableVersion = 0
        publishedEpoch = state.epoch
    }

    /// The last epoch whose configuration is durable and visible to nodes and clients.
    private(set) var publishedEpoch: Epoch

    public func start() throws(EventLoopError) {
        http = try HTTPServer(loop: loop, address: config.listen, tls: config.tls) { [unowned self] req in route(req) }
        for sig in [SIGTERM, SIGINT] {
            signals.append(SignalWatcher(loop: loop, signal: sig) { [unowned self] _ in
                logger.info("shutting down")
                http?.close()
                for w in watchers { w.request.respond(status: 503, text: "master shutting down\n") }
                watchers.removeAll()
                loop.stop()
            })
        }
        // Long polls are answered with 204 when they time out; sweep them periodically.
        Timer(loop: loop, afterMs: 1000, repeating: true) { [unowned self] in expireWatchers() }
        Timer(loop: loop, afterMs: config.heartbeatMs, repeating: true) { [unowned self] in detectFailures() }
        logger.info("chainmaster listening", metadata: ["http": "\(http!.address)", "epoch": "\(state.epoch)"])
    }

    public var address: SocketAddress? { http?.address }

    /// Waits for state writes still running (shutdown only, off the loop).
    public func drain() { file.drain() }

    static func nowMs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    // MARK: state changes

    /// Persists the current state; `then` runs once it is durable.
    private func persist(then: @escaping () -> Void) {
        savedVersion += 1
        let version = savedVersion
        afterDurable.append((version, then))
        let data: Data
        do { data = try JSONEncoder().encode(state) } catch {
            logger.critical("cannot encode state: \(error)")
            return
        }
        let me = LoopBound(self, loop: loop)
        file.save(data) { error in me.submit { $0.saved(version, error) } }
    }

    private func saved(_ version: Int, _ error: String?) {
        if let error {
            // Nothing new is published until a save succeeds: retry with the latest state.
            metrics.stateSaveFailures.increment()
            logger.error("saving state failed; retrying in 1s", metadata: ["error": "\(error)"])
            Timer(loop: loop, afterMs: 1000) { [unowned self] in persist {} }
            return
        }
        durableVersion = max(durableVersion, version)
        let ready = afterDurable.filter { $0.version <= durableVersion }
        afterDurable.removeAll { $0.version <= durableVersion }
        if state.epoch > publishedEpoch {
            publishedEpoch = state.epoch
            metrics.epoch.set(to: Double(publishedEpoch))
            logger.info("published configuration", metadata: ["epoch": "\(publishedEpoch)"])
            answerWatchers()
        }
        for r in ready { r.run() }
    }

    /// The configuration nodes and clients may see (durable).
    var publishedConfig: Configuration? {
        guard let c = state.config, c.epoch <= publishedEpoch else { return nil }
        return c
    }

    // MARK: node API

    /// Nodes refused because they hold a table this master does not have (for status).
    private var refusedNodes: [NodeID: String] = [:]

    func register(_ node: NodeInfo, lastConfig: Configuration?, _ req: HTTPRequest) {
        if state.config == nil, let last = lastConfig, last.epoch > 0 {
            recoverFrom(node, last, req)
            return
        }
        // A member registering again has restarted (checked before `register`, which may form the
        // table with this very node).
        let wasMember = state.members.contains(node.id)
        var outcome: MasterState.RegisterOutcome
        do { outcome = try state.register(node, admit: config.autoRebalance) } catch {
            req.respond(status: 409, text: "\(error)\n")
            return
        }
        if wasMember, let epoch = state.restarted(node.id, alive: aliveNodes().subtracting([node.id])) {
            logger.notice("node restarted: it leaves its chains and rejoins them, catching up from what it kept", metadata: ["node": "\(node.id)", "epoch": "\(epoch)"])
            outcome = .reconfigured(epoch)
        }
        lastHeartbeat[node.id] = Self.nowMs()
        metrics.registrations.increment()
        logger.info("node registered", metadata: ["node": "\(node.id)", "client": "\(node.client)", "outcome": "\(outcome)"])
        if outcome == .unchanged {
            reply(req, lease: 0)
        } else {
            persist { [unowned self] in reply(req, lease: 0) }
        }
    }

    /// This master has no table and `node` has one: refuse, wait for more, or adopt it.
    private func recoverFrom(_ node: NodeInfo, _ last: Configuration, _ req: HTTPRequest) {
        guard MasterState.isValidID(node.id) else {
            req.respond(status: 409, text: "\(MasterState.RegisterError.invalidID(node.id))\n")
            return
        }
        switch state.recover(node, lastConfig: last, need: config.recoverNodes) {
        case let .refused(reason):
            refusedNodes[node.id] = reason
            logger.error("refusing node", metadata: ["node": "\(node.id)", "reason": "\(reason)"])
            req.respond(status: 409, text: reason + "\n")
        case let .waiting(have, need):
            lastHeartbeat[node.id] = Self.nowMs()
            logger.notice("recovering: node reported its table", metadata: ["node": "\(node.id)", "epoch": "\(last.epoch)", "have": "\(have)", "need": "\(need)"])
            persist { [unowned self] in reply(req, lease: 0) }
        case let .recovered(epoch):
            lastHeartbeat[node.id] = Self.nowMs()
            refusedNodes.removeAll()
            logger.notice("recovered the chain table from the nodes", metadata: ["epoch": "\(epoch)", "nodes": "\(state.nodes.count)"])
            persist { [unowned self] in reply(req, lease: 0) }
        }
    }

    func heartbeat(_ hb: MasterAPI.Heartbeat, _ req: HTTPRequest) {
        guard state.nodes.contains(where: { $0.id == hb.id }) else {
            req.respond(status: 404, text: "unknown node \(hb.id): register first\n")
            return
        }
        lastHeartbeat[hb.id] = Self.nowMs()
        progress[hb.id] = Dictionary(hb.chains.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        reportedEpoch[hb.id] = hb.epoch
        storeBytes[hb.id] = hb.store_bytes
        unreachable[hb.id] = Set(hb.unreachable ?? [])
        metrics.heartbeats.increment()
        if cutOffUntil[hb.id].map({ Self.nowMs() < $0 }) ?? false {
            reply(req, lease: hb.epoch)
            return
        }
        if state.heardFrom(hb.id) {
            // It installs the configuration in this reply (which no longer has it in any chain)
            // before it uses the lease, so it cannot serve from its old place.
            logger.notice("failed node is heard from again: it may rejoin chains", metadata: ["node": "\(hb.id)"])
            persist { [unowned self] in reply(req, lease: hb.epoch) }
            return
        }
        reply(req, lease: hb.epoch)
        promoteSynced(hb.id, hb.chains)
    }

    private func reply(_ req: HTTPRequest, lease knownEpoch: Epoch) {
        let c = publishedConfig
        let body = MasterAPI.LeaseReply(epoch: publishedEpoch, lease_ms: config.leaseMs, heartbeat_ms: config.heartbeatMs,
                                        config: (c?.epoch ?? 0) > knownEpoch ? c : nil)
        respondJSON(req, body)
    }

    // MARK: failure detection

    /// A member not heard from for the lease time has failed: splice it out of its chains. After
    /// a (re)start the master waits out one lease first, so that nodes that were fine while it
    /// was away have had the chance to heartbeat. Because a node's own lease starts when it sends
    /// a heartbeat, it has stopped serving before the master's deadline passes: no two nodes
    /// serve as tail of a chain at once.
    private func detectFailures() {
        let now = Self.nowMs()
        guard now - startedAt >= UInt64(config.leaseMs), state.config != nil, savedVersion == durableVersion else { return }
        let dead = state.members.filter { id in
            guard let last = lastHeartbeat[id] else { return true }
            return now - last > UInt64(config.leaseMs)
        }
        if !dead.isEmpty, let epoch = state.spliceOut(Set(dead)) {
            metrics.failuresDetected.increment(by: Int64(dead.count))
            logger.warning("nodes failed; splicing them out", metadata: ["nodes": "\(dead.sorted())", "epoch": "\(epoch)"])
            persist {}
            return
        }
        // Two live neighbours that cannot reach each other: one goes (it may rejoin later).
        let alive = aliveNodes(now: now)
        if let (node, epoch) = state.spliceCutLink(unreachable: unreachable, alive: alive) {
            metrics.linkCutsResolved.increment()
            // Out for ten leases, twice as long each time it happens again.
            cutOffTimes[node, default: 0] += 1
            cutOffUntil[node] = now + 10 * UInt64(config.leaseMs) << UInt64(min(cutOffTimes[node]! - 1, 8))
            logger.warning("chain neighbours cannot reach each other; splicing one out", metadata: [
                "node": "\(node)", "unreachable": "\(unreachable.filter { !$0.value.isEmpty }.mapValues { $0.sorted() })", "epoch": "\(epoch)"])
            persist {}
            return
        }
        // Then one step towards the target layout in every chain: restore the replication
        // factor, move positions for drains and adds, reorder for balanced roles.
        let before = state.config!
        // (The closure reads `before`, not `state`: `converge` is mutating `state` meanwhile.)
        if let epoch = state.converge(alive: alive, maxJoinsPerNode: config.maxJoinsPerNode, quiescent: { quiescent($0, in: before) }) {
            let steps = MasterState.steps(from: before, to: state.config!)
            metrics.joinsStarted.increment(by: Int64(steps.filter { $0.kind == .join }.count))
            logger.notice("membership step", metadata: ["epoch": "\(epoch)", "steps": "\(steps.map(\.description))"])
            persist {}
        }
    }

    func aliveNodes(now: UInt64 = Master.nowMs()) -> Set<NodeID> {
        Set(state.nodes.map(\.id).filter { id in lastHeartbeat[id].map { now - $0 <= UInt64(config.leaseMs) } ?? false })
    }

    /// A frozen chain has drained when every member reported, at the freeze epoch or later, the
    /// same applied sequence, and the head has all of it acknowledged down the chain.
    private func quiescent(_ chain: ChainID, in c: Configuration) -> Bool {
        guard let frozen = c.chains[chain].frozen, let head = c.chains[chain].head else { return false }
        var seqs: Set<UInt64> = []
        for m in c.chains[chain].members {
            guard (reportedEpoch[m] ?? 0) >= frozen, let p = progress[m]?[chain] else { return false }
            seqs.insert(p.applied)
            if m == head && p.committed != p.applied { return false }
        }
        return seqs.count == 1
    }

    /// A joining node that reports being in sync becomes its chain's tail.
    private func promoteSynced(_ node: NodeID, _ chains: [MasterAPI.ChainProgress]) {
        guard savedVersion == durableVersion, let c = state.config else { return }
        for p in chains where p.synced == true && c.chains.indices.contains(p.id) && c.chains[p.id].joining == node {
            if let epoch = state.promote(chain: p.id, node: node) {
                metrics.promotions.increment()
                logger.notice("joining node in sync: promoted to tail", metadata: ["node": "\(node)", "chain": "\(p.id)", "epoch": "\(epoch)"])
                persist {}
                return  // one change per save; the next heartbeat promotes the next chain
            }
        }
    }

    /// `chainctl drain`: move a node out of every chain.
    func drain(_ id: NodeID, _ req: HTTPRequest) {
        do {
            try state.drain(id, alive: aliveNodes())
        } catch {
            req.respond(status: 409, text: "\(error)\n")
            return
        }
        logger.notice("draining node", metadata: ["node": "\(id)"])
        let plan = planReport(action: "drain", id: id, state: state)
        persist { [unowned self] in respondJSON(req, plan) }
    }

    /// `chainctl add`: admit a node to the layout; the master rebalances chains onto it.
    func add(_ id: NodeID, _ req: HTTPRequest) {
        do {
            try state.add(id)
        } catch {
            req.respond(status: 409, text: "\(error)\n")
            return
        }
        logger.notice("adding node", metadata: ["node": "\(id)"])
        let plan = planReport(action: "add", id: id, state: state)
        persist { [unowned self] in respondJSON(req, plan) }
    }

    /// `POST /v1/plan`: what `add` or `drain` would do, without doing it.
    func dryRun(_ r: MasterAPI.PlanRequest, _ req: HTTPRequest) {
        var s = state
        do {
            switch r.action {
            case "add": try s.add(r.id)
            case "drain": try s.drain(r.id, alive: aliveNodes())
            default:
                req.respond(status: 400, text: "action must be 'add' or 'drain', not '\(r.action)'\n")
                return
            }
        } catch {
            req.respond(status: 409, text: "\(error)\n")
            return
        }
        respondJSON(req, planReport(action: r.action, id: r.id, state: s))
    }

    private func planReport(action: String, id: NodeID, state s: MasterState) -> MasterAPI.Plan {
        let steps = s.plan(alive: aliveNodes(), maxJoinsPerNode: config.maxJoinsPerNode)
        let joins = steps.filter { $0.kind == .join }
        let size = chainSizes()
        return MasterAPI.Plan(action: action, id: id, steps: steps, joins: joins.count,
                              estimated_bytes: joins.reduce(0) { $0 + (size($1.chain) ?? 0) })
    }

    /// Chain data sizes, estimated from the members' reported store sizes: each member's store
    /// divided evenly over the chains it holds (keys hash uniformly over slots). Counts chains
    /// per node once, so a status of many chains stays linear.
    func chainSizes() -> (ChainID) -> Int? {
        guard let c = state.config else { return { _ in nil } }
        var held: [NodeID: Int] = [:]
        for ch in c.chains { for m in ch.members { held[m, default: 0] += 1 } }
        let bytes = storeBytes
        return { chain in
            guard c.chains.indices.contains(chain) else { return nil }
            let shares = c.chains[chain].members.compactMap { m in bytes[m].map { $0 / max(held[m] ?? 1, 1) } }
            return shares.isEmpty ? nil : shares.reduce(0, +) / shares.count
        }
    }

    /// `chainctl remove`: forget a node that is in no chain.
    func remove(_ id: NodeID, _ req: HTTPRequest) {
        do {
            _ = try state.remove(id)
        } catch {
            req.respond(status: 409, text: "\(error)\n")
            return
        }
        lastHeartbeat.removeValue(forKey: id)
        progress.removeValue(forKey: id)
        logger.notice("node removed", metadata: ["node": "\(id)"])
        persist { [unowned self] in respondJSON(req, ["removed": id]) }
    }

    // MARK: config watch

    func watch(after: Epoch, _ req: HTTPRequest) {
        if let c = publishedConfig, c.epoch > after {
            respondJSON(req, c)
            return
        }
        watchers.append((after, req))
        watchDeadlines[ObjectIdentifier(req)] = Self.nowMs() + UInt64(min(Int(req.query["timeout_ms"] ?? "") ?? 25_000, 60_000))
    }

    private var watchDeadlines: [ObjectIdentifier: UInt64] = [:]

    private func answerWatchers() {
        guard let c = publishedConfig else { return }
        let (ready, rest) = (watchers.filter { $0.after < c.epoch }, watchers.filter { $0.after >= c.epoch })
        watchers = rest
        for w in ready {
            watchDeadlines.removeValue(forKey: ObjectIdentifier(w.request))
            respondJSON(w.request, c)
        }
    }

    private func expireWatchers() {
        let now = Self.nowMs()
        var keep: [(after: Epoch, request: HTTPRequest)] = []
        for w in watchers {
            let id = ObjectIdentifier(w.request)
            if w.request.isAbandoned { watchDeadlines.removeValue(forKey: id); continue }
            if let d = watchDeadlines[id], d <= now {
                watchDeadlines.removeValue(forKey: id)
                w.request.respond(status: 204, contentType: "application/json", body: [])
            } else {
                keep.append(w)
            }
        }
        watchers = keep
    }

    // MARK: status

    func statusReport() -> MasterAPI.Status {
        let now = Self.nowMs()
        var problems: [String] = []
        var chainProblems = 0
        let members = state.members
        let nodes: [MasterAPI.Status.Node] = state.nodes.sorted { $0.id < $1.id }.map { n in
            let age = lastHeartbeat[n.id].map { Int(now - $0) }
            var st: String
            if let age { st = age <= config.leaseMs ? "up" : "down" } else { st = "unknown" }
            if st != "up" && (state.failed ?? []).contains(n.id) { st = "failed" }
            else if (state.draining ?? []).contains(n.id) { st = members.contains(n.id) ? "draining" : "drained" }
            else if st == "up" && state.config != nil && !members.contains(n.id) { st = "spare" }
            if !["up", "spare", "draining", "drained"].contains(st) { problems.append("node \(n.id) is \(st)") }
            return .init(id: n.id, client: n.client, peer: n.peer, http: n.http, state: st, last_heartbeat_ms: age)
        }
        let up = Set(nodes.filter { ["up", "spare", "draining", "drained"].contains($0.state) }.map(\.id))
        var chains: [MasterAPI.Status.Chain] = []
        if let c = publishedConfig {
            let size = chainSizes()
            for ch in c.chains {
                let full = ch.members.count >= c.replication
                let allUp = ch.members.allSatisfy { up.contains($0) }
                let linked = chainLinked(ch)
                let st = !full ? "degraded" : !allUp ? "member-down" : !linked ? "unlinked" : ch.frozen != nil ? "reordering" : "ok"
                if st != "ok" && st != "reordering" { problems.append("chain \(ch.id) is \(st)"); chainProblems += 1 }
                let r = c.slots(of: ch.id)
                let moved = ch.joining.flatMap { j in progress[j]?[ch.id]?.transferred_bytes }
                chains.append(.init(id: ch.id, members: ch.members, state: ch.joining != nil && st != "ok" ? "joining" : st,
                                    slots: "\(r.lowerBound)-\(r.upperBound - 1)", joining: ch.joining, transferred_bytes: moved,
                                    estimated_bytes: size(ch.id)))
            }
        } else if let heard = state.recoveryHeard {
            problems.append("recovering the chain table from the nodes: \(heard.count) of \(config.recoverNodes) have reported")
            chainProblems += 1
        } else {
            problems.append("waiting for \(state.initialNodes) nodes to form the chain table (have \(state.nodes.count))")
            chainProblems += 1
        }
        for (id, peers) in unreachable.sorted(by: { $0.key < $1.key }) where !peers.isEmpty && lastHeartbeat[id].map({ now - $0 <= UInt64(config.leaseMs) }) ?? false {
            problems.append("node \(id) cannot reach \(peers.sorted().joined(separator: ", ")) (a chain link cut: one of them is taken out of its chains)")
        }
        for (id, until) in cutOffUntil.sorted(by: { $0.key < $1.key }) where until > now {
            problems.append("node \(id) is kept out of chains for \((until - now + 999) / 1000) s more after a link cut (check its network)")
        }
        for (_, reason) in refusedNodes.sorted(by: { $0.key < $1.key }) { problems.insert(reason, at: 0) }
        // Healthy: every chain at full replication with every member up and in sync. A failed
        // node that is in no chain any more is listed as a problem but does not count.
        return MasterAPI.Status(epoch: publishedEpoch, healthy: chainProblems == 0, replication: state.replication,
                                problems: problems, nodes: nodes, chains: chains,
                                plan: state.plan(alive: aliveNodes(now: now), maxJoinsPerNode: config.maxJoinsPerNode))
    }

    /// Every member reports the chain, with authenticated links to its neighbours. (Members are
    /// in sync by construction — a node catching up is a joiner, not a member.)
    private func chainLinked(_ ch: ChainConfig) -> Bool {
        ch.members.allSatisfy { m in progress[m]?[ch.id].map { $0.linked != false } ?? false }
    }

    func respondJSON<T: Encodable>(_ req: HTTPRequest, _ value: T, status: Int32 = 200) {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        guard let data = try? enc.encode(value) else {
            req.respond(status: 500, text: "encoding failed\n")
            return
        }
        req.respond(status: status, contentType: "application/json", body: Array(data))
    }
}
