import ChainClient
import ChainSecurity
import ChainCore
import ChainVersion
import EventLoop
import Foundation
import Logging
import Prometheus

/// The configuration master's shell: it runs the HTTP/JSON API and a clock on one event loop,
/// hands every request and tick to the pure `MasterPolicy`, and carries out what it returns —
/// replies (some only once a save is durable), saves to the store, answers to configuration
/// watches, logs and metrics. It decides nothing. Loop-thread only.
public final class Master {
    let config: MasterConfig
    let loop: EventLoop
    let logger: Logger
    var policy: MasterPolicy
    let store: any MasterStore
    /// With a replicated store: who leads, and the other masters (nil: the file store).
    let election: Election?
    private var http: HTTPServer?
    private var signals: [SignalWatcher] = []
    /// Replies waiting for a save to be durable.
    private var afterSave: [(version: Int, request: HTTPRequest, reply: MasterPolicy.Reply)] = []
    /// Long polls waiting for an epoch newer than `after`.
    private var watchers: [(after: Epoch, request: HTTPRequest)] = []
    /// The latest published configurations and what each changed, newest first (status page,
    /// `/v1/status`): the configuration seen last, to compare the next one with.
    private var recent: [MasterAPI.Status.Reconfiguration] = []
    private var lastSeenConfig: Configuration?
    private var watchDeadlines: [ObjectIdentifier: UInt64] = [:]
    let metrics = MasterMetrics()

    /// The file store: this master always leads, from the state in its data directory.
    public convenience init(config: MasterConfig, loop: EventLoop, logger: Logger) throws {
        try FileManager.default.createDirectory(atPath: config.dataDir, withIntermediateDirectories: true)
        let store = FileStore(directory: config.dataDir)
        let loaded = try store.load()
        try self.init(config: config, loop: loop, logger: logger, store: store, election: nil, loaded: loaded)
    }

    init(config: MasterConfig, loop: EventLoop, logger: Logger, store: any MasterStore, election: Election?, loaded: MasterState?) throws {
        self.config = config
        self.loop = loop
        self.logger = logger
        self.store = store
        self.election = election
        var state = loaded ?? MasterState(replication: config.replication, chains: config.chains, initialNodes: config.initialNodes,
                                          clusterID: UUID().uuidString.lowercased())
        if let loaded {
            if loaded.replication != config.replication {
                logger.warning("replication \(config.replication) from flags differs from the saved \(loaded.replication); keeping the saved value")
            }
            if state.clusterID == nil { state.clusterID = state.config?.cluster ?? UUID().uuidString.lowercased() }
            logger.info("loaded state", metadata: ["epoch": "\(loaded.epoch)", "nodes": "\(loaded.nodes.count)", "store": "\(store.kind)"])
        }
        policy = MasterPolicy(state: state, settings: config.policySettings, now: Self.nowMs(), leading: election == nil)
        metrics.leader.set(to: election == nil ? 1 : 0)
        metrics.epoch.set(to: Double(policy.publishedEpoch))
    }

    public func start() throws(EventLoopError) {
        http = try HTTPServer(loop: loop, address: config.listen, tls: config.tls) { [unowned self] req in route(req) }
        for sig in [SIGTERM, SIGINT] {
            signals.append(SignalWatcher(loop: loop, signal: sig) { [unowned self] _ in
                logger.info("shutting down")
                http?.close()
                for w in watchers { w.request.respond(status: 503, text: "master shutting down\n") }
                watchers.removeAll()
                election?.resign()
                loop.stop()
            })
        }
        // Long polls are answered with 204 when they time out; sweep them periodically.
        Timer(loop: loop, afterMs: 1000, repeating: true) { [unowned self] in expireWatchers() }
        Timer(loop: loop, afterMs: config.heartbeatMs, repeating: true) { [unowned self] in
            perform(policy.onTick(now: Self.nowMs()))
        }
        let me = LoopBound(self, loop: loop)
        election?.start { event in me.submit { $0.leadership(event) } }
        logger.info("chainmaster \(BuildInfo.description) listening", metadata: ["http": "\(http!.address)", "epoch": "\(policy.state.epoch)", "store": "\(store.kind)"])
    }

    public var address: SocketAddress? { http?.address }

    /// Waits for state writes still running (shutdown only, off the loop).
    public func drain() {
        store.drain()
        election?.stop()
    }

    static func nowMs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    // MARK: effects

