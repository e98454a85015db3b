import ChainCore
import ChainSecurity
import Foundation
import RESP

/// The smart client: routes every command straight to the node that serves it (writes to the
/// chain's head, reads to its tail) using the master's configuration, tags writes so a retry
/// after a failure returns the first result instead of applying twice, and refreshes the
/// configuration when a node says it moved on (`TRYAGAIN`, `CLUSTERDOWN`) or cannot be reached.
/// Blocking; one per thread.
public final class ClusterClient {
    public enum Failure: Error, CustomStringConvertible {
        case master(String)
        case noConfiguration
        case unavailable(String)

        public var description: String {
            switch self {
            case let .master(m): return "master: \(m)"
            case .noConfiguration: return "the master has no chain table yet (not enough nodes registered)"
            case let .unavailable(m): return "gave up: \(m)"
            }
        }
    }

    /// The masters (the leader is followed).
    public let masters: MasterEndpoints
    public var master: HostPort { masters.leader }
    public private(set) var config: Configuration?
    public let clientID: UInt64
    private var nextRequest: UInt64 = 1
    private var connections: [NodeID: RESPClient] = [:]
    private let timeoutMs: Int
    private let credentials: Credentials?
    private let token: String?
    private let tls: TLSContext?
    /// How long one command may keep retrying through reconfigurations.
    public var retryBudgetMs: Int

    /// Commands that change data (they go to the head and are tagged).
    public static let writeCommands: Set<String> = [
        "set", "del", "unlink", "mset", "msetnx", "incr", "incrby", "decr", "decrby", "incrbyfloat", "append", "setrange",
        "setnx", "setex", "psetex", "getset", "getdel", "getex", "rename", "renamenx", "copy", "restore", "sort",
        "hset", "hmset", "hsetnx", "hdel", "hincrby", "hincrbyfloat",
        "expire", "pexpire", "expireat", "pexpireat", "persist",
    ]

    /// `credentials`: for nodes that require AUTH; `token`: the master's API token, when it
    /// protects reads; `tls`: a client context for HTTPS to the master and TLS to the nodes.
    public convenience init(master: HostPort, timeoutMs: Int = 3000, retryBudgetMs: Int = 10_000, credentials: Credentials? = nil,
                            token: String? = nil, tls: TLSContext? = nil) throws(Failure) {
        try self.init(masters: MasterEndpoints(master), timeoutMs: timeoutMs, retryBudgetMs: retryBudgetMs, credentials: credentials,
                      token: token, tls: tls)
    }

    public init(masters: MasterEndpoints, timeoutMs: Int = 3000, retryBudgetMs: Int = 10_000, credentials: Credentials? = nil,
                token: String? = nil, tls: TLSContext? = nil) throws(Failure) {
        self.masters = masters
        self.credentials = credentials
        self.token = token
        self.tls = tls
        self.timeoutMs = timeoutMs
        self.retryBudgetMs = retryBudgetMs
        let r = Secrets.randomBytes(8)
        self.clientID = r.reduce(0) { $0 << 8 | UInt64($1) } & 0x7fff_ffff_ffff_ffff
        try refresh()
    }

    /// `master`: HOST:PORT, or several comma-separated.
    public convenience init(master: String, timeoutMs: Int = 3000) throws {
        guard let m = MasterEndpoints(master) else { throw Failure.master("invalid address '\(master)' (expected HOST:PORT[,HOST:PORT…])") }
        try self.init(masters: m, timeoutMs: timeoutMs)
    }

    /// Fetches the current configuration from the master.
    public func refresh() throws(Failure) {
        let r: HTTPClient.Response
        do { r = try masters.request(method: "GET", path: "/v1/config?after=0&timeout_ms=0", timeoutMs: timeoutMs, token: token, tls: tls) } catch {
            throw .master("\(error)")
        }
        if r.status == 204 { throw .noConfiguration }
        if r.status == 401 { throw .master("the master wants its API token (--token-file)") }
        guard r.status == 200, let c = try? JSONDecoder().decode(Configuration.self, from: Data(r.body)) else {
            throw .master("unexpected answer \(r.status): \(r.text.prefix(200))")
        }
        if let old = config, old.epoch != c.epoch {
            // Addresses may have changed: start over with fresh connections.
            connections.removeAll()
        }
        config = c
    }

