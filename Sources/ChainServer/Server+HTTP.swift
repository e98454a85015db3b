import EventLoop
import Foundation

/// `/healthz`, `/status` (JSON) and `/metrics` (Prometheus text).
extension Server {
    struct Status: Encodable {
        var node_id: String
        var mode: String
        var version: String
        var uptime_s: Int
        var durability: String
        var healthy: Bool
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
    }

    var status: Status {
        Status(node_id: config.nodeID, mode: "standalone", version: Server.version, uptime_s: uptimeSeconds,
               durability: config.durability.rawValue, healthy: data.writeError == nil,
               store_error: data.writeError.map { "\($0)" }, connections: sessions.count,
               commands_processed: commandsTotal, keys_estimate: data.store.estimatedKeyCount,
               current_seq: data.currentSeq, persisted_seq: data.persistedSeq,
               cache_entries: data.cache.count, cache_bytes: data.cache.bytes,
               cache_hits: data.cache.hits, cache_misses: data.cache.misses,
               resp: "\(listenAddress)", data_dir: config.dataDir)
    }

    func handleHTTP(_ req: HTTPRequest) {
        guard req.method == "GET" || req.method == "HEAD" else {
            req.respond(status: 405, text: "only GET is supported\n")
            return
        }
        switch req.path {
        case "/healthz":
            if data.writeError == nil { req.respond(status: 200, text: "ok\n") }
            else { req.respond(status: 503, text: "unhealthy: \(data.writeError!)\n") }
        case "/status":
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            let body = (try? enc.encode(status)) ?? Data("{}".utf8)
            req.respond(status: 200, contentType: "application/json", body: Array(body) + [10])
        case "/metrics":
            metrics.keysEstimate.set(to: Double(data.store.estimatedKeyCount))
            req.respond(status: 200, contentType: "text/plain; version=0.0.4", body: metrics.render())
        default:
            req.respond(status: 404, text: "not found; try /healthz, /status or /metrics\n")
        }
    }
}
