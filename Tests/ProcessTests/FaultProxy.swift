import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on 127.0.0.1 that a test can cut and heal: while cut it drops every open
/// connection and closes new ones at once, like a network partition that resets connections.
/// Threads copy bytes both ways; `stop` ends everything (tests call it in tearDown).
final class FaultProxy: @unchecked Sendable {
    let port: UInt16
    private let target: UInt16
    private let listener: Int32
    private let state = Locked((cut: false, stopped: false, sockets: Set<Int32>()))

    init(to target: UInt16) throws {
        self.target = target
        port = Harness.freePort()
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sin = Self.loopback(port)
        let ok = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0, listen(listener, 64) == 0 else {
            close(listener)
            throw NSError(domain: "proxy", code: 1, userInfo: [NSLocalizedDescriptionKey: "cannot listen on \(port)"])
        }
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    var address: String { "127.0.0.1:\(port)" }

    /// Partition: drop open connections and refuse new ones until `heal`.
    func cut() {
        state.mutate { s in
            s.cut = true
            for fd in s.sockets { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    func heal() { state.mutate { $0.cut = false } }

    func stop() {
        state.mutate { s in
            s.stopped = true
            for fd in s.sockets { shutdown(fd, Int32(SHUT_RDWR)) }
        }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func loopback(_ port: UInt16) -> sockaddr_in {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        return sin
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }  // listener closed by stop()
            let now = state.value
            if now.stopped { close(client); return }
            if now.cut { close(client); continue }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var sin = Self.loopback(target)
            let ok = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            if ok != 0 { close(client); close(upstream); continue }
            state.mutate { $0.sockets.formUnion([client, upstream]) }
            let done = Locked(0)
            for (from, to) in [(client, upstream), (upstream, client)] {
                Thread.detachNewThread { [self] in
                    pump(from, to)
                    // Both directions finished: close both sockets once.
                    var last = false
                    done.mutate { $0 += 1; last = $0 == 2 }
                    if last {
                        state.mutate { $0.sockets.subtract([client, upstream]) }
                        close(client)
                        close(upstream)
                    }
                }
            }
        }
    }

    private func pump(_ from: Int32, _ to: Int32) {
        var buf = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = buf.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if n <= 0 || state.value.cut { break }
            var off = 0
            while off < n {
                let w = buf.withUnsafeBytes { send(to, $0.baseAddress! + off, n - off, Int32(MSG_NOSIGNAL)) }
                if w <= 0 { break }
                off += w
            }
            if off < n { break }
        }
        shutdown(from, Int32(SHUT_RDWR))
        shutdown(to, Int32(SHUT_RDWR))
    }
}
