import ChainCore
import ChainSecurity
import Foundation
import Synchronization

/// The configuration masters a node or tool talks to (`--master A,B,C`, `$CHAIN_MASTER`), following
/// the leader: a request goes to the master that answered last; a master that cannot be reached,
/// or that stands by and names the leader (`421` with `MasterAPI.NotLeader`), sends it on —
/// to the named leader, else the next in the list — until one leads or every one was tried.
/// Thread-safe (the current choice is shared by the caller's threads); blocking.
public final class MasterEndpoints: Sendable, CustomStringConvertible {
    public let list: [HostPort]
    private let current = Mutex<HostPort>(HostPort(host: "127.0.0.1", port: 0))

    /// `text`: one or more HOST:PORT, comma-separated; nil if any is invalid.
    public init?(_ text: String) {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var list: [HostPort] = []
        for p in parts {
            guard let hp = HostPort(p) else { return nil }
            if !list.contains(hp) { list.append(hp) }
        }
        guard let first = list.first else { return nil }
        self.list = list
        current.withLock { $0 = first }
    }

    public init(_ one: HostPort) {
        list = [one]
        current.withLock { $0 = one }
    }

    public var description: String { list.map(\.description).joined(separator: ",") }

    /// The master most recently found leading (or the first).
    public var leader: HostPort { current.withLock { $0 } }

    public enum Failure: Error, CustomStringConvertible {
        /// No master answered as leader; `problems` says what each did.
        case noLeader(String)

        public var description: String {
            switch self { case let .noLeader(m): return m }
        }
    }

    /// One request to the leading master. Answers other than "not the leader" (and 503, a leader
    /// whose leadership lapsed) are returned as they are, whatever their status.
    public func request(method: String, path: String, body: [UInt8]? = nil, timeoutMs: Int = 5000, token: String? = nil,
                        tls: TLSContext? = nil) throws(Failure) -> HTTPClient.Response {
        var tried: [HostPort] = []
        var problems: [String] = []
        var next: HostPort? = leader
        // Each master once, plus the leaders they name.
        while let target = next, tried.count < list.count + 3 {
            tried.append(target)
            do {
                let r = try HTTPClient.request(method: method, host: target.host, port: target.port, path: path, body: body,
                                               timeoutMs: timeoutMs, token: token, tls: tls)
                if r.status == Int(MasterAPI.NotLeader.status) {
                    let hint = (try? JSONDecoder().decode(MasterAPI.NotLeader.self, from: Data(r.body)))?.leader.flatMap(HostPort.init)
                    problems.append("\(target) stands by (leader: \(hint?.description ?? "not known yet"))")
                    next = hint.flatMap { tried.contains($0) ? nil : $0 } ?? untried(tried)
                    continue
                }
                if r.status == 503 {
                    problems.append("\(target): \(r.text.trimmingCharacters(in: .whitespacesAndNewlines))")
                    next = untried(tried)
                    continue
                }
                current.withLock { $0 = target }
                return r
            } catch {
                problems.append("\(target): \(error)")
                next = untried(tried)
            }
        }
        // Start from the next one next time.
        if let n = untried([leader]) { current.withLock { $0 = n } }
        throw .noLeader(problems.joined(separator: "; "))
    }

    private func untried(_ tried: [HostPort]) -> HostPort? { list.first { !tried.contains($0) } }
}
