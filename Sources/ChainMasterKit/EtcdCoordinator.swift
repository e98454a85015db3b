import ChainClient
import ChainCore
import ChainSecurity
import Foundation
import Synchronization

/// Several chainmasters over one etcd cluster: the election, and the store of the state.
///
/// Keys under the prefix: `state` (the `MasterState`, format-tagged) and `election/<lease id>`,
/// one per running master, holding its API address, attached to that master's etcd lease. The
/// master whose key has the smallest create revision leads; a key disappears when its master's
/// lease expires (it died, or lost etcd) or is revoked (a clean shutdown).
///
/// Fencing: every write of the leader is one transaction that also compares the create revision
/// of its own election key and the state's last modification, so a paused, slow or partitioned
/// former leader can never publish — its key is gone, or a newer leader wrote the state. And a
/// leader acts only until its lease's TTL has passed since it *sent* the last renewal that
/// succeeded, minus a margin, on its own monotonic clock: never after etcd may have expired it
/// (etcd extends leases when its own leader changes, so the server's TTL alone is not trusted).
///
/// All etcd requests run on one serial queue (the campaign thread, saves), never on the loop.
final class EtcdCoordinator: MasterStore, Election, @unchecked Sendable {
    struct Settings: Sendable {
        var endpoints: [HostPort]
        var prefix: String
        var ttlSeconds: Int
        var advertise: String
        var user: String?
        var password: String?
        var tls: TLSContext?
    }

    private struct Shared {
        /// The election's decisions (pure); this shell makes the requests.
        var candidacy = Candidacy()
        var leader: String?
        var candidates: [String] = []
        var endpoints: [MasterAPI.Masters.Endpoint] = []
        var stopped = false
        var resigning = false
    }

    let settings: Settings
    private let client: EtcdClient
    private let queue = DispatchQueue(label: "chainmaster.etcd")
    private let shared = Mutex(Shared())
    private let log: @Sendable (String) -> Void
    var kind: String { "etcd" }
    var stateKey: String { settings.prefix + "/state" }
    var electionPrefix: String { settings.prefix + "/election/" }
    /// Renewal and election checks run this often.
    var tickMs: Int { max(50, min(250, settings.ttlSeconds * 1000 / 4)) }

    enum OpenError: Error, CustomStringConvertible {
        case unreachable(String)
        case foreign(String)
        var description: String {
            switch self {
            case let .unreachable(m): return m
            case let .foreign(m): return m
            }
        }
    }

    /// Connects and checks what the prefix holds: etcd must answer within `waitMs`, and a state
    /// there must be chainstore's (foreign or corrupt data is refused, never overwritten).
    init(settings: Settings, waitMs: Int, log: @escaping @Sendable (String) -> Void) throws(OpenError) {
        self.settings = settings
        self.log = log
        client = EtcdClient(endpoints: settings.endpoints, tls: settings.tls, user: settings.user, password: settings.password,
                            timeoutMs: max(200, settings.ttlSeconds * 1000 / 3))
        let deadline = Master.nowMs() + UInt64(waitMs)
        var found: [EtcdClient.KeyValue]?
        var problem = ""
        repeat {
            do { found = try client.range(stateKey) } catch {
                problem = "\(error)"
                if case .refused = error { break }
                usleep(200_000)
            }
        } while found == nil && Master.nowMs() < deadline
        guard let found else {
            throw .unreachable("cannot reach etcd at \(settings.endpoints.map(\.description).joined(separator: ",")) within \(waitMs) ms: \(problem)")
        }
        if let kv = found.first {
            do { _ = try StoredState.decode(kv.value, from: "etcd key \(stateKey)") } catch { throw .foreign("\(error)") }
        }
    }

    /// The state under the prefix, or nil (at start, to report; the leader reads it again).
    func peekState() throws -> MasterState? {
        try queue.sync {
            guard let kv = try client.range(stateKey).first else { return nil }
            return try StoredState.decode(kv.value, from: "etcd key \(stateKey)")
        }
    }

    /// Writes `state` under the prefix if nothing is there yet (moving a cluster from the file
    /// store); false when the prefix already has a state.
    func seed(_ data: Data) throws -> Bool {
        try queue.sync { try client.txn([.modified(stateKey, 0)], [.put(stateKey, data, lease: 0)]).succeeded }
    }

    // MARK: election

    func start(_ onEvent: @escaping @Sendable (LeadershipEvent) -> Void) {
        let t = Thread { [self] in
            var lastEndpointCheck: UInt64 = 0
            var lastReported: String?? = .none
            while !shared.withLock({ $0.stopped }) {
                let began = Master.nowMs()
                if let event = queue.sync(execute: { step() }) {
                    // Renewals always go through (they extend `until`); standby only on a change.
                    switch event {
                    case .leading: onEvent(event)
                    case let .standby(leader):
                        if lastReported != .some(leader) { onEvent(event) }
                        lastReported = .some(leader)
                    }
                    if case .leading = event { lastReported = .none }
                }
                if began - lastEndpointCheck > 2000 {
                    lastEndpointCheck = began
                    let health = queue.sync { client.endpointStatus() }
                    shared.withLock { $0.endpoints = health.map { .init(endpoint: "\($0.endpoint)", healthy: $0.healthy, detail: $0.detail) } }
                }
                let spent = Master.nowMs() - began
                if spent < UInt64(tickMs) { usleep(UInt32(UInt64(tickMs) - spent) * 1000) }
            }
        }
        t.name = "etcd-election"
        t.start()
    }

