import ChainClient
import ChainSecurity
import Foundation

/// A blocking client of etcd's v3 API through its JSON gateway (`/v3/…` on the client port):
/// ranges, transactions, leases, and the members' status. Requests go to the endpoint that last
/// answered and move on to the next when one cannot be reached; every request has a timeout.
/// Used from the election's thread only, never on an event loop.
final class EtcdClient: @unchecked Sendable {
    struct KeyValue: Equatable {
        var key: String
        var value: Data
        var createRevision: Int64
        var modRevision: Int64
        var lease: Int64
    }

    enum Failure: Error, CustomStringConvertible {
        /// No endpoint answered.
        case unreachable(String)
        /// An endpoint answered with an error (etcd's message).
        case refused(Int, String)
        case malformed(String)

        var description: String {
            switch self {
            case let .unreachable(m): return "etcd unreachable: \(m)"
            case let .refused(status, m): return "etcd answered \(status): \(m)"
            case let .malformed(m): return "unexpected answer from etcd: \(m)"
            }
        }
    }

    let endpoints: [HostPort]
    private let tls: TLSContext?
    private let credentials: (user: String, password: String)?
    private var token: String?
    private var current = 0
    /// The timeout of one request (a lease's fraction: a stuck endpoint must not eat the lease).
    var timeoutMs: Int

    init(endpoints: [HostPort], tls: TLSContext?, user: String?, password: String?, timeoutMs: Int) {
        self.endpoints = endpoints
        self.tls = tls
        self.credentials = user.map { ($0, password ?? "") }
        self.timeoutMs = timeoutMs
    }

    // MARK: requests

