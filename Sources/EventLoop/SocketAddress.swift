internal import CLibevent
#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 `HOST:PORT`. Hosts are numeric (or `localhost`): the loop never resolves names, because
/// DNS would block it.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`; `localhost` maps to 127.0.0.1.
    public init(parsing text: String) throws(EventLoopError) {
        guard let colon = text.lastIndex(of: ":"),
              let port = UInt16(text[text.index(after: colon)...]) else { throw .invalidAddress(text) }
        var host = String(text[..<colon])
        if host == "localhost" { host = "127.0.0.1" }
        if host.isEmpty { host = "0.0.0.0" }
        var probe = in_addr()
        guard inet_pton(AF_INET, host, &probe) == 1 else { throw .invalidAddress(text) }
        self.host = host
        self.port = port
    }

    public var description: String { "\(host):\(port)" }

    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, Int32) -> R) -> R {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        _ = inet_pton(AF_INET, host, &sin.sin_addr)
        return withUnsafePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, Int32(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// The local address a socket is bound to.
    static func local(of fd: Int32) -> SocketAddress? {
        var sin = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafeMutablePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                getsockname(fd, sa, &len) == 0 ? from(UnsafePointer(sa)) : nil
            }
        }
    }

    static func from(_ sa: UnsafePointer<sockaddr>?) -> SocketAddress? {
        guard let sa, Int32(sa.pointee.sa_family) == AF_INET else { return nil }
        return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
            var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            var addr = sin.pointee.sin_addr
            inet_ntop(AF_INET, &addr, &buf, socklen_t(buf.count))
            let host = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            return SocketAddress(host: host, port: UInt16(bigEndian: sin.pointee.sin_port))
        }
    }
}
