import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Plain blocking TCP sockets on 127.0.0.1 for the tests' proxies.
enum LoopbackSocket {
    /// A listening socket on a free port.
    static func listen() throws -> (fd: Int32, port: UInt16) {
        let port = Harness.freePort()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sin = address(port)
        let ok = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0, Glibc.listen(fd, 64) == 0 else {
            close(fd)
            throw NSError(domain: "proxy", code: 1, userInfo: [NSLocalizedDescriptionKey: "cannot listen on \(port)"])
        }
        return (fd, port)
    }

    /// A connected socket to `port`, or nil when the connect failed.
    static func connect(to port: UInt16) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sin = address(port)
        let ok = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if ok != 0 { close(fd); return nil }
        return fd
    }

    /// Writes all of `bytes` (stops early if the socket fails).
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let w = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if w <= 0 { return }
            off += w
        }
    }

    private static func address(_ port: UInt16) -> sockaddr_in {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        return sin
    }
}
