import EventLoop
import ChainVersion
import Foundation

/// `/healthz`, `/readyz` (`Server+Health`), `/status` (JSON) and `/metrics` (Prometheus text).
extension Server {
    struct Status: Encodable {
        var node_id: String
        var mode: String
        var version: String
        var commit: String
        var uptime_s: Int
        var durability: String
        /// Serving (`/healthz` 200); otherwise `health_problem` says why not.
        var healthy: Bool
        var health_problem: String?
        /// In every chain it should be, in sync (`/readyz` 200); otherwise `readiness_problem`.
        var ready: Bool
        var readiness_problem: String?
        var store_error: String?
        var connections: Int
        var commands_processed: Int
        var keys_estimate: Int
        var current_seq: UInt64
        var persisted_seq: UInt64
        var cache_entries: Int
        var cache_bytes: Int
        var cache_hits: Int
        var cache_misses: Int
        var resp: String
        var data_dir: String
        var cluster: ClusterStatus?
    }

    struct ClusterStatus: Encodable {
        struct Chain: Encodable {
            var id: Int
            var role: String
            var members: [String]
            var applied: UInt64
            var persisted: UInt64
            var committed: UInt64
            var unacked: Int
            var waiting: Int
        }
        var epoch: UInt64
        var lease_remaining_ms: Int
        var peers_connected: [String]
        var chains: [Chain]
    }

    var clusterStatus: ClusterStatus? {
        guard let node = chainNode else { return nil }
        let now = monotonicMillis()
        return ClusterStatus(
            epoch: node.epoch,
            lease_remaining_ms: node.leaseUntilMs > now ? Int(node.leaseUntilMs - now) : 0,
            peers_connected: node.peers.connectedPeers,
            chains: node.replicas.values.sorted { $0.chain < $1.chain }.map {
                .init(id: $0.chain, role: $0.role.rawValue, members: $0.members, applied: $0.applied,
                      persisted: $0.persisted, committed: $0.committed, unacked: $0.unacked.count, waiting: $0.waitingCount)
            })
    }

    var status: Status {
        let health = healthProblem, readiness = readinessProblem
        return Status(node_id: config.nodeID, mode: chainNode == nil ? "standalone" : "cluster", version: BuildInfo.version,
               commit: BuildInfo.commit, uptime_s: uptimeSeconds, durability: config.durability.rawValue,
               healthy: health == nil, health_problem: health.map { "\($0)" },
               ready: readiness == nil, readiness_problem: readiness.map { "\($0)" },
               store_error: data.writeError.map { "\($0)" }, connections: sessions.count,
               commands_processed: commandsTotal, keys_estimate: data.store.estimatedKeyCount,
               current_seq: data.currentSeq, persisted_seq: data.persistedSeq,
               cache_entries: data.cache.count, cache_bytes: data.cache.bytes,
               cache_hits: data.cache.hits, cache_misses: data.cache.misses,
               resp: "\(listenAddress)", data_dir: config.dataDir, cluster: clusterStatus)
    }

    func handleHTTP(_ req: HTTPRequest) {
        guard req.method == "GET" || req.method == "HEAD" else {
            req.respond(status: 405, text: "only GET is supported\n")
            return
        }
        switch req.path {
        case "/healthz":
            respondHealth(req, healthProblem)
        case "/readyz":
            respondHealth(req, readinessProblem)
        case "/status":
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            let body = (try? enc.encode(status)) ?? Data("{}".utf8)
            req.respond(status: 200, contentType: "application/json", body: Array(body) + [10])
        case "/digests":
            digests(req)
        case "/metrics":
            metrics.keysEstimate.set(to: Double(data.store.estimatedKeyCount))
            metrics.serving.set(to: healthProblem == nil ? 1 : 0)
            metrics.ready.set(to: readinessProblem == nil ? 1 : 0)
            if let node = chainNode { metrics.updateChains(node.chainGauges) }
            req.respond(status: 200, contentType: "text/plain; version=0.0.4", body: metrics.render())
        default:
            req.respond(status: 404, text: "not found; try /healthz, /readyz, /status, /digests or /metrics\n")
        }
    }
}