    /// Carries out the policy's effects, in order.
    func perform(_ effects: [MasterPolicy.Effect]) {
        for e in effects {
            switch e {
            case let .persist(version): save(version)
            case let .published(epoch):
                metrics.epoch.set(to: Double(epoch))
                if let c = policy.publishedConfig, c.epoch != lastSeenConfig?.epoch {
                    // The first one this master publishes may be one it loaded (a restart, a takeover).
                    let change = lastSeenConfig == nil && c.epoch > 1
                        ? "in force when this master began leading: \(c.chains.count) chains on \(c.nodes.count) nodes"
                        : ConfigurationChange.summary(from: lastSeenConfig, to: c)
                    recent.insert(.init(epoch: c.epoch, at: Date().timeIntervalSince1970, change: change), at: 0)
                    if recent.count > 20 { recent.removeLast() }
                    lastSeenConfig = c
                }
                answerWatchers()
            case let .log(level, message, meta):
                let metadata = meta.mapValues { Logger.MetadataValue.string($0) }
                switch level {
                case .info: logger.info("\(message)", metadata: metadata)
                case .notice: logger.notice("\(message)", metadata: metadata)
                case .warning: logger.warning("\(message)", metadata: metadata)
                case .error: logger.error("\(message)", metadata: metadata)
                }
            case let .count(counter, n): metrics.count(counter, n)
            }
        }
    }

    /// One save at a time: the state changes made while it runs go together in the next one
    /// (a save of version v makes every version up to v durable). A burst of registrations is
    /// then a few writes of the state, not one each, and an etcd leader's lease renewals are not
    /// queued behind hundreds of them.
    private var saveInFlight = false
    private var nextSave: Int?

    private func save(_ version: Int) {
        if saveInFlight {
            nextSave = version
            return
        }
        saveInFlight = true
        let data: Data
        do { data = try StoredState.encode(policy.state) } catch {
            logger.critical("cannot encode state: \(error)")
            saveInFlight = false
            return
        }
        let me = LoopBound(self, loop: loop)
        store.save(data, term: policy.term) { outcome in me.submit { $0.saved(version, outcome) } }
    }

    private func saved(_ version: Int, _ outcome: SaveOutcome) {
        saveInFlight = false
        defer {
            if let next = nextSave {
                nextSave = nil
                save(next)
            }
        }
        switch outcome {
        case .saved:
            perform(policy.onSaved(version))
            let ready = afterSave.filter { $0.version <= version }
            afterSave.removeAll { $0.version <= version }
            for r in ready {
                // A lease waits for every save made meanwhile too (`MasterPolicy.leaseResponse`).
                if case .lease = r.reply, let newer = policy.pendingSaveVersion {
                    afterSave.append((newer, r.request, r.reply))
                } else {
                    send(r.reply, to: r.request)
                }
            }
        case let .failed(error):
            metrics.stateSaveFailures.increment()
            perform(policy.onSaveFailed(version, error: error))
        case let .fenced(reason):
            nextSave = nil
            metrics.fencedWrites.increment()
            logger.error("the store refused a write: this master no longer leads", metadata: ["reason": "\(reason)"])
            election?.lost(reason: reason)
            perform(policy.onStandby(leader: nil))
            let lost = afterSave
            afterSave.removeAll()
            for r in lost { send(.notLeader(leader: nil), to: r.request) }
        }
    }

    private func leadership(_ event: LeadershipEvent) {
        switch event {
        case let .leading(until, begins, term, loaded):
            if begins {
                metrics.electionsWon.increment()
                nextSave = nil  // decided in an earlier term: void
            }
            perform(policy.onLeadership(until: until, begins: begins, term: term, loaded: loaded, now: Self.nowMs()))
            metrics.leader.set(to: 1)
        case let .standby(leader):
            nextSave = nil
            perform(policy.onStandby(leader: leader))
            metrics.leader.set(to: 0)
            let lost = afterSave
            afterSave.removeAll()
            for r in lost { send(.notLeader(leader: leader), to: r.request) }
            // Long polls follow the leader too.
            for w in watchers { send(.notLeader(leader: leader), to: w.request) }
            watchers.removeAll()
        }
    }

    // MARK: requests

    /// Sends a response now or once its save is durable.
    func respond(_ response: MasterPolicy.Response, effects: [MasterPolicy.Effect], to req: HTTPRequest) {
        if let v = response.afterSave { afterSave.append((v, req, response.reply)) }
        perform(effects)
        if response.afterSave == nil { send(response.reply, to: req) }
    }

    func send(_ reply: MasterPolicy.Reply, to req: HTTPRequest) {
        switch reply {
        case let .lease(known): respondJSON(req, policy.leaseReply(knownEpoch: known))
        case let .refused(status, reason): req.respond(status: Int32(status), text: reason + "\n")
        case let .plan(p): respondJSON(req, p)
        case let .removed(id): respondJSON(req, ["removed": id])
        case let .maintenance(m): respondJSON(req, m)
        case let .notLeader(leader):
            metrics.redirected.increment()
            respondJSON(req, MasterAPI.NotLeader(leader: leader ?? election?.leaderAddress), status: MasterAPI.NotLeader.status)
        }
    }

