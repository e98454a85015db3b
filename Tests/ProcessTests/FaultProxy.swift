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
        (listener, port) = try LoopbackSocket.listen()
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

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }  // listener closed by stop()
            let now = state.value
            if now.stopped { close(client); return }
            if now.cut { close(client); continue }
            guard let upstream = LoopbackSocket.connect(to: target) else { close(client); continue }
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