    /// The node that serves `args` (head for writes, tail for reads).
    public func route(_ args: [[UInt8]]) -> (node: NodeID, address: String, isWrite: Bool)? {
        guard let config, args.count >= 2 else { return nil }
        let name = String(decoding: args[0], as: UTF8.self).lowercased()
        let write = Self.writeCommands.contains(name)
        let chain = config.chains[config.chain(forKey: args[1])]
        guard let node = write ? chain.head : chain.tail, let addr = config.node(node)?.client else { return nil }
        return (node, addr, write)
    }

    /// Runs one command at the right node, retrying through failures and reconfigurations with
    /// the same tag until it gets an answer or the retry budget is spent. Error replies that are
    /// not about routing (`ERR …`) are returned, not retried.
    public func execute(_ args: [[UInt8]]) throws(Failure) -> RESPValue {
        try run(args) { $0.route(args) }
    }

    /// Runs a read-only command at the tail of `chain` (for commands that name a chain rather
    /// than a key, such as `CS.SCAN`), retrying through reconfigurations like `execute`.
    public func executeAtTail(of chain: ChainID, _ args: [[UInt8]]) throws(Failure) -> RESPValue {
        try run(args) { client in
            guard let c = client.config, c.chains.indices.contains(chain), let tail = c.chains[chain].tail,
                  let addr = c.node(tail)?.client else { return nil }
            return (tail, addr, false)
        }
    }

    private func run(_ args: [[UInt8]], routing: (ClusterClient) -> (node: NodeID, address: String, isWrite: Bool)?) throws(Failure) -> RESPValue {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(retryBudgetMs) * 1_000_000
        var tag: RequestTag?
        var lastProblem = "no attempt"
        var attempt = 0
        while true {
            attempt += 1
            if attempt > 1 {
                if DispatchTime.now().uptimeNanoseconds > deadline { throw .unavailable(lastProblem) }
                usleep(UInt32(min(50_000 * attempt, 500_000)))
                try? refresh()
            }
            guard let (node, addr, write) = routing(self) else {
                if config == nil { try refresh(); continue }
                // Not a keyed command: any node answers it (the first that can be reached).
                guard let nodes = config?.nodes, !nodes.isEmpty else { throw .noConfiguration }
                for n in nodes {
                    if let reply = try send(args, node: n.id, address: n.client, lastProblem: &lastProblem) { return reply }
                }
                continue
            }
            if write && tag == nil {
                tag = RequestTag(client: clientID, request: nextRequest)
                nextRequest += 1
            }
            // A first attempt is `CS.REQ`; later attempts are `CS.RETRY`, which makes the head look
            // for the result of an attempt that committed without its reply arriving.
            let wrapper = attempt == 1 ? "CS.REQ" : "CS.RETRY"
            let wire = tag.map { [Array(wrapper.utf8), Array(String($0.client).utf8), Array(String($0.request).utf8)] + args } ?? args
            guard let reply = try send(wire, node: node, address: addr, lastProblem: &lastProblem) else { continue }
            if case let .error(e) = reply, e.hasPrefix("TRYAGAIN") || e.hasPrefix("CLUSTERDOWN") || e.hasPrefix("MOVED") {
                lastProblem = e
                continue
            }
            return reply
        }
    }

    public func execute(_ args: String...) throws(Failure) -> RESPValue {
        try execute(args.map { Array($0.utf8) })
    }

    private func send(_ args: [[UInt8]], node: NodeID, address: String, lastProblem: inout String) throws(Failure) -> RESPValue? {
        do {
            let c: RESPClient
            if let existing = connections[node], existing.isOpen { c = existing } else {
                guard let a = HostPort(address) else { throw RESPClient.Failure.connect(address, 22) }
                c = try RESPClient(host: a.host, port: a.port, timeoutMs: timeoutMs, credentials: credentials, tls: tls)
                connections[node] = c
            }
            return try c.call(args)
        } catch RESPClient.Failure.auth(let e) {
            // Not a routing problem: retrying cannot help.
            throw .unavailable("node \(node) at \(address) refused the credentials: \(e)")
        } catch {
            connections[node]?.close()
            connections.removeValue(forKey: node)
            lastProblem = "node \(node) at \(address): \(error)"
            return nil
        }
    }
}
