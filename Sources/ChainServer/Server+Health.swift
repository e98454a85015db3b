import ChainCore
import EventLoop
import Storage

/// `/healthz` and `/readyz`: the node core's view (configuration, lease, joins, barriers) plus
/// what only the shell knows (a failed store, the disk reserve).
extension Server {
    enum HealthProblem: Equatable, CustomStringConvertible {
        /// Writes wait for disk room (`--min-free-disk-mb`); reads are still served.
        case diskReserve(StoreError)
        /// A write failed: nothing more is written until the node restarts.
        case storeFailed(StoreError)
        case node(NodeCore.Unready)

        var description: String {
            switch self {
            case let .diskReserve(e): return "disk reserve: \(e)"
            case let .storeFailed(e): return "store failed: \(e)"
            case let .node(u): return "\(u)"
            }
        }
    }

    private var storeProblem: HealthProblem? {
        guard let e = data.writeError else { return nil }
        if case .diskFull = e { return .diskReserve(e) }
        return .storeFailed(e)
    }

    /// Nil while the node serves requests (`/healthz` 200): its store takes writes and, in a
    /// cluster, it has a configuration and an unexpired lease.
    var healthProblem: HealthProblem? {
        if let p = storeProblem { return p }
        if let node = chainNode, let o = node.outage { return .node(.down(o)) }
        return nil
    }

    /// Nil when the node is healthy and a member of every chain the configuration gives it, with
    /// no join or barrier pending (`/readyz` 200). A standalone node is ready when healthy.
    var readinessProblem: HealthProblem? {
        if let p = storeProblem { return p }
        return chainNode?.unready.map { .node($0) }
    }

    func respondHealth(_ req: HTTPRequest, _ problem: HealthProblem?) {
        if let problem { req.respond(status: 503, text: "unavailable: \(problem)\n") }
        else { req.respond(status: 200, text: "ok\n") }
    }
}
