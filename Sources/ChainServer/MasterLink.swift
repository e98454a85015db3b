import ChainClient
import ChainSecurity
import ChainCore
import EventLoop
import Foundation
import Synchronization

/// The node's conversation with the master, on two background threads with blocking HTTP (so the
/// event loop never waits on the network): one registers and then heartbeats, renewing the lease;
/// one long-polls for new configurations. Results are submitted to the loop.
///
/// The lease runs from the moment a heartbeat was *sent*, not answered, so the node's view of its
/// lease always ends before the master's.
///
/// With several masters (on etcd) the link follows the leader (`MasterEndpoints`); while none
/// answers as leader — a handover — it tries again every 100 ms instead of every heartbeat
/// interval, so that its lease is renewed as soon as the new leader serves.
final class MasterLink: Sendable {
    private struct Shared {
        var epoch: Epoch = 0
        var progress: [MasterAPI.ChainProgress] = []
        var progressEpoch: Epoch = 0
        var storeBytes = 0
        var unreachable: [(peer: NodeID, downMs: Int)] = []
        /// The last configuration installed (sent when registering).
        var lastConfig: Configuration?
        var heartbeatMs = 500
        /// How long one request to a master may take: a third of the lease (a master that
        /// stopped answering must not eat the lease; another may lead).
        var requestTimeoutMs = 3000
        var stopped = false
        /// Why this node stopped heartbeating (its store failed), if it did.
        var withdrawn: String?
    }

    private let master: MasterEndpoints
    private let info: NodeInfo
    private let node: LoopBound<ChainNode>
    private let token: String?
    private let tls: TLSContext?
    private let shared = Mutex(Shared())
    /// This process's id, sent when registering (a new one on every start).
    private let boot = Secrets.randomBytes(8).map { String(format: "%02x", $0) }.joined()

    init(master: MasterEndpoints, token: String?, tls: TLSContext?, info: NodeInfo, node: LoopBound<ChainNode>) {
        self.master = master
        self.token = token
        self.tls = tls
        self.info = info
        self.node = node
    }

    func start() {
        Thread.detachNewThread { [self] in heartbeatLoop() }
        Thread.detachNewThread { [self] in watchLoop() }
    }

    func stop() { shared.withLock { $0.stopped = true } }

    /// The node can no longer hold data (its store failed): it stops heartbeating, so its lease
    /// runs out — it stops serving — and the master splices it out of its chains as it would a
    /// dead node. A restart (after the disk is fixed) registers it again.
    func withdraw(reason: String) { shared.withLock { $0.withdrawn = $0.withdrawn ?? reason } }

    /// Loop thread: the newest epoch installed, and the chain progress to report.
    func update(knownEpoch: Epoch) { shared.withLock { $0.epoch = max($0.epoch, knownEpoch) } }
    /// Loop thread (and start-up): the configuration installed, kept for the next registration.
    func installed(_ config: Configuration) { shared.withLock { $0.lastConfig = config } }
    /// Loop thread: chain progress as of `epoch` (reports are tied to the epoch they were read at).
    func report(_ progress: [MasterAPI.ChainProgress], epoch: Epoch, storeBytes: Int, unreachable: [(peer: NodeID, downMs: Int)]) {
        shared.withLock {
            $0.progress = progress
            $0.progressEpoch = epoch
            $0.storeBytes = storeBytes
            $0.unreachable = unreachable
        }
    }
    /// A peer spoke of a newer epoch; the watch long-poll is already waiting for it.
    func wakeWatch() {}

    private var stopped: Bool { shared.withLock { $0.stopped } }

    private func heartbeatLoop() {
        var registered = false
        var failures = 0
        var saidWithdrawn = false
        while !stopped {
            if let reason = shared.withLock({ $0.withdrawn }) {
                if !saidWithdrawn { log("no longer heartbeating (\(reason)); the master will take this node out of its chains") }
                saidWithdrawn = true
                usleep(100_000)
                continue
            }
            let sentAt = monotonicMillis()
            do {
                let reply: MasterAPI.LeaseReply
                if !registered {
                    reply = try post("/v1/nodes/register", MasterAPI.Registration(info, lastConfig: shared.withLock { $0.lastConfig }, boot: boot))
                    registered = true
                    log("registered with the master at \(master.leader)")
                } else {
                    let hb = shared.withLock {
                        MasterAPI.Heartbeat(id: info.id, epoch: $0.progressEpoch, chains: $0.progress, store_bytes: $0.storeBytes,
                                            unreachable: $0.unreachable.isEmpty ? nil : $0.unreachable.map(\.peer),
                                            unreachableForMs: $0.unreachable.isEmpty ? nil : $0.unreachable.map(\.downMs))
                    }
                    reply = try post("/v1/nodes/heartbeat", hb)
                }
                failures = 0
                shared.withLock {
                    $0.heartbeatMs = reply.heartbeat_ms
                    $0.requestTimeoutMs = max(300, min(3000, reply.lease_ms / 3))
                }
                let until = sentAt + UInt64(reply.lease_ms)
                let config = reply.config
                let lease = reply.lease_ms
                node.submit { n in
                    n.renewLease(untilMs: until, leaseMs: lease)
                    if let config { n.install(config) }
                }
            } catch let e as MasterError where e.status == 404 {
                registered = false
            } catch let e as MasterError where e.status == 401 {
                failures += 1
                if failures == 1 || failures % 20 == 0 { log("the master refused this node's API token (--master-token-file): \(e.message)") }
            } catch {
                failures += 1
                if failures == 1 || failures % 20 == 0 { log("no leading master reachable (\(failures) tries): \(error)") }
            }
            let ms = shared.withLock { $0.heartbeatMs }
            // After a failure, try again soon: a new leader may serve already.
            let pause = failures > 0 ? min(ms, 100) : ms
            let spent = Int(monotonicMillis() - sentAt)
            if pause > spent { usleep(UInt32(max(pause - spent, 10)) * 1000) }
        }
    }

    private func watchLoop() {
        while !stopped {
            let epoch = shared.withLock { $0.epoch }
            do {
                let r = try master.request(method: "GET", path: "/v1/config?after=\(epoch)&timeout_ms=20000", timeoutMs: 25_000, token: token, tls: tls)
                if r.status == 200 {
                    let config = try JSONDecoder().decode(Configuration.self, from: Data(r.body))
                    shared.withLock { $0.epoch = max($0.epoch, config.epoch) }
                    node.submit { $0.install(config) }
                    continue
                }
                if r.status != 204 { usleep(500_000) }
            } catch {
                usleep(500_000)
            }
        }
    }

    struct MasterError: Error, CustomStringConvertible {
        var status: Int
        var message: String
        var description: String { "master answered \(status): \(message)" }
    }

    private func post<B: Encodable>(_ path: String, _ body: B) throws -> MasterAPI.LeaseReply {
        let data = try JSONEncoder().encode(body)
        let timeout = shared.withLock { $0.requestTimeoutMs }
        let r = try master.request(method: "POST", path: path, body: Array(data), timeoutMs: timeout, token: token, tls: tls)
        guard r.status == 200 else { throw MasterError(status: r.status, message: r.text.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return try JSONDecoder().decode(MasterAPI.LeaseReply.self, from: Data(r.body))
    }

    private func log(_ message: String) {
        node.submit { $0.server.logger.notice("\(message)") }
    }
}
