internal import CLibevent
import ChainCore
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// `HOST:PORT` with an IPv4 or IPv6 literal or a DNS name (`HostPortSyntax`). A loop never
/// resolves a name itself: a listener resolves its address once at start-up, before the loop
/// serves anything, and an outbound connection to a name resolves it on a background queue and
/// connects when the answer is back on the loop (`Connection.connect`).
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// Without brackets.
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`; an empty host is every IPv4 interface, `localhost` is 127.0.0.1 (so a
    /// node told to listen on localhost is reachable the way its peers resolve it).
    public init(parsing text: String) throws(EventLoopError) {
        guard let (h, port) = HostPortSyntax.parse(text) else { throw .invalidAddress(text) }
        switch h {
        case .any: host = "0.0.0.0"
        case .name("localhost"): host = "127.0.0.1"
        default: host = h.text
        }
        self.port = port
    }

    public var description: String { HostPortSyntax.format(host: host, port: port) }

    /// True for an IPv4 or IPv6 literal: usable without a DNS lookup.
    public var isNumeric: Bool { withSockAddr { _, _ in true } ?? false }

    /// Calls `body` with the socket address of a numeric host; nil for a name.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, Int32) -> R) -> R? {
        var sin = sockaddr_in()
        if inet_pton(AF_INET, host, &sin.sin_addr) == 1 {
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            return withUnsafePointer(to: &sin) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, Int32(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        var sin6 = sockaddr_in6()
        let zone = host.split(separator: "%", maxSplits: 1)
        guard let literal = zone.first, inet_pton(AF_INET6, String(literal), &sin6.sin6_addr) == 1 else { return nil }
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = port.bigEndian
        if zone.count == 2 { sin6.sin6_scope_id = UInt32(zone[1]) ?? if_nametoindex(String(zone[1])) }
        return withUnsafePointer(to: &sin6) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, Int32(MemoryLayout<sockaddr_in6>.size)) }
        }
    }

    /// The numeric addresses of the host, in the resolver's order of preference (the address
    /// itself when numeric). Blocks on DNS: never call it on a running loop.
    public func resolve() throws(EventLoopError) -> [SocketAddress] {
        if isNumeric { return [self] }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else { throw .unresolvable(description, String(cString: gai_strerror(rc))) }
        defer { freeaddrinfo(first) }
        var out: [SocketAddress] = []
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let ai = next {
            if let a = Self.from(UnsafePointer(ai.pointee.ai_addr)), !out.contains(a) { out.append(a) }
            next = ai.pointee.ai_next
        }
        guard !out.isEmpty else { throw .unresolvable(description, "no IPv4 or IPv6 address") }
        return out
    }

    /// Resolves on a background queue and calls `done` on `loop` with the addresses or the error.
    func resolve(on loop: EventLoop, _ done: @escaping (Result<[SocketAddress], EventLoopError>) -> Void) {
        let callback = LoopBound(done, loop: loop)
        let me = self
        DispatchQueue.global().async {
            let result = Result { () throws(EventLoopError) in try me.resolve() }
            callback.submit { $0(result) }
        }
    }

    /// The local address a socket is bound to.
    static func local(of fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                getsockname(fd, sa, &len) == 0 ? from(UnsafePointer(sa)) : nil
            }
        }
    }

    static func from(_ sa: UnsafePointer<sockaddr>?) -> SocketAddress? {
        guard let sa else { return nil }
        switch Int32(sa.pointee.sa_family) {
        case AF_INET:
            return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                var addr = sin.pointee.sin_addr
                inet_ntop(AF_INET, &addr, &buf, socklen_t(buf.count))
                return SocketAddress(host: buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, port: UInt16(bigEndian: sin.pointee.sin_port))
            }
        case AF_INET6:
            return sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                var addr = sin6.pointee.sin6_addr
                inet_ntop(AF_INET6, &addr, &buf, socklen_t(buf.count))
                return SocketAddress(host: buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, port: UInt16(bigEndian: sin6.pointee.sin6_port))
            }
        default:
            return nil
        }
    }
}
