import ChainClient
import EventLoop

/// What a run loads: a RESP endpoint or a chainstore cluster. Each client gets its own driver
/// (and connections) on its worker's event loop.
public enum LoadTargetSpec: Sendable {
    case resp(write: SocketAddress, read: SocketAddress?, waitReplicas: Int, security: LoadSecurity)
    /// `tagWrites: false` sends plain SETs (see `ClusterDriver`).
    case cluster(ConfigFeed, security: LoadSecurity, tagWrites: Bool = true)

    /// A RESP target, checked with a PING first so that a wrong address is one clear error
    /// instead of a run of connection failures.
    public static func checkedRESP(write: String, read: String?, waitReplicas: Int, security: LoadSecurity) throws -> LoadTargetSpec {
        func parse(_ text: String, _ flag: String) throws -> SocketAddress {
            do { return try SocketAddress(parsing: text) } catch {
                throw LoadRunner.LoadError(message: "\(flag): invalid address '\(text)' (expected IP:PORT)")
            }
        }
        let w = try parse(write, "--resp")
        let r = try read.map { try parse($0, "--resp-read") }
        for a in [w] + (r.map { [$0] } ?? []) {
            do {
                _ = try RESPClient(host: a.host, port: a.port, timeoutMs: 3000, credentials: security.credentials, tls: security.tls)
                    .call([Array("PING".utf8)])
            } catch {
                throw LoadRunner.LoadError(message: "cannot reach \(a): \(error)")
            }
        }
        return .resp(write: w, read: r, waitReplicas: waitReplicas, security: security)
    }

    func makeDriver(_ session: LoadSession, _ loop: EventLoop, _ options: LoadRunner.Options) throws -> LoadDriver {
        switch self {
        case let .resp(write, read, wait, security):
            return RESPDriver(session: session, loop: loop, write: write, read: read, waitReplicas: wait, timeoutMs: options.requestTimeoutMs,
                              keepValues: options.check, security: security)
        case let .cluster(feed, security, tagWrites):
            return ClusterDriver(session: session, loop: loop, feed: feed, timeoutMs: min(options.requestTimeoutMs, 3000), keepValues: options.check,
                                 security: security, tagWrites: tagWrites)
        }
    }
}