    /// One round: hold a lease and a candidate key, renew it, see who leads. Runs on `queue`.
    private func step() -> LeadershipEvent? {
        let s = shared.withLock { $0 }
        if s.resigning { return nil }
        do {
            if !s.candidacy.holdsLease {
                let sent = Master.nowMs()
                let (lease, ttl) = try client.grant(ttl: settings.ttlSeconds)
                let key = electionPrefix + String(lease, radix: 16)
                let created = try client.txn([.created(key, 0)], [.put(key, Data(settings.advertise.utf8), lease: lease)])
                guard created.succeeded else {
                    try? client.revoke(lease)
                    return nil
                }
                shared.withLock { $0.candidacy.onCampaigned(lease: lease, key: key, createRevision: created.revision, sentAt: sent, ttlSeconds: ttl) }
            } else {
                let sent = Master.nowMs()
                let ttl = try client.keepAlive(s.candidacy.lease)
                guard shared.withLock({ $0.candidacy.onRenewed(sentAt: sent, ttlSeconds: ttl) }) else {
                    // Expired (etcd was out of reach too long): campaign again from scratch.
                    log("this master's etcd lease expired; campaigning again")
                    return .standby(leader: nil)
                }
            }
            let candidates = try client.range(electionPrefix, prefix: true, byCreation: true)
            let list = candidates.map { (key: $0.key, value: String(decoding: $0.value, as: UTF8.self)) }
            let decision = shared.withLock { sh -> Candidacy.Decision in
                sh.candidates = list.map(\.value)
                sh.leader = list.first?.value
                return sh.candidacy.onCandidates(list, now: Master.nowMs())
            }
            switch decision {
            case let .follow(leader):
                return .standby(leader: leader)
            case .lead(load: false):
                // The state must still be the one this leader last read or wrote.
                let revision = try client.range(stateKey).first?.modRevision ?? 0
                guard shared.withLock({ $0.candidacy.onStateSeen(revision: revision) }) else {
                    log("the state in etcd changed under this leader; reading it again")
                    return .standby(leader: nil)
                }
                let (until, term) = shared.withLock { ($0.candidacy.until, $0.candidacy.term) }
                return .leading(until: until, begins: false, term: term, loaded: nil)
            case .lead(load: true):
                // Leadership begins: read the state as it is now (and its revision, for the fence).
                let kv = try client.range(stateKey).first
                let loaded: MasterState?
                do { loaded = try kv.map { try StoredState.decode($0.value, from: "etcd key \(stateKey)") } } catch {
                    log("refusing to lead: \(error)")
                    return .standby(leader: nil)
                }
                let (until, term) = shared.withLock { sh -> (UInt64, Int) in
                    sh.candidacy.onLoaded(stateRevision: kv?.modRevision ?? 0)
                    return (sh.candidacy.until, sh.candidacy.term)
                }
                return .leading(until: until, begins: true, term: term, loaded: loaded)
            }
        } catch {
            // Out of reach: the leader's validity runs out by itself (`until` is not renewed);
            // once it has, say so (the master already acts on nothing).
            let lapsed = shared.withLock { $0.candidacy.onUnreachable(now: Master.nowMs()) }
            if lapsed { log("etcd out of reach past this master's leadership: standing by (\(error))") }
            return lapsed ? .standby(leader: nil) : nil
        }
    }

    func lost(reason: String) {
        shared.withLock { $0.candidacy.onFenced() }
    }

    func resign() {
        let lease = shared.withLock { s -> Int64 in
            s.resigning = true
            let lease = s.candidacy.lease
            s.candidacy.onResigned()
            return lease
        }
        guard lease != 0 else { return }
        queue.sync { try? client.revoke(lease) }
    }

    func stop() { shared.withLock { $0.stopped = true } }

    var leaderAddress: String? { shared.withLock { $0.leader } }

    func report() -> MasterAPI.Masters {
        shared.withLock { s in
            MasterAPI.Masters(store: "etcd", leader: s.leader,
                              members: s.candidates.enumerated().map { .init(address: $0.element, role: $0.offset == 0 ? "leader" : "standby") },
                              store_endpoints: s.endpoints.isEmpty
                                  ? settings.endpoints.map { .init(endpoint: "\($0)", healthy: false, detail: "not checked yet") } : s.endpoints)
        }
    }

    // MARK: store

    func save(_ data: Data, term: Int, done: @escaping @Sendable (SaveOutcome) -> Void) {
        queue.async { [self] in
            guard let fence = shared.withLock({ $0.candidacy.fence(now: Master.nowMs(), term: term) }) else {
                return done(.fenced("this master does not lead (or its leadership lapsed)"))
            }
            do {
                let r = try client.txn([.created(fence.key, fence.createRevision), .modified(stateKey, fence.stateRevision)],
                                       [.put(stateKey, data, lease: 0)])
                if r.succeeded {
                    shared.withLock { $0.candidacy.onWritten(revision: r.revision) }
                    done(.saved)
                } else {
                    shared.withLock { $0.candidacy.onFenced() }
                    done(.fenced("its election key is gone or another master wrote the state"))
                }
            } catch {
                done(.failed("\(error)"))
            }
        }
    }

    func drain() { queue.sync {} }
}
