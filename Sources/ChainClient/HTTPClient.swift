import ChainCore
import ChainSecurity
#if canImport(Glibc)
import Glibc
#endif

/// A minimal blocking HTTP/1.1 client for the admin tools, the nodes' link to the master and
/// tests: one request per connection (`Connection: close`), IPv4, IPv6 and named hosts, a timeout
/// on every step, HTTPS with a client `tls` context. Kept rather than AsyncHTTPClient: every caller
/// is a thread of its own that wants a blocking answer, and the binaries stay free of a second
/// event-loop runtime.
public enum HTTPClient {
    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public enum Failure: Error, CustomStringConvertible {
        case connect(String, Int32)
        case io(String)
        case malformed(String)

        public var description: String {
            switch self {
            case let .connect(a, e): return "cannot connect to \(a): \(String(cString: strerror(e)))"
            case let .io(m): return m
            case let .malformed(m): return "malformed HTTP response: \(m)"
            }
        }
    }

    public static func get(host: String, port: UInt16, path: String, timeoutMs: Int = 5000, token: String? = nil,
                           tls: TLSContext? = nil) throws(Failure) -> Response {
        try request(method: "GET", host: host, port: port, path: path, body: nil, timeoutMs: timeoutMs, token: token, tls: tls)
    }

    /// `token`: sent as `Authorization: Bearer …` (the master's API token); `authorization`: an
    /// `Authorization` header sent as it is (etcd's auth token).
    public static func request(method: String, host: String, port: UInt16, path: String, body: [UInt8]?,
                               contentType: String = "application/json", timeoutMs: Int = 5000, token: String? = nil,
                               authorization: String? = nil, tls: TLSContext? = nil) throws(Failure) -> Response {
        let client: RESPClient
        do {
            client = try RESPClient(host: host, port: port, timeoutMs: timeoutMs, tls: tls)
        } catch {
            if case let .connect(a, e) = error { throw .connect(a, e) }
            if case .unresolvable = error { throw .io("\(error)") }
            throw .io("\(error)")
        }
        defer { client.close() }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(HostPortSyntax.format(host: host, port: port))\r\nConnection: close\r\n"
        if let body { head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n" }
        if let token { head += "Authorization: Bearer \(token)\r\n" } else if let authorization { head += "Authorization: \(authorization)\r\n" }
        head += "\r\n"
        let raw: [UInt8]
        do {
            try client.send(Array(head.utf8) + (body ?? []))
            raw = try client.readUntilClosed(limit: 64 << 20)
        } catch {
            throw .io("HTTP \(method) \(path) on \(host):\(port): \(error)")
        }
        guard let split = find([13, 10, 13, 10], in: raw) else { throw .malformed("no header terminator") }
        let header = String(decoding: raw[..<split], as: UTF8.self)
        let parts = header.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { throw .malformed("bad status line") }
        var payload = Array(raw[(split + 4)...])
        let lower = header.lowercased()
        if lower.contains("transfer-encoding: chunked") { payload = dechunk(payload) }
        // The body ends where the connection does, so a cut connection shows as a short body.
        if let line = lower.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
           let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)), payload.count != length {
            throw .malformed("body of \(payload.count) bytes, Content-Length \(length)")
        }
        return Response(status: status, body: payload)
    }

    private static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }

    private static func dechunk(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < data.count {
            guard let lineEnd = find([13, 10], in: Array(data[i...])) else { break }
            let size = Int(String(decoding: data[i..<(i + lineEnd)], as: UTF8.self), radix: 16) ?? 0
            i += lineEnd + 2
            if size == 0 || i + size > data.count { break }
            out += data[i..<(i + size)]
            i += size + 2
        }
        return out
    }
}