    /// POSTs `body` to `path`, trying every endpoint once, starting with the one that answered last.
    private func call(_ path: String, _ body: [String: Any]) throws(Failure) -> [String: Any] {
        let data: Data
        do { data = try JSONSerialization.data(withJSONObject: body) } catch { throw .malformed("cannot encode request: \(error)") }
        var problems: [String] = []
        for i in 0..<endpoints.count {
            let index = (current + i) % endpoints.count
            let e = endpoints[index]
            do {
                let r = try post(e, path, Array(data), timeoutMs: timeoutMs)
                let object = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any]
                guard r.status == 200, let object else {
                    let message = (object?["error"] as? String) ?? (object?["message"] as? String) ?? r.text.prefix(200).description
                    // An endpoint that lost its quorum or is not ready: the next may do better.
                    if r.status >= 500 { problems.append("\(e): \(message)"); continue }
                    throw Failure.refused(r.status, message)
                }
                current = index
                return object
            } catch let f as Failure {
                if case .refused = f { throw f }
                problems.append("\(e): \(f)")
            } catch {
                problems.append("\(e): \(error)")
            }
        }
        throw .unreachable(problems.joined(separator: "; "))
    }

    /// One POST to endpoint `e`, authenticated when credentials are set (again, once, when the
    /// token expired).
    private func post(_ e: HostPort, _ path: String, _ body: [UInt8], timeoutMs: Int) throws -> HTTPClient.Response {
        if credentials != nil && token == nil { try authenticate(e) }
        var r = try HTTPClient.request(method: "POST", host: e.host, port: e.port, path: path, body: body,
                                       timeoutMs: timeoutMs, authorization: token, tls: tls)
        if r.status == 401 && credentials != nil {
            token = nil
            try authenticate(e)
            r = try HTTPClient.request(method: "POST", host: e.host, port: e.port, path: path, body: body,
                                       timeoutMs: timeoutMs, authorization: token, tls: tls)
        }
        return r
    }

    private func authenticate(_ e: HostPort) throws {
        guard let credentials else { return }
        let body = try JSONSerialization.data(withJSONObject: ["name": credentials.user, "password": credentials.password])
        let r = try HTTPClient.request(method: "POST", host: e.host, port: e.port, path: "/v3/auth/authenticate", body: Array(body),
                                       timeoutMs: timeoutMs, tls: tls)
        let object = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any]
        guard r.status == 200, let t = object?["token"] as? String else {
            throw Failure.refused(r.status, "authentication as \(credentials.user) failed: \((object?["error"] as? String) ?? r.text)")
        }
        token = t
    }

    // MARK: operations

    static func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }
    static func b64(_ d: Data) -> String { d.base64EncodedString() }

    /// The end of the range of every key that starts with `prefix`.
    static func prefixEnd(_ prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xff { bytes[bytes.count - 1] = last + 1; return String(decoding: bytes, as: UTF8.self) }
            bytes.removeLast()
        }
        return "\0"
    }

    static func int(_ any: Any?) -> Int64 {
        if let s = any as? String { return Int64(s) ?? 0 }
        if let n = any as? NSNumber { return n.int64Value }
        return 0
    }

    private static func keyValues(_ list: Any?) throws(Failure) -> [KeyValue] {
        guard let list = list as? [[String: Any]] else { return [] }
        var out: [KeyValue] = []
        for kv in list {
            guard let k = (kv["key"] as? String).flatMap({ Data(base64Encoded: $0) }) else { throw .malformed("a key that is not base64") }
            let v = (kv["value"] as? String).flatMap { Data(base64Encoded: $0) } ?? Data()
            out.append(KeyValue(key: String(decoding: k, as: UTF8.self), value: v, createRevision: int(kv["create_revision"]),
                                modRevision: int(kv["mod_revision"]), lease: int(kv["lease"])))
        }
        return out
    }

    /// One key, or every key under a prefix (sorted by creation when asked).
    func range(_ key: String, prefix: Bool = false, byCreation: Bool = false) throws(Failure) -> [KeyValue] {
        var body: [String: Any] = ["key": Self.b64(key)]
        if prefix { body["range_end"] = Self.b64(Self.prefixEnd(key)) }
        if byCreation { body["sort_target"] = "CREATE"; body["sort_order"] = "ASCEND" }
        return try Self.keyValues(try call("/v3/kv/range", body)["kvs"])
    }

    enum Compare {
        /// The key was created at this revision (0: it does not exist).
        case created(String, Int64)
        /// The key was last modified at this revision (0: it does not exist).
        case modified(String, Int64)
    }

    enum Operation {
        case put(String, Data, lease: Int64)
        case delete(String)
    }

    /// A transaction: if every compare holds, the operations run. Returns whether they did and the
    /// store's revision after it.
    func txn(_ compares: [Compare], _ ops: [Operation]) throws(Failure) -> (succeeded: Bool, revision: Int64) {
        let cmp: [[String: Any]] = compares.map {
            switch $0 {
            case let .created(k, r): return ["key": Self.b64(k), "target": "CREATE", "result": "EQUAL", "create_revision": "\(r)"]
            case let .modified(k, r): return ["key": Self.b64(k), "target": "MOD", "result": "EQUAL", "mod_revision": "\(r)"]
            }
        }
        let success: [[String: Any]] = ops.map {
            switch $0 {
            case let .put(k, v, lease):
                var p: [String: Any] = ["key": Self.b64(k), "value": Self.b64(v)]
                if lease != 0 { p["lease"] = "\(lease)" }
                return ["request_put": p]
            case let .delete(k): return ["request_delete_range": ["key": Self.b64(k)]]
            }
        }
        let r = try call("/v3/kv/txn", ["compare": cmp, "success": success])
        let header = r["header"] as? [String: Any]
        return ((r["succeeded"] as? Bool) ?? false, Self.int(header?["revision"]))
    }

    /// A new lease of `ttl` seconds (etcd may raise it to its minimum). Returns (id, granted TTL).
    func grant(ttl: Int) throws(Failure) -> (id: Int64, ttl: Int) {
        let r = try call("/v3/lease/grant", ["TTL": "\(ttl)"])
        let id = Self.int(r["ID"])
        guard id != 0 else { throw .malformed("lease grant without an id: \((r["error"] as? String) ?? "")") }
        return (id, Int(Self.int(r["TTL"])))
    }

    /// Renews a lease; returns its TTL in seconds (0: it expired).
    func keepAlive(_ id: Int64) throws(Failure) -> Int {
        let r = try call("/v3/lease/keepalive", ["ID": "\(id)"])
        let result = (r["result"] as? [String: Any]) ?? r
        return Int(Self.int(result["TTL"]))
    }

    func revoke(_ id: Int64) throws(Failure) {
        _ = try call("/v3/lease/revoke", ["ID": "\(id)"])
    }

    /// Each endpoint's own status (version, whether it leads the etcd cluster), or why it failed.
    func endpointStatus() -> [(endpoint: HostPort, healthy: Bool, detail: String)] {
        endpoints.map { e in
            do {
                let r = try post(e, "/v3/maintenance/status", Array("{}".utf8), timeoutMs: min(timeoutMs, 1000))
                guard r.status == 200, let o = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] else {
                    return (e, false, "answered \(r.status)")
                }
                let header = o["header"] as? [String: Any]
                // Member ids are unsigned 64-bit numbers, sent as strings: compared as such.
                let leader = (o["leader"] as? String) ?? "0"
                let leads = leader != "0" && leader == (header?["member_id"] as? String)
                let errors = (o["errors"] as? [String]) ?? []
                return (e, errors.isEmpty && leader != "0",
                        "etcd \(o["version"] as? String ?? "?")\(leads ? ", etcd leader" : "")\(errors.isEmpty ? "" : ", errors: \(errors.joined(separator: "; "))")")
            } catch {
                return (e, false, "\(error)")
            }
        }
    }
}
