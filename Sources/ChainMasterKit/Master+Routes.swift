import ChainCore
import ChainSecurity
import EventLoop
import Foundation

/// The HTTP/JSON API. Bad input (wrong method, malformed JSON, unknown path) gets a 4xx with a
/// one-line reason; nothing changes.
extension Master {
    func route(_ req: HTTPRequest) {
        metrics.requests.increment()
        guard authorized(req) else {
            metrics.unauthorized.increment()
            req.respond(status: 401, text: "missing or wrong API token: send Authorization: Bearer TOKEN (chainctl --token-file)\n")
            return
        }
        let now = Master.nowMs()
        switch (req.method, req.path) {
        case ("POST", "/v1/nodes/register"):
            guard let r = decode(MasterAPI.Registration.self, req) else { return }
            let (response, effects) = policy.onRegister(r.node, lastConfig: r.last_config, boot: r.boot, now: now)
            respond(response, effects: effects, to: req)
        case ("POST", "/v1/nodes/heartbeat"):
            guard let hb = decode(MasterAPI.Heartbeat.self, req) else { return }
            let (response, effects) = policy.onHeartbeat(hb, now: now)
            respond(response, effects: effects, to: req)
        case ("GET", "/v1/config"):
            guard let after = Epoch(req.query["after"] ?? "0") else {
                req.respond(status: 400, text: "after must be an epoch number\n")
                return
            }
            watch(after: after, req)
        case ("POST", "/v1/nodes/remove"):
            guard let r = decode(RemoveRequest.self, req) else { return }
            let (response, effects) = policy.onRemove(r.id, now: now)
            respond(response, effects: effects, to: req)
        case ("POST", "/v1/nodes/drain"):
            guard let r = decode(RemoveRequest.self, req) else { return }
            let (response, effects) = policy.onDrain(r.id, now: now)
            respond(response, effects: effects, to: req)
        case ("POST", "/v1/nodes/add"):
            guard let r = decode(RemoveRequest.self, req) else { return }
            let (response, effects) = policy.onAdd(r.id, now: now)
            respond(response, effects: effects, to: req)
        case ("POST", "/v1/cluster/stop"):
            let (response, effects) = policy.onStopCluster(now: now)
            respond(response, effects: effects, to: req)
        case ("POST", "/v1/cluster/start"):
            guard let r = decode(MasterAPI.StartRequest.self, req) else { return }
            let (response, effects) = policy.onStartCluster(force: r.force ?? false, now: now)
            respond(response, effects: effects, to: req)
        case ("POST", "/v1/plan"):
            guard let r = decode(MasterAPI.PlanRequest.self, req) else { return }
            send(policy.dryRun(r, now: now), to: req)
        case ("GET", "/v1/masters"):
            respondJSON(req, mastersReport())
        case ("GET", "/v1/status"):
            if case let .standby(leader) = policy.role { return send(.notLeader(leader: leader), to: req) }
            respondJSON(req, statusReport())
        case ("GET", "/healthz"):
            req.respond(status: 200, text: "ok\n")
        case ("GET", "/"), ("GET", "/index.html"):
            // The page holds no data: it fetches /v1/status (with the token when reads need it).
            req.respond(status: 200, contentType: "text/html; charset=utf-8", body: Array(StatusPage.html.utf8))
        case ("GET", "/metrics"):
            metrics.nodes.set(to: Double(policy.state.nodes.count))
            if case .standby = policy.role { metrics.updateCluster(nil, lag: []) }
            else { metrics.updateCluster(statusReport(), lag: policy.memberLag()) }
            req.respond(status: 200, contentType: "text/plain; version=0.0.4", body: metrics.render())
        case (_, "/v1/nodes/register"), (_, "/v1/nodes/heartbeat"), (_, "/v1/nodes/remove"), (_, "/v1/nodes/drain"), (_, "/v1/nodes/add"), (_, "/v1/plan"), (_, "/v1/config"), (_, "/v1/status"),
             (_, "/v1/cluster/stop"), (_, "/v1/cluster/start"):
            req.respond(status: 405, text: "method \(req.method) not allowed on \(req.path)\n")
        default:
            req.respond(status: 404, text: "not found: \(req.path)\n")
        }
    }

    /// With a token configured, every call that changes something (POST) needs it, and with
    /// `protectReads` every read but the health check. Compared in constant time.
    private func authorized(_ req: HTTPRequest) -> Bool {
        guard let token = config.apiToken else { return true }
        if req.method == "GET" && (!config.protectReads || ["/healthz", "/", "/index.html"].contains(req.path)) { return true }
        let prefix = "Bearer "
        guard let h = req.authorization, h.hasPrefix(prefix) else { return false }
        return Secrets.constantTimeEqual(Array(h.dropFirst(prefix.count).utf8), Array(token.utf8))
    }

    /// Body of remove, drain and add.
    struct RemoveRequest: Decodable { var id: String }

    private func decode<T: Decodable>(_ type: T.Type, _ req: HTTPRequest) -> T? {
        do {
            return try JSONDecoder().decode(T.self, from: Data(req.body))
        } catch {
            metrics.badRequests.increment()
            req.respond(status: 400, text: "malformed JSON body for \(req.path): \(Self.describe(error))\n")
            return nil
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(k, _): return "missing field '\(k.stringValue)'"
        case let DecodingError.typeMismatch(_, c): return "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted: return "not valid JSON"
        default: return "\(error)"
        }
    }
}