    // MARK: config watch

    func watch(after: Epoch, _ req: HTTPRequest) {
        if case let .standby(leader) = policy.role {
            send(.notLeader(leader: leader), to: req)
            return
        }
        if let c = policy.publishedConfig, c.epoch > after {
            respondJSON(req, c)
            return
        }
        watchers.append((after, req))
        watchDeadlines[ObjectIdentifier(req)] = Self.nowMs() + UInt64(min(Int(req.query["timeout_ms"] ?? "") ?? 25_000, 60_000))
    }

    private func answerWatchers() {
        guard let c = policy.publishedConfig else { return }
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
        var s = policy.statusReport(now: Self.nowMs())
        s.masters = mastersReport()
        s.recent = recent
        return s
    }

    func mastersReport() -> MasterAPI.Masters {
        let now = Self.nowMs()
        guard let election else {
            return MasterAPI.Masters(store: store.kind, leader: "\(http?.address.description ?? config.listen.description)",
                                     members: [.init(address: "\(config.listen)", role: "leader")], store_endpoints: nil)
        }
        var m = election.report()
        if policy.leads(at: now) { m.leader = m.leader ?? config.advertise }
        return m
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

/// Starting a master on etcd (`--store etcd`).
extension Master {
    public struct EtcdOptions: Sendable {
        public var endpoints: [String]
        public var prefix: String
        public var leaseTTLSeconds = 1
        public var user: String?
        public var password: String?
        public var tls: TLSContext?
        /// How long to wait for etcd at start.
        public var waitMs = 10_000
        /// A file-store state to write under the prefix if it holds none (moving a cluster from
        /// the file store to etcd).
        public var seedFile: String?

        public init(endpoints: [String], prefix: String) {
            self.endpoints = endpoints
            self.prefix = prefix
        }
    }

    public enum StartError: Error, CustomStringConvertible {
        /// Bad endpoints or seed file.
        case usage(String)
        /// etcd did not answer.
        case unreachable(String)
        /// The prefix holds something that is not this cluster's state.
        case foreign(String)

        public var description: String {
            switch self {
            case let .usage(m), let .unreachable(m), let .foreign(m): return m
            }
        }
    }

    public static func onEtcd(config: MasterConfig, loop: EventLoop, logger: Logger, etcd: EtcdOptions) throws(StartError) -> Master {
        var endpoints: [HostPort] = []
        for e in etcd.endpoints {
            guard let hp = HostPort(e) else { throw .usage("--etcd-endpoints: invalid address '\(e)' (expected HOST:PORT)") }
            endpoints.append(hp)
        }
        guard !endpoints.isEmpty else { throw .usage("--etcd-endpoints: at least one HOST:PORT") }
        guard etcd.prefix.hasPrefix("/"), !etcd.prefix.hasSuffix("/"), etcd.prefix.count > 1 else {
            throw .usage("--etcd-prefix must start with '/' and not end with one (e.g. /chainstore/prod)")
        }
        let settings = EtcdCoordinator.Settings(endpoints: endpoints, prefix: etcd.prefix, ttlSeconds: max(1, etcd.leaseTTLSeconds),
                                                advertise: config.advertise, user: etcd.user, password: etcd.password, tls: etcd.tls)
        let log = logger
        let coordinator: EtcdCoordinator
        do {
            coordinator = try EtcdCoordinator(settings: settings, waitMs: etcd.waitMs) { message in log.notice("\(message)") }
        } catch {
            switch error {
            case let .unreachable(m): throw .unreachable(m)
            case let .foreign(m): throw .foreign(m)
            }
        }
        if let seedFile = etcd.seedFile {
            let seed: MasterState
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: seedFile))
                seed = try StoredState.decode(data, from: seedFile)
            } catch {
                throw .usage("--seed-from-file \(seedFile): \(error)")
            }
            do {
                if try coordinator.seed(try StoredState.encode(seed)) {
                    logger.notice("seeded etcd with the state from \(seedFile)", metadata: ["epoch": "\(seed.epoch)", "prefix": "\(etcd.prefix)"])
                } else {
                    logger.notice("etcd already holds a state under \(etcd.prefix); --seed-from-file \(seedFile) is ignored")
                }
            } catch {
                throw .unreachable("seeding etcd: \(error)")
            }
        }
        do {
            return try Master(config: config, loop: loop, logger: logger, store: coordinator, election: coordinator, loaded: nil)
        } catch {
            throw .usage("\(error)")
        }
    }
}
